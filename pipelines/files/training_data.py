"""Fully sampled raw files as gen-inr training data (``gadgetron-inr train gen-inr --raw FOLDER``).

Each file goes through the chain's own front end (``gadgets.front_end``: prewhitening, oversampling
removal, cine buffer), so the network trains on k-space as the methods receive it; the coil maps are
ESPIRiT's of each slice, as at inference.
"""

from __future__ import annotations

from pathlib import Path

import torch

from inr_core.methods.inr.gen_inr.data import RawSource


def load_raw_folder(folder: str | Path) -> RawSource:
    """Every ``*.h5`` raw file under ``folder``, through the chain's front end; each must be fully sampled."""
    from gadgets.front_end import cine_slices
    from inr_core.coils import estimate_coil_maps
    from pipelines.files.ismrmrd_io import open_raw

    paths = sorted(Path(folder).rglob("*.h5"))
    if not paths:
        raise ValueError(f"{str(folder)!r}: no ISMRMRD raw files (*.h5) to train on")
    frames, maps, files = [], [], []
    for path in paths:
        raw = open_raw(path)
        if raw.trajectory != "cartesian":
            raise ValueError(f"{str(path)!r}: gen-inr trains on Cartesian data, this file is {raw.trajectory}")
        for item in cine_slices(raw.header, raw.acquisitions(), coil_maps=False):
            data = item.data
            missing = int((~data.mask.bool()).sum())
            if missing:
                raise ValueError(f"{str(path)!r}: not fully sampled ({missing} of {data.mask.numel()} frame lines "
                                 f"missing); training needs fully sampled k-space")
            slice_maps = estimate_coil_maps(data).to(torch.complex64)
            for t in range(data.frames):
                frames.append(data.kspace[t].to(torch.complex64))
                maps.append(slice_maps)
                files.append(str(path))
    return RawSource(frames, maps, files)
