"""The embedded host: runs a Gadgetron stream configuration in-process, without Gadgetron.

It reads the same XML files Gadgetron does (``<configuration><version>2</version><stream>...``) and
instantiates each ``<external><execute name="MODULE" target="CLASS" type="python"/>`` node as a
gadget built from its ``<configuration>`` properties and the ISMRMRD header. Readers, writers and
native ``<gadget>`` nodes are Gadgetron's business: writers/readers are ignored, a native gadget or
a ``<connect>`` node is refused. Only modules inside the ``gadgets`` package are imported, so a
configuration file cannot make the host import arbitrary code.

Overrides (``--method``, ``--preset``, ``--device``, ``--set k=v``) go to the node(s) that declare
a ``method`` property (the reconstruction node), or to the last node when none does.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from gadgets.base import Chain, Gadget, properties_from_config
from pipelines.errors import UserError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "configs"
ALLOWED_PACKAGE = "gadgets"


@dataclass
class Node:
    module: str
    target: str
    properties: dict[str, str] = field(default_factory=dict)

    def gadget_class(self) -> type[Gadget]:
        if self.module != ALLOWED_PACKAGE and not self.module.startswith(ALLOWED_PACKAGE + "."):
            raise UserError(f"external node module {self.module!r} is not inside the {ALLOWED_PACKAGE!r} package: "
                            "the embedded host only runs the project's gadgets")
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise UserError(f"cannot import gadget module {self.module!r}: {exc}") from None
        cls = getattr(module, self.target, None)
        if not (inspect.isclass(cls) and issubclass(cls, Gadget)):
            raise UserError(f"{self.module}.{self.target} is not a gadget class")
        if cls in (Gadget, Chain):  # the bases pass items through unchanged: no node of a chain
            raise UserError(f"{self.module}.{self.target} is a base class, not a gadget: name one of the "
                            f"project's gadgets (e.g. gadgets.cine_reconstruction.CineReconstruction)")
        return cls


def resolve_config(name_or_path: str) -> Path:
    """``cartesian`` -> the packaged ``configs/cartesian.xml``; anything with a suffix is a file."""
    path = Path(name_or_path)
    if path.suffix.lower() != ".xml":
        path = CONFIG_DIR / f"{name_or_path}.xml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.xml")))
            raise UserError(f"unknown pipeline {name_or_path!r} (known: {known}, or a path to an .xml file)")
    if not path.is_file():
        raise UserError(f"pipeline file {str(path)!r} does not exist")
    return path


def parse_config(text: str | bytes, where: str = "configuration") -> list[Node]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise UserError(f"{where}: not valid XML ({exc})") from None
    stream = root.find("stream")
    if root.tag != "configuration" or stream is None:
        raise UserError(f"{where}: expected <configuration> with a <stream> (Gadgetron 4 format, version 2)")
    nodes = []
    for element in stream:
        if element.tag != "external":
            raise UserError(f"{where}: <{element.tag}> nodes need Gadgetron; the embedded host runs <external> only")
        execute = element.find("execute")
        if execute is None:
            raise UserError(f"{where}: only <external><execute .../> nodes can run in-process (found <connect>?)")
        if (execute.get("type") or "python") != "python":
            raise UserError(f"{where}: external node type {execute.get('type')!r} is not python")
        module, target = execute.get("name"), execute.get("target")
        if not module or not target:
            raise UserError(f"{where}: <execute> needs name= (module) and target= (class)")
        nodes.append(Node(module, target, properties_from_config(element.find("configuration"))))
    if not nodes:
        raise UserError(f"{where}: the stream has no nodes")
    return nodes


class Pipeline:
    def __init__(self, nodes: list[Node], name: str = "pipeline"):
        self.nodes = nodes
        self.name = name
        for node in nodes:
            node.gadget_class()  # refuse a bad module before any data is read

    @classmethod
    def load(cls, name_or_path: str, overrides: dict[str, str] | None = None) -> Pipeline:
        path = resolve_config(name_or_path)
        pipeline = cls(parse_config(path.read_bytes(), where=str(path)), name=path.stem)
        pipeline.override(overrides or {})
        return pipeline

    def override(self, overrides: dict[str, str]) -> None:
        if not overrides:
            return
        targets = [n for n in self.nodes if "method" in n.properties] or [self.nodes[-1]]
        for node in targets:
            node.properties.update(overrides)

    @property
    def properties(self) -> dict[str, str]:
        """All node properties merged (for reporting: method, preset, device)."""
        merged: dict[str, str] = {}
        for node in self.nodes:
            merged.update(node.properties)
        return merged

    def build(self, header, progress=None) -> list[Gadget]:
        gadgets = []
        for node in self.nodes:
            gadget = node.gadget_class()()
            gadget.set_progress(progress)
            gadget.setup(dict(node.properties), header)
            gadgets.append(gadget)
        return gadgets

    def run(self, header, items: Iterable, progress=None, external: bool = False, check=None) -> Iterator:
        """Feed the header and the items (acquisitions) in; yield what the last node sends out.

        ``external=True`` runs each node as Gadgetron would, a ``python -m gadgetron`` child process
        over a loopback socket (``pipelines.streaming.external``); progress is then not reported.

        ``check`` (the cancellation hook): a callable run between items, between outputs and on every
        progress report of a long step; it raises to stop the scan (a server whose client has gone)."""
        if check is not None:
            items = _checked(items, check)
            if progress is None:
                progress = lambda done, total, message="": check()  # noqa: E731
            else:
                outer = progress

                def progress(done, total, message=""):
                    check()
                    outer(done, total, message)
        if external:
            from pipelines.streaming.external import run_external

            yield from _checked(run_external(self.nodes, header, items), check)
            return
        gadgets = self.build(header, progress)

        def through(stream: Iterable, start: int) -> Iterator:
            if start == len(gadgets):
                yield from stream
                return
            for item in stream:
                yield from through(gadgets[start].process(item), start + 1)

        yield from _checked(through(items, 0), check)
        # End of stream: flush each node in order; its leftovers still pass the later nodes.
        for i, gadget in enumerate(gadgets):
            yield from _checked(through(gadget.flush(), i + 1), check)


def _checked(stream: Iterable, check) -> Iterator:
    if check is None:
        yield from stream
        return
    for item in stream:
        check()
        yield item


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``["key=value", ...]`` (command line ``--set``) -> dict, with a clear error for a bad pair."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out
