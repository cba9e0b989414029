"""Multi-coil cine simulation: phantom x coil sensitivities -> fully sampled k-space + correlated noise.

Conventions
- Coil maps ``(C, ny, nx)`` complex64 with ``sum_c |s_c|^2 = 1`` at every pixel, so combining the
  noise-free coil images with the true maps (``sum_c conj(s_c) x_c``) returns the phantom exactly.
- Noise: complex Gaussian with covariance ``noise_std**2 * noise_covariance`` between coils, where
  ``noise_covariance`` is Hermitian positive definite with mean diagonal 1. ``noise_std`` is the
  complex standard deviation (sqrt E|n|^2) of one k-space sample of an average coil. Because the FFT
  is orthonormal this is also the per-pixel noise std of each coil image.
- SNR: ``snr = mean |truth| over the heart (both ventricles' blood and myocardium, all frames) /
  noise_std``, i.e. the image-domain SNR of the fully sampled, coil-combined image (up to the small
  effect of coil noise correlation on the combination).
- Cartesian k-space: ``(T, C, ny, ro * nx)`` with readout oversampling ``ro`` (default 2), made by
  zero-padding each coil image in x to ``ro * nx`` and applying ``fft2c``; removing the oversampling
  (ifft in x, crop the centre nx, fft) gives back the ``(T, C, ny, nx)`` data of the image.
- Radial k-space: ``(T, C, spokes, ro * n)`` samples on the golden-angle trajectory of
  ``inr_core.sampling.radial_trajectory`` (cycles per FOV of the n x n image), computed with
  torchkbnufft and scaled to agree with ``fft2c`` at grid points.

Realistic mode (``simulate_cine(..., realism=Realism())``, see ``Realism``) changes three things: the
background phase spans a set number of radians across the FOV, the coils are a cardiac array (two rows
of loop coils, anterior and posterior, see ``cardiac_array``) and the noise level is set by the
k-space-centre SNR in dB (``kspace_centre_snr_db``) instead of the image-domain ``snr``; ``snr`` then
reports the image-domain SNR that results. Without ``realism`` the output is unchanged, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from inr_core.fft import fft2c
from inr_core.phantom import cardiac_phantom
from inr_core.sampling import golden_angle_angles, partial_fourier_first_line, radial_trajectory

HEART_LABELS = ("lv_blood", "lv_myo", "lv_papillary", "rv_blood", "rv_myo")

SNR_DB_DEFINITION = (
    "20 log10 of max over coils c of mean_t |k_tc| / sigma_c, where k_tc is the noise-free k-space centre "
    "sample of coil c in frame t as written to the file (Cartesian: line center, sample center_sample of "
    "the 2x oversampled readout; radial: the centre sample of every spoke, averaged too) and sigma_c the "
    "complex noise std sqrt(E|n|^2) of coil c per sample (what the noise scan measures)")


@dataclass(frozen=True)
class Realism:
    """What makes a simulated scan look like a scanner's (the defaults are the realistic preset).

    - ``snr_db``: k-space-centre SNR of the strongest coil, in dB (``SNR_DB_DEFINITION``). 50 dB at
      192x192 with 10 coils is an image-domain SNR of about 33 over the heart (mean |truth| / noise
      std, seed 0); a fixed centre SNR gives a lower image SNR on a larger matrix, as on a scanner.
    - ``background_phase_rad``: how far the smooth (B0 / receiver) image phase varies across the FOV,
      max - min, in radians.
    - ``partial_fourier``: fraction of the phase-encode lines acquired (in [0.5, 1)); the first
      ``ny - round(F ny)`` lines are missing. None: full k-space. Applied when the file is written.
    - ``siemens_acs_flags``: flag the embedded ACS lines the way Siemens scanners do (those on a
      frame's own sampling lattice CALIBRATION_AND_IMAGING, the others CALIBRATION only) instead of
      all CALIBRATION_AND_IMAGING. Applied when the file is written.
    """

    snr_db: float = 50.0
    background_phase_rad: float = 3.0
    partial_fourier: float | None = None
    siemens_acs_flags: bool = True

    def __post_init__(self):
        if not math.isfinite(self.snr_db):
            raise ValueError(f"snr_db must be finite, got {self.snr_db}")
        if not 0 <= self.background_phase_rad <= 4 * math.pi:
            raise ValueError(f"background_phase_rad must be in [0, 4 pi], got {self.background_phase_rad}")
        if self.partial_fourier is not None and not 0.5 <= self.partial_fourier < 1:
            raise ValueError(f"partial_fourier must be in [0.5, 1) or None, got {self.partial_fourier}")

    def first_line(self, ny: int) -> int:
        """First phase-encode line acquired (0 without partial Fourier)."""
        return partial_fourier_first_line(ny, self.partial_fourier)


@dataclass
class SimulatedCine:
    images: torch.Tensor  # (T, ny, nx) complex64, the truth
    coil_maps: torch.Tensor  # (C, ny, nx) complex64, sum_c |s_c|^2 = 1
    kspace: torch.Tensor  # noisy, fully sampled: Cartesian (T, C, ny, ro*nx); radial (T, C, S, ro*n)
    trajectory: str  # "cartesian" or "radial"
    trajectory_k: torch.Tensor | None  # radial: (T, S, ro*n, 2) float32 cycles/FOV; None for Cartesian
    noise: torch.Tensor  # (C, N) complex64 noise-scan samples, same covariance as the data noise
    noise_covariance: np.ndarray  # (C, C) complex128, mean diagonal 1
    noise_std: float
    snr: float
    seed: int
    readout_oversampling: int
    heart_mask: np.ndarray  # (T, ny, nx) bool: where the SNR is measured
    realism: Realism | None = None  # None: the plain simulation
    snr_db: float | None = None  # realistic mode: the k-space-centre SNR the noise was set from

    @property
    def frames(self) -> int:
        return self.images.shape[0]

    @property
    def coils(self) -> int:
        return self.coil_maps.shape[0]

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.images.shape[-2]), int(self.images.shape[-1])


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    """Independent streams for phantom texture, maps, covariance and noise, all from one seed."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(n)]


def coil_sensitivities(coils: int, shape, seed: int = 0) -> torch.Tensor:
    """Loop coils spread around the torso: magnitude falls off like the on-axis field of a loop,
    (1 + d^2/rho^2)^(-3/2) with d the distance to the coil and rho its radius; phase is a random
    offset plus a smooth ramp. Normalised so sum_c |s_c|^2 = 1 everywhere."""
    ny, nx = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    rng = np.random.default_rng(int(seed))
    half = max(ny, nx) / 2
    y = ((np.arange(ny) - ny // 2) / half)[:, None]
    x = ((np.arange(nx) - nx // 2) / half)[None, :]
    angles = 2 * math.pi * (np.arange(coils) + rng.uniform(-0.15, 0.15, coils)) / coils + rng.uniform(0, 2 * math.pi)
    rho = 0.45 if coils <= 8 else 0.45 * math.sqrt(8 / coils)  # more coils -> smaller elements
    # just outside the body outline
    return _unit_norm([_loop_coil(x, y, 0.98 * math.cos(a), 0.05 + 0.78 * math.sin(a), rho, 0.8, rng)
                       for a in angles])


def _loop_coil(x, y, cx, cy, rho: float, ramp_std: float, rng: np.random.Generator) -> np.ndarray:
    """One loop coil at (cx, cy): the on-axis field falloff of a loop of radius rho, a random phase
    offset plus a linear phase ramp of ``ramp_std`` rad per half FOV."""
    mag = (1 + ((x - cx) ** 2 + (y - cy) ** 2) / rho**2) ** -1.5
    ramp = rng.normal(0, ramp_std, 2)
    phase = rng.uniform(0, 2 * math.pi) + ramp[0] * (x - cx) + ramp[1] * (y - cy)
    return mag * np.exp(1j * phase)


def _unit_norm(maps: list[np.ndarray]) -> torch.Tensor:
    """Stacked maps scaled so that sum_c |s_c|^2 = 1 at every pixel."""
    stacked = np.stack(maps)
    stacked /= np.sqrt((np.abs(stacked) ** 2).sum(axis=0, keepdims=True))
    return torch.from_numpy(stacked.astype(np.complex64))


def cardiac_array(coils: int, shape, seed: int = 0) -> torch.Tensor:
    """A cardiac phased array: ``ceil(C/2)`` loop coils in a row on the chest (anterior, top of the
    image) and the rest in a row under the back (posterior, in the table), each row spread left-right
    over the heart with neighbouring elements overlapping. Same loop model and normalisation as
    ``coil_sensitivities``; the coil phase is a random offset plus a ramp of about 2 rad per half FOV.

    Encoding along y (anterior-posterior, the phase-encode direction here) comes from two rows only,
    which is what gives a cardiac array its g-factor. Measured with ``g_factor`` (true maps, no
    prewhitening) at equispaced R=4 along y over the heart, 192x192, mean over seeds 0-3 of the mean /
    max: 8 coils 2.3 / 3.6, 10 coils 2.1 / 3.0 (worst seed max 3.6), 16 coils 1.5 / 2.0
    (docs/simulation.md).
    """
    ny, nx = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    rng = np.random.default_rng(int(seed))
    half = max(ny, nx) / 2
    y = ((np.arange(ny) - ny // 2) / half)[:, None]
    x = ((np.arange(nx) - nx // 2) / half)[None, :]
    anterior = (coils + 1) // 2
    maps = []
    for row_y, n in ((-0.68, anterior), (0.78, coils - anterior)):  # just outside the body outline
        spacing = 1.0 / max(n - 1, 1)
        rho = 0.45 if n == 1 else min(0.35, 1.4 * spacing)  # ~11 cm elements, smaller when many: overlap
        for cx in 0.05 + spacing * (np.arange(n) - (n - 1) / 2):
            cx, cy = cx + rng.uniform(-0.03, 0.03), row_y + rng.uniform(-0.03, 0.03)
            maps.append(_loop_coil(x, y, cx, cy, rho, 2.0, rng))
    return _unit_norm(maps)


def g_factor(maps, acceleration: int, cov: np.ndarray | None = None) -> np.ndarray:
    """SENSE g-factor ``(ny, nx)`` for equispaced undersampling by ``acceleration`` along y (rows):
    g = sqrt(diag((S^H S)^-1) * diag(S^H S)) over each set of ``acceleration`` pixels that alias onto
    each other (rows ny/R apart), with S the coil maps, prewhitened by ``cov`` when given."""
    s: np.ndarray = np.asarray(maps.numpy() if isinstance(maps, torch.Tensor) else maps, dtype=np.complex128)
    c, ny, nx = s.shape
    r = int(acceleration)
    if r < 1 or ny % r:
        raise ValueError(f"acceleration {acceleration} must divide ny={ny}")
    if c < r:
        raise ValueError(f"{c} coils cannot unfold R={r} (the g-factor is infinite)")
    if cov is not None:
        s = np.linalg.solve(np.linalg.cholesky(cov), s.reshape(c, -1)).reshape(c, ny, nx)
    a = s.reshape(c, r, ny // r, nx).transpose(2, 3, 0, 1)  # (ny/R, nx, C, R): one aliasing set per pixel
    gram = a.conj().swapaxes(-1, -2) @ a
    inv = np.linalg.inv(gram)
    g = np.sqrt(np.abs(np.diagonal(inv, axis1=-2, axis2=-1).real * np.diagonal(gram, axis1=-2, axis2=-1).real))
    return g.transpose(2, 0, 1).reshape(ny, nx)


def kspace_centre_snr_db(centre, coil_noise_std) -> float:
    """The k-space-centre SNR in dB of ``SNR_DB_DEFINITION``: ``centre`` the centre samples ``(T, C)``
    (or ``(T, C, S)`` for radial spokes), ``coil_noise_std`` the ``(C,)`` complex noise std per coil.
    Works on simulated (noise-free) samples and on samples read back from a file alike."""
    centre = np.abs(np.asarray(centre))
    mean = centre.reshape(centre.shape[0], centre.shape[1], -1).mean(axis=(0, 2))
    return float(20 * np.log10(np.max(mean / np.asarray(coil_noise_std, dtype=np.float64))))


def noise_covariance(coils: int, seed: int = 0) -> np.ndarray:
    """Receiver noise covariance: Hermitian positive definite, mean diagonal 1, per-coil noise levels
    within about +-20% and correlation coefficients of roughly 0.1-0.3 (typical of a phased array)."""
    rng = np.random.default_rng(int(seed))
    mix = np.eye(coils) + 0.13 * (rng.standard_normal((coils, coils)) + 1j * rng.standard_normal((coils, coils)))
    cov = mix @ mix.conj().T  # PD by construction (mix is almost surely invertible)
    d = np.sqrt(np.real(np.diag(cov)))
    corr = cov / np.outer(d, d)
    level = rng.uniform(0.8, 1.2, coils)
    cov = corr * np.outer(level, level)
    return cov / np.real(np.trace(cov)) * coils


def correlated_noise(cov: np.ndarray, shape_tail: tuple[int, ...], std: float, rng: np.random.Generator) -> np.ndarray:
    """Complex noise ``(C, *shape_tail)`` with covariance ``std**2 * cov`` over the first axis."""
    chol = np.linalg.cholesky(cov)
    n = int(np.prod(shape_tail))
    white = (rng.standard_normal((cov.shape[0], n)) + 1j * rng.standard_normal((cov.shape[0], n))) / math.sqrt(2)
    return (std * (chol @ white)).reshape(cov.shape[0], *shape_tail)


def _cartesian_kspace(coil_images: torch.Tensor, oversampling: int) -> torch.Tensor:
    nx = coil_images.shape[-1]
    pad = (oversampling - 1) * nx
    padded = torch.nn.functional.pad(coil_images, (pad // 2, pad - pad // 2))
    return fft2c(padded)


def radial_kspace(coil_images: torch.Tensor, trajectory_k: torch.Tensor) -> torch.Tensor:
    """Forward NUFFT of ``(T, C, n, n)`` coil images at ``(T, S, N, 2)`` (kx, ky) cycles/FOV ->
    ``(T, C, S, N)``, with the reconstruction's own operator: the data and every method (and every
    k-space loss) share one scaling, that of ``fft2c``."""
    from inr_core.operators import RadialNUFFT

    return RadialNUFFT(trajectory_k, tuple(coil_images.shape[-2:]))(coil_images)


def _centre_samples(clean: torch.Tensor, trajectory: str) -> np.ndarray:
    """The k-space centre samples of ``SNR_DB_DEFINITION``: ``(T, C)`` Cartesian, ``(T, C, S)`` radial."""
    k = clean.numpy()
    if trajectory == "cartesian":
        return k[:, :, k.shape[2] // 2, k.shape[3] // 2]
    return k[..., k.shape[-1] // 2]


def simulate_cine(matrix=128, frames: int = 20, coils: int = 8, snr: float = 30.0, seed: int = 0,
                  trajectory: str = "cartesian", spokes: int = 13, readout_oversampling: int = 2,
                  noise_readouts: int = 32, realism: Realism | None = None, level: float = 0.0,
                  receiver: tuple[np.ndarray, float] | None = None) -> SimulatedCine:
    """Simulate a multi-coil cine with correlated receiver noise (see the module docstring).

    With ``realism`` the noise level comes from ``realism.snr_db`` (``snr`` is ignored and the returned
    ``snr`` is the resulting image-domain SNR), the coils are ``cardiac_array`` and the background
    phase spans ``realism.background_phase_rad``. ``level`` is the slice's place along the heart's
    long axis (``inr_core.phantom.heart_scale``). ``receiver`` = (noise covariance, noise std) imposes
    the receiver noise of another slice of the same scan (``simulate_stack``): the coils' noise is a
    property of the receiver, not of the slice; ``snr``/``snr_db`` then report this slice's figures.
    """
    if trajectory not in ("cartesian", "radial"):
        raise ValueError(f"trajectory must be 'cartesian' or 'radial', got {trajectory!r}")
    if snr <= 0 or coils < 1 or frames < 1 or readout_oversampling < 1:
        raise ValueError("snr must be > 0 and coils, frames, readout_oversampling >= 1")
    r_maps, r_cov, r_noise, r_scan = _rngs(seed, 4)
    span = None if realism is None else realism.background_phase_rad
    images, labels = cardiac_phantom(matrix, frames, seed=seed, return_labels=True, phase_span=span, level=level)
    ny, nx = images.shape[-2:]
    make_maps = coil_sensitivities if realism is None else cardiac_array
    maps = make_maps(coils, (ny, nx), seed=int(r_maps.integers(2**31)))
    cov = noise_covariance(coils, seed=int(r_cov.integers(2**31)))
    if receiver is not None:
        cov = np.asarray(receiver[0], dtype=np.complex128)
    heart = sum(labels[k] for k in HEART_LABELS) > 0.5
    heart_mean = images.abs().numpy()[heart].mean()  # float32, divided as such: the default must not change
    coil_images = images[:, None] * maps[None]

    traj = None
    if trajectory == "cartesian":
        clean = _cartesian_kspace(coil_images, readout_oversampling)
    else:
        if ny != nx:
            raise ValueError(f"radial simulation needs a square matrix, got {(ny, nx)}")
        angles = golden_angle_angles(frames, spokes)
        traj = torch.from_numpy(radial_trajectory(angles, readout_oversampling * nx, readout_oversampling))
        clean = radial_kspace(coil_images, traj)

    if receiver is not None:
        noise_std = float(receiver[1])
        snr = float(heart_mean) / noise_std
        snr_db = None if realism is None else kspace_centre_snr_db(
            _centre_samples(clean, trajectory), noise_std * np.sqrt(np.real(np.diag(cov))))
    elif realism is None:
        noise_std, snr_db = float(heart_mean / snr), None
    else:
        # Centre SNR at noise_std = 1, then scale: the definition is linear in 1 / noise_std.
        unit_db = kspace_centre_snr_db(_centre_samples(clean, trajectory), np.sqrt(np.real(np.diag(cov))))
        noise_std, snr_db = 10 ** ((unit_db - realism.snr_db) / 20), float(realism.snr_db)
        snr = float(heart_mean) / noise_std

    t = clean.shape[0]
    noise = correlated_noise(cov, (t, *clean.shape[2:]), noise_std, r_noise)  # (C, T, ...)
    kspace = clean + torch.from_numpy(np.moveaxis(noise, 0, 1).astype(np.complex64))
    scan = correlated_noise(cov, (noise_readouts * clean.shape[-1],), noise_std, r_scan)
    return SimulatedCine(
        images=images, coil_maps=maps, kspace=kspace.contiguous(), trajectory=trajectory, trajectory_k=traj,
        noise=torch.from_numpy(scan.astype(np.complex64)), noise_covariance=cov, noise_std=noise_std,
        snr=float(snr), seed=int(seed), readout_oversampling=int(readout_oversampling), heart_mask=heart,
        realism=realism, snr_db=snr_db,
    )


def slice_seed(seed: int, index: int) -> int:
    """The seed of slice ``index`` of a stack simulated with ``seed``: slice 0 is the single-slice scan."""
    return int(seed) if index == 0 else int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def slice_level(index: int, slices: int) -> float:
    """Where slice ``index`` of ``slices`` lies along the long axis (-1 base .. 1 apex): from -0.4
    (towards the base) to 0.8 (towards the apex); a single slice is mid-ventricular (level 0), so a
    one-slice stack is the single-slice simulation."""
    if slices == 1:
        return 0.0
    return -0.4 + 1.2 * index / (slices - 1)


def simulate_stack(slices: int, matrix=128, frames: int = 20, coils: int = 8, snr: float = 30.0, seed: int = 0,
                   trajectory: str = "cartesian", spokes: int = 13, realism: Realism | None = None):
    """A short-axis stack, one ``SimulatedCine`` per slice, made lazily (one slice in memory at a time).

    Slice k has its own phantom texture and background phase (``slice_seed``), its own heart size
    (``slice_level``) and its own coil sensitivities (the array sees each slice at another depth);
    all slices share the receiver: slice 0's noise covariance and noise std (its noise scan is the
    stack's). With one slice this yields exactly ``simulate_cine(..., seed=seed)``.
    """
    if slices < 1:
        raise ValueError(f"slices must be at least 1, got {slices}")
    receiver = None
    for k in range(slices):
        sim = simulate_cine(matrix, frames, coils, snr, slice_seed(seed, k), trajectory=trajectory, spokes=spokes,
                            realism=realism, level=slice_level(k, slices), receiver=receiver)
        if receiver is None:
            receiver = (sim.noise_covariance, sim.noise_std)
        yield sim
