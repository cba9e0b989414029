"""The composed cine node in-process: acquisitions in, images resembling the object out."""

import gadget_helpers as helpers
import ismrmrd
import numpy as np
import pytest
from gadget_helpers import TEST_METHOD, cartesian_cine, disc_cine, make_header, smooth_maps

from gadgets.base import GadgetError
from gadgets.cine_reconstruction import CineReconstruction
from gadgets.coil_maps import CoilMaps
from gadgets.reconstruction import Reconstruction

T, C, N = 4, 4, 32


def acquisitions():
    images = disc_cine(T, N, N)
    return images, cartesian_cine(images, smooth_maps(C, N, N), np.ones((T, N), bool))


@pytest.mark.timeout(120)
def test_fully_sampled_cine_comes_back_as_images():
    truth, acqs = acquisitions()
    node = CineReconstruction({"method": TEST_METHOD, "device": "cpu", "calibration_width": "12"},
                              make_header(nx=N, ny=N, channels=C, phases=T))
    images = list(node.stream(acqs))
    assert len(images) == T and all(isinstance(im, ismrmrd.Image) for im in images)
    for t, image in enumerate(images):
        magnitude = image.data[0, 0]
        corr = np.corrcoef(magnitude.ravel(), np.abs(truth[t]).ravel())[0, 1]
        assert corr > 0.9, f"frame {t}: correlation {corr:.3f}"
        meta = ismrmrd.Meta.deserialize(image.attribute_string)
        assert f"gadgetron-inr {TEST_METHOD}" in meta["GADGETRON_ImageComment"]


def test_unknown_method_and_option_are_clear_errors():
    header = make_header(nx=N, ny=N, channels=C)
    with pytest.raises(GadgetError, match="unknown method"):
        Reconstruction({"method": "no-such-method"}, header)
    with pytest.raises(GadgetError, match="no option"):
        Reconstruction({"method": TEST_METHOD, "bogus": "1"}, header)


def test_the_chain_routes_each_property_to_the_stage_that_declares_it():
    header = make_header(nx=N, ny=N, channels=C)
    node = CineReconstruction({"method": TEST_METHOD, "calibration_width": "8", "output": "complex",
                               "preset": "fast", "scale": "2", "calibration_as_data": "false"}, header)
    buffer, maps, recon, export = node.instances
    assert not buffer.config.calibration_as_data
    assert (maps.config.calibration_width, export.config.output) == (8, "complex")
    assert recon.method_config.scale == 2.0 and recon.method_name == TEST_METHOD
    # Alone, the reconstruction stage takes its own settings and its method's options, nothing else.
    with pytest.raises(GadgetError, match="no option 'calibration_width'"):
        Reconstruction({"method": TEST_METHOD, "calibration_width": "8"}, header)


@pytest.mark.parametrize("key", ["window", "windw", "calibration_widht"])
def test_a_key_no_stage_declares_is_one_error_naming_it_and_the_nearest(key):
    with pytest.raises(GadgetError) as err:
        CineReconstruction({"method": TEST_METHOD, key: "3"}, make_header(nx=N, ny=N, channels=C))
    message = str(err.value)
    assert message.startswith(f"CineReconstruction: no setting {key!r} (nearest: ") and "\n" not in message


def test_coil_maps_have_one_map_per_coil():
    _, acqs = acquisitions()
    node = CineReconstruction({"method": TEST_METHOD}, make_header(nx=N, ny=N, channels=C, phases=T))
    (cine,) = node.instances[0].stream(acqs)
    CoilMaps({"calibration_width": "12"}, node.header).process(cine)
    assert tuple(cine.coil_maps.shape) == (C, N, N)


def test_intensity_correction_is_one_over_the_whitened_gain():
    import torch

    from inr_core.coils import intensity_correction

    rng = np.random.default_rng(0)
    s = smooth_maps(C, 8, 8)
    w = (np.eye(C) + 0.3 * rng.standard_normal((C, C)) + 0.3j * rng.standard_normal((C, C))).astype(np.complex64)
    ws = np.einsum("ij,jyx->iyx", w, s)
    gain = np.sqrt((np.abs(ws) ** 2).sum(0))
    correction = intensity_correction(torch.from_numpy(ws / gain), w).numpy()
    np.testing.assert_allclose(correction, 1 / gain, rtol=1e-4)


