"""Thin adapters between ISMRMRD items and ``inr_core``.

Every gadget is both an in-process stage (``process(item)`` / ``flush()``) and a Gadgetron external
target (``Gadget.handle(connection)``). Gadgets log to stderr and never write to stdout: Gadgetron
shares stdout with its children and ``--from_stream`` mode carries the data stream on it.
"""

from gadgets.base import Chain, Gadget, GadgetError

__all__ = ["Chain", "Gadget", "GadgetError"]
