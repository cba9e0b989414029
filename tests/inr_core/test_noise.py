import numpy as np
import torch

from inr_core.noise import noise_covariance, noise_prewhitener


def _correlated_noise(coils=6, samples=20000, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(coils, coils)) + 1j * rng.normal(size=(coils, coils))
    white = (rng.normal(size=(coils, samples)) + 1j * rng.normal(size=(coils, samples))) / np.sqrt(2)
    return (mix @ white).astype(np.complex64)


def test_whitened_covariance_is_identity():
    noise = _correlated_noise()
    w = noise_prewhitener(noise)
    white = w @ torch.from_numpy(noise)  # whitened = W @ data, as NoisePrewhitening applies it
    cov = noise_covariance(white).numpy()
    assert np.abs(cov - np.eye(cov.shape[0])).max() < 0.05


def test_bandwidth_ratio_and_coil_axis():
    noise = torch.from_numpy(_correlated_noise(coils=4))
    w = noise_prewhitener(noise, bandwidth_ratio=4.0)
    # imaging noise with four times the variance of the noise scan whitens to unit variance
    data = (2 * noise).T.reshape(100, 200, 4)  # coils last
    white = data.to(torch.complex64) @ w.T  # W applied along the last (coil) axis
    cov = noise_covariance(white.reshape(-1, 4).T).numpy()
    assert np.abs(cov - np.eye(4)).max() < 0.05