@pytest.mark.timeout(120)
def test_prewhitening_keeps_the_image_scale():
    """Strongly unequal, correlated coil noise: with the forwarded noise the chain undoes the
    whitening's spatial weight and the images stay near the unwhitened ones; without it they carry |W s|."""
    from gadgets.noise import NoisePrewhitening

    truth, acqs = acquisitions()
    rng = np.random.default_rng(1)
    mix = np.diag([0.3, 1, 3, 0.6]) + 0.5 * np.tril(rng.standard_normal((C, C)), -1)
    noise = [helpers.make_acq((mix @ (rng.standard_normal((C, 256)) + 1j * rng.standard_normal((C, 256)))) * 0.05,
                              flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT]) for _ in range(16)]
    header = make_header(nx=N, ny=N, channels=C, phases=T)
    props = {"method": TEST_METHOD, "calibration_width": "12"}
    disc = np.abs(truth) > 0.5

    def images(stream):
        return np.array([im.data[0, 0] for im in CineReconstruction(props, header).stream(stream)])

    plain = images(acqs)
    errors = {}
    for forward in ("true", "false"):
        whitened = images(NoisePrewhitening({"forward_noise": forward}, header).stream(noise + acqs))
        errors[forward] = np.linalg.norm((whitened - plain)[disc]) / np.linalg.norm(plain[disc])
        if forward == "true":
            assert whitened[disc].mean() == pytest.approx(plain[disc].mean(), rel=0.1)
    assert errors["true"] < 0.6 * errors["false"]


@pytest.mark.timeout(120)
def test_a_preview_series_goes_out_before_the_method_runs():
    truth, acqs = acquisitions()
    node = CineReconstruction({"method": TEST_METHOD, "preview": "zero-filled", "device": "cpu",
                               "calibration_width": "12", "preview_series_index": "5"},
                              make_header(nx=N, ny=N, channels=C, phases=T))
    stream = node.stream(iter(acqs))
    first = [next(stream) for _ in range(T)]  # the preview, before the method's images are made
    rest = list(stream)
    assert [im.image_series_index for im in first] == [5] * T and [im.image_series_index for im in rest] == [1] * T
    meta = ismrmrd.Meta.deserialize(first[0].attribute_string)
    assert meta["GADGETRON_SeqDescription"] == "_INR_zero-filled_PREVIEW"
    assert meta["GADGETRON_ImageProcessingHistory"] == ["GT", "GADGETRON-INR", "ZERO-FILLED"]
    assert ismrmrd.Meta.deserialize(rest[0].attribute_string)["GADGETRON_Method"] == TEST_METHOD
    np.testing.assert_allclose(first[2].data[0, 0], rest[2].data[0, 0], rtol=1e-3, atol=1e-4)  # both adjoints


@pytest.mark.timeout(120)
def test_ushort_output_is_12_bit_with_its_scale_in_the_meta():
    _, acqs = acquisitions()
    props = {"method": TEST_METHOD, "device": "cpu", "calibration_width": "12", "output": "ushort"}
    floats = list(CineReconstruction({**props, "output": "magnitude"}, make_header(nx=N, ny=N, channels=C,
                                                                                 phases=T)).stream(acqs))
    shorts = list(CineReconstruction(props, make_header(nx=N, ny=N, channels=C, phases=T)).stream(acqs))
    image = shorts[1]
    assert image.data_type == ismrmrd.DATATYPE_USHORT and image.data.dtype == np.uint16
    assert image.data.max() <= 4095
    ratio = float(ismrmrd.Meta.deserialize(image.attribute_string)["GADGETRON_ScaleRatio"])
    np.testing.assert_allclose(image.data[0, 0] / ratio, np.minimum(floats[1].data[0, 0], 4095 / ratio), atol=1 / ratio)
