"""gen-inr: training reduces the validation loss, resume is exact, weights errors are one clear
ValueError, the model loads once per process, and the shipped weights beat zero-filled on a held-out image."""

import logging

import numpy as np
import pytest
import torch

from inr_core.data import CartesianCine
from inr_core.methods.base import build, get_method
from inr_core.methods.inr.gen_inr.data import SimulatedSource, compression_matrix, prepare
from inr_core.methods.inr.gen_inr.method import SHIPPED_SHA256, SHIPPED_WEIGHTS, load_weights
from inr_core.methods.inr.gen_inr.training import TrainConfig, sha256_of, train
from inr_core.nn.gen_inr_net import GenInrArch

TINY = GenInrArch(virtual_coils=4, widths=(8, 8, 8), features=8, coord_features=8, scale_features=4, hidden=16,
                  prior_iterations=2)


def tiny_config(**kw):
    base = dict(steps=6, batch=2, pixels=256, lr=3e-3, val_samples=2, val_every=1000, checkpoint_every=1000,
                arch=TINY.as_dict())
    base.update(kw)
    return TrainConfig(**base)


def source():
    return SimulatedSource(sizes=(32,), coils=(4, 6))


def tiny_weights(path, steps=2):
    """Weights through the method's ``train`` hook (what ``gadgetron-inr train gen-inr`` calls)."""
    sim = source()
    report = get_method("gen-inr").train(sim, sim.validation(), tiny_config(steps=steps), path, show_progress=False)
    assert report["steps"] == steps and report["output"] == str(path)
    return path


def test_only_trained_methods_have_a_train_hook():
    with pytest.raises(NotImplementedError, match="'da-inr' is not trained ahead of time"):
        get_method("da-inr").train()


def test_training_reduces_the_validation_loss(tmp_path):
    # Held-out phantom seeds; the last layer starts at zero, so step 0 is the prior itself. A tiny
    # network learns slowly: 200 steps buy ~5% (seeded, so the same on every run).
    sim = SimulatedSource(sizes=(32,), coils=(6, 6))
    kw = dict(r_min=2, r_max=2, val_samples=3)
    before = train(sim, sim.validation(), tiny_config(steps=0, **kw), tmp_path / "a.pt", show_progress=False)
    after = train(sim, sim.validation(), tiny_config(steps=200, pixels=1024, **kw), tmp_path / "b.pt",
                  show_progress=False)
    assert after["history"][-1]["val_l1"] < 0.97 * before["history"][-1]["val_l1"]


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    sim = source()
    whole = train(sim, sim.validation(), tiny_config(), tmp_path / "whole.pt", show_progress=False)
    part = train(sim, sim.validation(), tiny_config(), tmp_path / "part.pt", show_progress=False, stop_after=3)
    assert part["steps"] == 3 and part["stopped_by_budget"]
    resumed = train(sim, sim.validation(), tiny_config(), tmp_path / "part.pt", show_progress=False, resume=True)
    assert resumed["steps"] == 6
    a = torch.load(whole["output"], weights_only=True)["state_dict"]
    b = torch.load(resumed["output"], weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_weights_problems_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_weights(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file" * 10)
    with pytest.raises(ValueError, match="cannot be read"):
        load_weights(garbage)
    good = tiny_weights(tmp_path / "good.pt")
    with pytest.raises(ValueError, match="corrupt or replaced"):
        load_weights(good, sha256="0" * 64)
    payload = torch.load(good, weights_only=True)
    payload["arch"]["virtual_coils"] = 6  # the tensors are for 4 virtual coils
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not match"):
        load_weights(tmp_path / "mismatch.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not gen-inr weights"):
        load_weights(tmp_path / "other.pt")
    # A file built for other matrices or more coils refuses the scan instead of returning garbage.
    gen = get_method("gen-inr")
    method = gen(gen.make_config(weights=str(good)))
    mask = torch.ones(1, 96, dtype=torch.bool)
    big = CartesianCine(torch.zeros(1, 4, 96, 96, dtype=torch.complex64), mask)
    with pytest.raises(ValueError, match="trained for matrices 21-43; this slice is 96x96"):
        method(big, torch.ones(4, 96, 96, dtype=torch.complex64))
    few = CartesianCine(torch.zeros(1, 2, 32, 32, dtype=torch.complex64), torch.ones(1, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least 4 coils; this scan has 2"):
        method(few, torch.ones(2, 32, 32, dtype=torch.complex64))


def test_built_once_loads_and_logs_once(tmp_path, caplog):
    weights = str(tiny_weights(tmp_path / "w.pt"))
    gen = get_method("gen-inr")
    with caplog.at_level(logging.INFO, logger="inr_core.methods.inr.gen_inr.method"):
        first = build("gen-inr", gen.make_config(weights=weights), "cpu")
        second = build("gen-inr", gen.make_config(weights=weights), "cpu")
    assert first is second
    assert sum("loaded gen-inr weights" in r.getMessage() for r in caplog.records) == 1


def test_effective_acceleration_and_compression():
    k = torch.randn(2, 3, 32, 32, dtype=torch.complex64)
    mask = torch.zeros(2, 32, dtype=torch.bool)
    mask[0, ::4] = True
    mask[1, ::2] = True
    u = compression_matrix(k, mask, 4)
    assert u.shape == (3, 4) and torch.count_nonzero(u[:, 3]) == 0  # fewer coils: an empty virtual coil
    p = prepare(k, mask, torch.ones(1, 3, 32, 32, dtype=torch.complex64) / 3**0.5, 4, 0)
    assert torch.allclose(p.r, torch.tensor([4.0, 2.0]))  # each frame its own: ny / acquired lines


def test_shipped_weights_are_checked_and_beat_zero_filled_on_a_held_out_image():
    from pipelines.benches.gen_inr import realistic_case, undersampled

    assert sha256_of(SHIPPED_WEIGHTS) == SHIPPED_SHA256
    truth, kspace, cov = realistic_case(seed=11, matrix=128, frames=1, coils=10)  # a seed training never saw
    data, maps, intensity = undersampled(kspace, cov, 5)
    scores = {}
    for name in ("zero-filled", "gen-inr"):
        images = build(name, None, "cpu")(data, maps) * intensity[None]
        err = (images.abs() - truth.abs()).pow(2).mean()
        scores[name] = float(10 * np.log10(float(truth.abs().max()) ** 2 / float(err)))
    assert scores["gen-inr"] > scores["zero-filled"] + 5, scores
