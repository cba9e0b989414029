"""Checks of acquisitions shared by the hosts that receive them as a stream (the loopback server, the
connect-mode worker). ``pipelines.files.ismrmrd_io`` applies the same rule to a file's rows (it also
checks the stored sizes against the header, which a deserialised stream item cannot get wrong)."""

from __future__ import annotations

import numpy as np

from pipelines.errors import UserError


def check_acquisition(acq, index: int, where: str = "stream") -> None:
    """Refuse NaN/Inf samples and a non-finite trajectory, as ``replay`` refuses them in a file."""
    if not np.isfinite(acq.data).all():
        raise UserError(f"{where}: acquisition {index} contains NaN or Inf values")
    if acq.trajectory_dimensions and not np.isfinite(acq.traj).all():
        raise UserError(f"{where}: acquisition {index} has a missing or non-finite trajectory")
