"""Reconstruction methods. Importing this package registers every built-in method."""

# Each module registers itself on import.
from inr_core.methods import cg_sense, grasp, l_plus_s, llr, zero_filled  # noqa: E402,F401,I001
from inr_core.methods import kp_inr, kt_grappa, p_inr  # noqa: E402,F401,I001
from inr_core.methods.base import MethodSpec, get_method, list_methods, register

__all__ = ["MethodSpec", "get_method", "list_methods", "register"]
