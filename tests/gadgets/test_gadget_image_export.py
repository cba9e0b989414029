"""ImageExport: one image per (slice, phase), orientation, header fields and meta attributes."""

import ismrmrd
import numpy as np
import pytest
import torch
from gadget_helpers import disc_cine, make_acq, make_header

from gadgets.image_export import ImageExport
from gadgets.items import CineSlice
from inr_core.data import CartesianCine

NY, NX, T = 12, 16, 3


def make_slice(images, slice_index=1, frame_dimension="phase", header=None):
    frames, ny, nx = images.shape
    data = CartesianCine(torch.zeros(frames, 2, ny, nx, dtype=torch.complex64),
                         torch.ones(frames, ny, dtype=torch.bool))
    heads = [make_acq(np.zeros((2, nx)), phase=t, repetition=5).getHead() for t in range(frames)]
    return CineSlice(data, slice_index, heads, header or make_header(nx=NX, ny=NY), frame_dimension,
                     images=torch.from_numpy(images.astype(np.complex64)), method="cg-sense")


def test_orientation_rows_are_phase_encode_and_columns_readout():
    images = disc_cine(T, NY, NX) * 3.0
    out = list(ImageExport({}, make_header(nx=NX, ny=NY)).process(make_slice(images)))
    assert len(out) == T
    image = ismrmrd.Image.from_bytes(out[1].to_bytes())  # as it crosses the wire
    assert image.matrix_size == (NX, NY, 1)
    assert image.data.shape == (1, 1, NY, NX) and image.data.dtype == np.float32
    np.testing.assert_allclose(image.data[0, 0], np.abs(images[1]))


def test_header_fields_and_meta():
    header = make_header(nx=NX, ny=NY)
    out = list(ImageExport({"image_series_index": "7"}, header).process(make_slice(disc_cine(T, NY, NX))))
    for t, image in enumerate(out):
        assert image.image_series_index == 7
        assert image.image_index == 1 * T + t + 1  # slice 1, 1-based
        assert (image.slice, image.phase, image.repetition) == (1, t, 5)
        assert image.image_type == ismrmrd.IMTYPE_MAGNITUDE
        assert tuple(image.position) == (1.0, 2.0, 3.0)
        assert tuple(image.read_dir) == (1.0, 0.0, 0.0) and tuple(image.phase_dir) == (0.0, 1.0, 0.0)
        assert tuple(image.slice_dir) == (0.0, 0.0, 1.0)
        assert image.acquisition_time_stamp == 1000 + 10 * t and image.physiology_time_stamp[0] == 40 * t
        assert tuple(image.field_of_view) == pytest.approx((300.0, 300.0, 8.0))
        meta = ismrmrd.Meta.deserialize(image.attribute_string)
        assert meta["GADGETRON_DataRole"] == "Image"
        assert "gadgetron-inr cg-sense" in meta["GADGETRON_ImageComment"]
        assert meta["GADGETRON_SeqDescription"] == "_INR_cg-sense"
        assert float(meta["GADGETRON_WindowWidth"]) > 0 and float(meta["GADGETRON_WindowCenter"]) > 0


def test_complex_output_and_repetition_frames():
    images = disc_cine(T, NY, NX) * np.exp(1j * 0.3)
    out = list(ImageExport({"output": "complex"}, make_header(nx=NX, ny=NY)).process(
        make_slice(images, frame_dimension="repetition")))
    assert out[0].data.dtype == np.complex64 and out[0].image_type == ismrmrd.IMTYPE_COMPLEX
    np.testing.assert_allclose(out[2].data[0, 0], images[2], atol=1e-6)
    assert [im.phase for im in out] == [0, 1, 2] and all(im.repetition == 0 for im in out)


def test_images_larger_than_recon_space_are_cropped_centrally():
    images = np.zeros((1, NY + 4, NX), np.complex64)
    images[0, 2:2 + NY] = 1.0
    (image,) = ImageExport({}, make_header(nx=NX, ny=NY)).process(make_slice(images))
    assert image.matrix_size == (NX, NY, 1) and np.all(image.data == 1.0)


def test_phase_oversampled_images_are_cropped_to_the_recon_fov():
    header = make_header(nx=NX, ny=NY)
    enc = header.encoding[0].encodedSpace  # 25% phase oversampling: 15 lines over 375 mm, recon 12 over 300
    enc.matrixSize.y, enc.fieldOfView_mm.y = 15, 375.0
    images = np.zeros((1, 15, NX), np.complex64)
    images[0, 1:13] = 2.0
    images[0, 13] = 5.0  # outside the recon FOV
    (image,) = ImageExport({}, header).process(make_slice(images, header=header))
    assert image.matrix_size == (NX, NY, 1)
    assert np.all(image.data[0, 0] == 2.0)
    assert tuple(image.field_of_view[:2]) == (300.0, 300.0)


def test_a_recon_matrix_finer_than_the_encoding_is_fourier_interpolated_on_the_object_scale():
    header = make_header(nx=NX, ny=NY)
    header.encoding[0].reconSpace.matrixSize.y = 2 * NY  # scanner-side interpolation, same FOV
    y = np.arange(NY)[:, None]
    images = np.broadcast_to(1.0 + 0.5 * np.cos(2 * np.pi * y / NY), (1, NY, NX)).astype(np.complex64)
    (image,) = ImageExport({}, header).process(make_slice(images, header=header))
    assert image.matrix_size == (NX, 2 * NY, 1)
    fine = 1.0 + 0.5 * np.cos(2 * np.pi * np.arange(2 * NY) / (2 * NY))
    np.testing.assert_allclose(image.data[0, 0][:, 3], fine, atol=1e-5)


def test_interpolated_output_keeps_fov_and_interpolates_frame_timing():
    # A method that returns 2x the pixels (same FOV) and 2x the frames (same cycle): what DA-INR's
    # out_scale / out_frames make. Acquired frame t has time stamps 1000 + 10 t and 40 t.
    data = CartesianCine(torch.zeros(T, 2, NY, NX, dtype=torch.complex64), torch.ones(T, NY, dtype=torch.bool))
    heads = [make_acq(np.zeros((2, NX)), phase=t).getHead() for t in range(T)]
    images = np.ones((2 * T, 2 * NY, 2 * NX), np.complex64)
    item = CineSlice(data, 0, heads, make_header(nx=NX, ny=NY), images=torch.from_numpy(images), method="da-inr")
    out = list(ImageExport({}, make_header(nx=NX, ny=NY)).process(item))
    assert len(out) == 2 * T
    for j, image in enumerate(out):
        assert image.matrix_size == (2 * NX, 2 * NY, 1)
        assert tuple(image.field_of_view) == pytest.approx((300.0, 300.0, 8.0))
        assert (image.phase, image.image_index) == (j, j + 1)
        assert image.acquisition_time_stamp == 1000 + 5 * j  # position j * T / 2T = j / 2 frames
        assert image.physiology_time_stamp[0] == 20 * j  # the last one extrapolated by the mean spacing
    assert heads[0].acquisition_time_stamp == 1000  # the readout headers are copied, not changed
