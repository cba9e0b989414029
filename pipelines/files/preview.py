"""A preview figure of a reconstructed cine (matplotlib, Agg backend: no display needed).

Top row: a few frames of the first slice and x-t / y-t profiles through the heart, i.e. through the
pixel with the highest temporal standard deviation (smoothed, searched in the central half of the
image so a flickering edge or a wrap-around artefact does not win). With a reference: the reference
frames and the error maps (|recon - reference| after scaling the recon to the reference by least
squares, since reconstructions and references need not share an intensity scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.files.outputs import atomic_output


def heart_pixel(magnitude: np.ndarray) -> tuple[int, int]:
    """(row, column) of the largest smoothed temporal std inside the central half of (T, ny, nx)."""
    from scipy.ndimage import gaussian_filter

    std = gaussian_filter(magnitude.std(axis=0), sigma=max(1.0, magnitude.shape[-1] / 64))
    ny, nx = std.shape
    central = np.zeros_like(std, dtype=bool)
    central[ny // 4:ny - ny // 4, nx // 4:nx - nx // 4] = True
    row, col = np.unravel_index(np.argmax(np.where(central, std, -np.inf)), std.shape)
    return int(row), int(col)


def scale_to(recon: np.ndarray, reference: np.ndarray) -> np.ndarray:
    denominator = float(np.vdot(recon, recon).real)
    return recon * (np.vdot(recon, reference).real / denominator if denominator > 0 else 1.0)


def write_preview(path, images: np.ndarray, reference: np.ndarray | None = None, title: str = "",
                  frames_shown: int = 4) -> Path:
    """``images`` (slices, frames, ny, nx) or (frames, ny, nx); ``reference`` alike or None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.abs(np.asarray(images))
    images = images[0] if images.ndim == 4 else images
    ref = None
    if reference is not None:
        ref = np.abs(np.asarray(reference))
        ref = ref[0] if ref.ndim == 4 else ref
        if ref.shape != images.shape:
            ref = None  # a reference of another shape cannot be compared pixel by pixel
    frames = images.shape[0]
    shown = sorted(set(np.linspace(0, frames - 1, min(frames_shown, frames)).round().astype(int)))
    row, col = heart_pixel(images)
    rows = 1 if ref is None else 3
    cols = len(shown) + 2
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows), squeeze=False)
    vmax = float(np.percentile(images, 99.5)) or 1.0

    def panel(ax, data, label, **kw):
        ax.imshow(data, cmap=kw.pop("cmap", "gray"), aspect="auto" if kw.pop("profile", False) else "equal", **kw)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])

    for i, t in enumerate(shown):
        panel(axes[0, i], images[t], f"frame {t}", vmin=0, vmax=vmax)
    axes[0, 0].axhline(row, color="y", lw=0.5)
    axes[0, 0].axvline(col, color="c", lw=0.5)
    panel(axes[0, -2], images[:, row, :].T, f"x-t (row {row})", vmin=0, vmax=vmax, profile=True)
    panel(axes[0, -1], images[:, :, col].T, f"y-t (column {col})", vmin=0, vmax=vmax, profile=True)
    if ref is not None:
        scaled = scale_to(images, ref)
        rmax = float(np.percentile(ref, 99.5)) or 1.0
        error = np.abs(scaled - ref)
        for i, t in enumerate(shown):
            panel(axes[1, i], ref[t], f"reference {t}", vmin=0, vmax=rmax)
            panel(axes[2, i], error[t], f"|error| {t} (x5)", vmin=0, vmax=rmax / 5, cmap="inferno")
        panel(axes[1, -2], ref[:, row, :].T, "reference x-t", vmin=0, vmax=rmax, profile=True)
        panel(axes[2, -2], error[:, row, :].T, "|error| x-t (x5)", vmin=0, vmax=rmax / 5, cmap="inferno", profile=True)
        axes[1, -1].axis("off")
        axes[2, -1].axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_output(path, "preview") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)
