"""NoisePrewhitening: noise readouts are consumed, later readouts come out with white, unit noise."""

import ismrmrd
import numpy as np
import pytest
from gadget_helpers import make_acq, make_header

from gadgets.base import GadgetError
from gadgets.noise import WHITENED_MARK, NoisePrewhitening


def correlated(rng, n, channels=4):
    mix = np.array([[1, 0, 0, 0], [0.5, 1, 0, 0], [0.2, 0.3, 2, 0], [0, 0.1, 0.4, 0.5]])[:channels, :channels]
    white = (rng.standard_normal((channels, n)) + 1j * rng.standard_normal((channels, n))) / np.sqrt(2)
    return (mix @ white).astype(np.complex64)


def is_noise(acq):
    return acq.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)


def test_noise_is_consumed_and_data_whitened_to_unit_variance():
    rng = np.random.default_rng(0)
    gadget = NoisePrewhitening({"preserve_scale": "false"}, make_header())
    noise = [make_acq(correlated(rng, 256), flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT]) for _ in range(8)]
    assert all(list(gadget.process(a)) == [] for a in noise)
    out = [a for _ in range(16) for a in gadget.process(make_acq(correlated(rng, 256), line=3))]
    forwarded, out = [a for a in out if is_noise(a)], [a for a in out if not is_noise(a)]
    # The noise readouts come back once, marked, for the cine chain; never as data.
    assert len(forwarded) == 8 and all(a.is_flag_set(WHITENED_MARK) for a in forwarded)
    assert len(out) == 16 and out[0].idx.kspace_encode_step_1 == 3
    samples = np.concatenate([a.data for a in out], axis=1)
    cov = samples @ samples.conj().T / samples.shape[1]
    np.testing.assert_allclose(cov, np.eye(4), atol=0.1)


def test_bandwidth_ratio_scales_the_noise():
    rng = np.random.default_rng(1)
    gadget = NoisePrewhitening({"preserve_scale": "false", "forward_noise": "false"}, make_header())
    # Noise sampled with twice the dwell time has half the variance the imaging readouts will see.
    for _ in range(8):
        gadget.process(make_acq(correlated(rng, 512) / np.sqrt(2), flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT],
                                sample_time_us=10.0))
    out = [a for _ in range(8) for a in gadget.process(make_acq(correlated(rng, 512), sample_time_us=5.0))]
    samples = np.concatenate([a.data for a in out], axis=1)
    assert abs(np.mean(np.abs(samples) ** 2) - 1.0) < 0.1


def test_scale_preserved_for_white_noise_of_any_level():
    rng = np.random.default_rng(3)
    gadget = NoisePrewhitening({"forward_noise": "false"}, make_header())
    for _ in range(64):
        gadget.process(make_acq(0.01 * (rng.standard_normal((4, 256)) + 1j * rng.standard_normal((4, 256))),
                                flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT]))
    data = np.arange(4 * 8).reshape(4, 8).astype(np.complex64)
    (out,) = gadget.process(make_acq(data))
    np.testing.assert_allclose(out.data, data, rtol=0.1, atol=0.3)


def test_without_noise_readouts_data_pass_unchanged():
    gadget = NoisePrewhitening({}, make_header())
    acq = make_acq(np.ones((4, 8)))
    assert list(gadget.process(acq)) == [acq]


def test_channel_mismatch_is_a_gadget_error():
    rng = np.random.default_rng(2)
    gadget = NoisePrewhitening({}, make_header())
    gadget.process(make_acq(correlated(rng, 64), flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT]))
    gadget.process(make_acq(correlated(rng, 64)))
    with pytest.raises(GadgetError, match="coil-count mismatch"):
        list(gadget.process(make_acq(np.ones((2, 64)))))


@pytest.mark.parametrize("preserve_scale", ["true", "false"])
def test_the_cine_buffer_gets_the_w_that_was_applied_computed_once_in_process(preserve_scale, monkeypatch):
    import gadgets.cine_buffer as cine_buffer
    from gadgets.cine_buffer import CineBuffer

    rng = np.random.default_rng(4)
    header = make_header(nx=8, ny=8)
    gadget = NoisePrewhitening({"preserve_scale": preserve_scale}, header)
    for _ in range(4):
        gadget.process(make_acq(correlated(rng, 64), flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT]))
    out = [a for y in range(8) for a in gadget.process(make_acq(correlated(rng, 8), line=y))]
    applied = gadget.whitener
    # In process: the forwarded readouts carry W; the buffer does not compute it again.
    calls = []
    real = cine_buffer.prewhitener_from_readouts
    monkeypatch.setattr(cine_buffer, "prewhitener_from_readouts", lambda *a, **k: calls.append(1) or real(*a, **k))
    (item,) = CineBuffer({}, header).stream(out)
    assert item.whitener is applied and not calls
    # Across a Gadgetron node boundary only the readouts travel: the buffer recomputes the same W,
    # the unit-variance one too (the mark says which).
    copies = [ismrmrd.Acquisition.from_bytes(a.to_bytes()) for a in out]
    (item,) = CineBuffer({}, header).stream(copies)
    assert calls == [1]
    np.testing.assert_array_equal(item.whitener, applied)
