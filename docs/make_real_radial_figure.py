"""Draw ``docs/real_radial_frame.png``: the real MD-CNN radial frame through our radial operator.

Run: ``.venv/bin/python docs/make_real_radial_figure.py [path/to/mdcnn_cardiac_cine_radial_frame_1coil.npy]``
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from inr_core.operators.nufft import RadialNUFFT, radial_density  # noqa: E402
from inr_core.real_radial import load_real_radial_frame  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parents[1] / "shared" / "data" / "mdcnn_cardiac_cine_radial_frame_1coil.npy"


def main(path: Path = DEFAULT) -> Path:
    data = load_real_radial_frame(path)
    op = RadialNUFFT(data.trajectory_k, data.image_shape)
    full = op.adjoint(data.kspace * radial_density(data.trajectory_k)[:, None])[0, 0].abs()
    # The same frame from every 7th spoke (28 spokes), as an undersampled frame would look.
    sub = slice(None, None, 7)
    traj = data.trajectory_k[:, sub]
    op_sub = RadialNUFFT(traj, data.image_shape)
    under = op_sub.adjoint(data.kspace[:, :, sub] * radial_density(traj)[:, None])[0, 0].abs()

    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3))
    for ax, img, title in ((axes[0], full, "196 spokes, density-compensated adjoint"),
                           (axes[1], under, "28 spokes (every 7th)")):
        ax.imshow(img.numpy(), cmap="gray", vmax=float(img.quantile(0.995)))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle("Real short-axis cine frame (MD-CNN radial data), 208 x 208, one coil", fontsize=10)
    out = HERE / "real_radial_frame.png"
    fig.savefig(out, dpi=100, bbox_inches="tight")
    return out


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
