"""Reconstruction methods: one class per file here (or in a subpackage), found by the registry."""

from inr_core.methods.base import Method, build, get_method, list_methods

__all__ = ["Method", "build", "get_method", "list_methods"]
