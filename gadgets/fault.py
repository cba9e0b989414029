"""A gadget that fails on purpose, to exercise the error path of a host (Gadgetron, the loopback
server, the warm worker) mid-scan. It passes items on unchanged until ``fail_after`` items have
gone through, then raises; it never runs unless a configuration names it."""

from __future__ import annotations

from dataclasses import dataclass

from gadgets.base import Gadget, GadgetError, NodeConfig


class FailAfter(Gadget):
    @dataclass
    class Config(NodeConfig):
        fail_after: int = 0  # items passed on before the failure

    def configure(self) -> None:
        self.limit = self.config.fail_after
        self.seen = 0

    def process(self, item):
        self.seen += 1
        if self.seen > self.limit:
            raise GadgetError(f"FailAfter: forced failure after {self.limit} items")
        return (item,)
