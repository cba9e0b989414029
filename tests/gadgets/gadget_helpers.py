"""Helpers for gadget and pipeline tests: tiny ISMRMRD headers and acquisitions built in memory.

``ensure_methods()`` registers a test-only zero-filled method (``test-zero-filled``, Cartesian) so the
gadgets can be exercised independently of the tuning of the built-in methods.
"""

from __future__ import annotations

import ismrmrd
import numpy as np
import torch

TEST_METHOD = "test-zero-filled"


def ensure_methods() -> None:
    """Register the test-only method once (a plain zero-filled SENSE combination)."""
    from inr_core.methods import base

    if TEST_METHOD not in base._REGISTRY:
        from dataclasses import dataclass

        from inr_core.fft import ifft2c

        @dataclass
        class TestConfig:
            scale: float = 1.0

        class TestZeroFilled(base.Method):
            """Zero-filled SENSE combination (test stand-in)."""

            name = TEST_METHOD
            Config = TestConfig
            trajectories = ("cartesian",)
            presets = {"fast": {"scale": 1.0}}

            def reconstruct(self, data, maps, progress):
                progress(0, 1, "adjoint")
                # SENSE combination: maps need not have unit norm (prewhitened data, see gadgets.coil_maps).
                images = (ifft2c(data.kspace) * maps.conj()[None]).sum(1) / maps.abs().pow(2).sum(0).clamp(min=1e-12)
                progress(1, 1, "done")
                return images * self.config.scale


ensure_methods()


def make_header(nx=32, ny=32, oversampling=1, channels=4, phases=1, repetitions=1, trajectory="cartesian",
                center_line=None, slices=1, calibration_mode=None) -> ismrmrd.xsd.ismrmrdHeader:
    x = ismrmrd.xsd
    enc = x.encodingType(
        encodedSpace=x.encodingSpaceType(matrixSize=x.matrixSizeType(x=nx * oversampling, y=ny, z=1),
                                         fieldOfView_mm=x.fieldOfViewMm(x=300.0 * oversampling, y=300.0, z=8.0)),
        reconSpace=x.encodingSpaceType(matrixSize=x.matrixSizeType(x=nx, y=ny, z=1),
                                       fieldOfView_mm=x.fieldOfViewMm(x=300.0, y=300.0, z=8.0)),
        encodingLimits=x.encodingLimitsType(
            kspace_encoding_step_1=x.limitType(minimum=0, maximum=ny - 1,
                                               center=ny // 2 if center_line is None else center_line),
            phase=x.limitType(minimum=0, maximum=phases - 1, center=0),
            repetition=x.limitType(minimum=0, maximum=repetitions - 1, center=0),
            slice=x.limitType(minimum=0, maximum=slices - 1, center=0)),
        trajectory=x.trajectoryType(trajectory),
    )
    if calibration_mode is not None:
        enc.parallelImaging = x.parallelImagingType(
            accelerationFactor=x.accelerationFactorType(kspace_encoding_step_1=2, kspace_encoding_step_2=1),
            calibrationMode=x.calibrationModeType(calibration_mode))
    return x.ismrmrdHeader(
        acquisitionSystemInformation=x.acquisitionSystemInformationType(receiverChannels=channels),
        experimentalConditions=x.experimentalConditionsType(H1resonanceFrequency_Hz=63500000),
        encoding=[enc])


def make_acq(data: np.ndarray, line=0, phase=0, repetition=0, slice=0, average=0, flags=(), traj=None,
             center_sample=None, scan_counter=0, sample_time_us=5.0) -> ismrmrd.Acquisition:
    data = np.ascontiguousarray(data, dtype=np.complex64)
    channels, samples = data.shape
    acq = ismrmrd.Acquisition.from_array(data, None if traj is None else np.ascontiguousarray(traj, np.float32))
    acq.idx.kspace_encode_step_1 = line
    acq.idx.phase = phase
    acq.idx.repetition = repetition
    acq.idx.slice = slice
    acq.idx.average = average
    acq.center_sample = samples // 2 if center_sample is None else center_sample
    acq.scan_counter = scan_counter
    acq.sample_time_us = sample_time_us
    acq.position[:] = (1.0, 2.0, 3.0)
    acq.read_dir[:] = (1.0, 0.0, 0.0)
    acq.phase_dir[:] = (0.0, 1.0, 0.0)
    acq.slice_dir[:] = (0.0, 0.0, 1.0)
    acq.acquisition_time_stamp = 1000 + 10 * phase
    acq.physiology_time_stamp[0] = 40 * phase
    for flag in flags:
        acq.set_flag(flag)
    return acq


def cartesian_cine(images: np.ndarray, maps: np.ndarray, mask: np.ndarray) -> list[ismrmrd.Acquisition]:
    """Acquisitions for (T, ny, nx) images seen through (C, ny, nx) maps, lines where mask (T, ny)."""
    from inr_core.fft import fft2c

    kspace = fft2c(torch.from_numpy(images[:, None] * maps[None])).numpy()
    acqs = []
    frames, ny = mask.shape
    for t in range(frames):
        lines = np.flatnonzero(mask[t])
        for j, line in enumerate(lines):
            flags = [ismrmrd.ACQ_LAST_IN_SLICE] if (t == frames - 1 and j == len(lines) - 1) else []
            acqs.append(make_acq(kspace[t, :, line], line=int(line), phase=t, flags=flags, scan_counter=len(acqs)))
    return acqs


def smooth_maps(channels: int, ny: int, nx: int) -> np.ndarray:
    y, x = np.mgrid[-1:1:ny * 1j, -1:1:nx * 1j]
    maps = []
    for c in range(channels):
        angle = 2 * np.pi * c / channels
        maps.append(np.exp(-((x - np.cos(angle)) ** 2 + (y - np.sin(angle)) ** 2)) * np.exp(1j * angle))
    maps = np.array(maps)
    return (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)


def disc_cine(frames: int, ny: int, nx: int) -> np.ndarray:
    """A bright disc whose radius pulses over the frames, off-centre so orientation is testable."""
    y, x = np.mgrid[:ny, :nx]
    out = []
    for t in range(frames):
        radius = ny / 6 * (1 + 0.2 * np.sin(2 * np.pi * t / max(frames, 1)))
        out.append(((y - ny * 0.35) ** 2 + (x - nx * 0.6) ** 2 < radius ** 2).astype(np.complex64))
    return np.array(out)
