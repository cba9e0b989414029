"""Regenerate the ``kt-grappa/cartesian`` entry of ``methods_before_objects.npz`` (issue 23).

The k-t GRAPPA kernel solve was changed on purpose (double-precision normal equations, Tikhonov
relative to the calibration matrix's energy), so its stored images were made again from the same
stored inputs; every other entry is copied unchanged. Run from the repository root:

    OMP_NUM_THREADS=1 .venv/bin/python tests/inr_core/data/make_kt_grappa_reference.py

Its answer moves by about 0.05 (measured 0.047) of the comparison's tolerance under a relative 1e-6 perturbation of
the inputs and with 1 vs 2 threads (``test_reference_comparisons_are_stable_to_rounding``), so the
file does not depend on the machine that made it.
"""

from pathlib import Path

import numpy as np
import torch

from inr_core.data import CartesianCine
from inr_core.methods import get_method

PATH = Path(__file__).parent / "methods_before_objects.npz"

stored = dict(np.load(PATH))
data = CartesianCine(kspace=torch.from_numpy(stored["cartesian_kspace"]), mask=torch.from_numpy(stored["mask"]))
cls = get_method("kt-grappa")
images = cls(cls.make_config("fast"))(data, torch.from_numpy(stored["maps"]))
stored["kt-grappa/cartesian"] = images.numpy()
np.savez_compressed(PATH, **stored)
print(f"{PATH}: kt-grappa/cartesian rewritten, {len(stored)} arrays")
