"""The embedded host: runs a Gadgetron stream configuration in-process, without Gadgetron.

It reads the same XML files Gadgetron does (``<configuration><version>2</version><stream>...``) and
instantiates each ``<external><execute name="MODULE" target="CLASS" type="python"/>`` node as a
gadget built from its ``<configuration>`` properties and the ISMRMRD header. Readers, writers and
native ``<gadget>`` nodes are Gadgetron's business: writers/readers are ignored, a native gadget or
a ``<connect>`` node is refused. Only modules inside the ``gadgets`` package are imported, so a
configuration file cannot make the host import arbitrary code.

A ``<distributed>`` node (Gadgetron's ``AcquisitionDistributor``: each value of its
``parallel_dimension``, e.g. ``slice``, goes to a worker of its own) runs here as Gadgetron runs it
without workers: one instance of its inner ``<stream>`` per value, in-process (``Distribution``).

Settings are typed and checked where they enter, before any raw data is read: every node's
properties when the configuration is loaded, and every override (``--method``, ``--preset``,
``--device``, ``--set k=v``, a ``--settings`` YAML file, a server's JSON parameters) when it is applied
(:meth:`Pipeline.override`). An override goes to the node(s) whose gadget declares the key (inside the
cine node, ``gadgets.base.Chain.route`` passes it on to its stage); a key every node takes
(``waveforms``) goes to the first node; a key no node declares is one ``UserError`` naming it and
the nearest valid names. ``gadgetron-inr methods --options`` lists them all.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from gadgets.base import NODE_SETTINGS, Chain, Gadget, properties_from_config
from inr_core import settings
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



def default_pipeline(trajectory: str) -> str:
    """The packaged chain for a raw file's trajectory: ``cartesian``, else ``radial``."""
    return "cartesian" if trajectory == "cartesian" else "radial"

@dataclass
class DistributedNode:
    """A ``<distributed>`` node: its inner stream runs once per value of ``dimension`` (an
    ``ismrmrd`` acquisition index, e.g. ``slice``), as Gadgetron's AcquisitionDistributor splits it."""

    dimension: str
    inner: list[Node]

    @property
    def properties(self) -> dict[str, str]:
        return {}

    def gadget_class(self):
        for node in self.inner:
            node.gadget_class()
        return lambda: Distribution(self.dimension, self.inner)


DISTRIBUTED_DIMENSIONS = ("slice", "contrast", "phase", "repetition", "set", "average", "segment")


class Distribution:
    """The in-process stand-in for a ``<distributed>`` node: acquisitions go to the inner chain of
    their ``dimension`` value (built at its first acquisition), everything else to the first chain;
    at the end of the stream the chains are flushed in order of their value."""

    def __init__(self, dimension: str, inner: list[Node]):
        self.dimension, self.inner = dimension, inner
        self.chains: dict[int, list[Gadget]] = {}
        self.progress = None
        self.header = None

    def set_progress(self, progress) -> None:
        self.progress = progress

    def setup(self, properties, header) -> None:
        self.header = header

    def _chain(self, index: int) -> list[Gadget]:
        if index not in self.chains:
            self.chains[index] = Pipeline(self.inner).build(self.header, self.progress)
        return self.chains[index]

    def process(self, item) -> Iterator:
        import ismrmrd

        index = int(getattr(item.idx, self.dimension)) if isinstance(item, ismrmrd.Acquisition) else min(
            self.chains, default=0)
        yield from through(self._chain(index), (item,), 0)

    def flush(self) -> Iterator:
        for index in sorted(self.chains):
            yield from flush_all(self.chains[index])


def through(gadgets, stream: Iterable, start: int) -> Iterator:
    if start == len(gadgets):
        yield from stream
        return
    for item in stream:
        yield from through(gadgets, gadgets[start].process(item), start + 1)


def flush_all(gadgets) -> Iterator:
    """End of stream: flush each node in order; its leftovers still pass the later nodes."""
    for i, gadget in enumerate(gadgets):
        yield from through(gadgets, gadget.flush(), i + 1)


def parse_config(text: str | bytes, where: str = "configuration") -> list[Node | DistributedNode]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise UserError(f"{where}: not valid XML ({exc})") from None
    stream = root.find("stream")
    if root.tag != "configuration" or stream is None:
        raise UserError(f"{where}: expected <configuration> with a <stream> (Gadgetron 4 format, version 2)")
    return _parse_stream(stream, where)


def _parse_distributed(element, where: str) -> DistributedNode:
    distributor = element.find("distributor")
    inner = element.find("stream")
    if distributor is None or inner is None:
        raise UserError(f"{where}: <distributed> needs a <distributor> and an inner <stream>")
    if (distributor.findtext("classname") or "").strip() != "AcquisitionDistributor":
        raise UserError(f"{where}: the embedded host runs <distributed> with an AcquisitionDistributor only")
    dimension = properties_from_config(distributor).get("parallel_dimension", "")
    if dimension not in DISTRIBUTED_DIMENSIONS:
        raise UserError(f"{where}: parallel_dimension {dimension!r} of the AcquisitionDistributor is not one of "
                        f"{', '.join(DISTRIBUTED_DIMENSIONS)}")
    nodes = _parse_stream(inner, where)
    if any(isinstance(n, DistributedNode) for n in nodes):
        raise UserError(f"{where}: a <distributed> node inside another is not supported")
    return DistributedNode(dimension, nodes)


def _parse_stream(stream, where: str) -> list[Node | DistributedNode]:
    nodes = []
    for element in stream:
        if element.tag == "distributed":
            nodes.append(_parse_distributed(element, where))
            continue
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
        # One unconfigured gadget per leaf (cheap: no header, no data): says which settings it takes.
        self.prototypes = [leaf.gadget_class()() for leaf in self.leaves]
        self.check()

    @property
    def leaves(self) -> list[Node]:
        """Every ``<external>`` node, those inside ``<distributed>`` included, in stream order."""
        return [leaf for n in self.nodes for leaf in (n.inner if isinstance(n, DistributedNode) else [n])]

    @classmethod
    def load(cls, name_or_path: str, overrides: Mapping[str, Any] | None = None,
             settings_file: str | Path | None = None) -> Pipeline:
        """A packaged chain or an XML file, with a settings file's values applied, then ``overrides``."""
        path = resolve_config(name_or_path)
        pipeline = cls(parse_config(path.read_bytes(), where=str(path)), name=path.stem)
        if settings_file is not None:
            pipeline.override(load_settings(settings_file), source=f"settings file {str(settings_file)!r}")
        pipeline.override(overrides or {})
        return pipeline

    def check(self) -> None:
        """Every node's properties as its gadget's typed settings: one ``UserError`` for the first bad one."""
        for leaf, gadget in zip(self.leaves, self.prototypes, strict=True):
            try:
                gadget.settings(leaf.properties)
            except ValueError as exc:
                raise UserError(f"pipeline {self.name}: {_one_line(exc)}") from None

    def route(self, values: Mapping[str, Any], source: str | None = None) -> list[dict[str, str]]:
        """``values`` (text, or YAML/JSON values) split per leaf node, as text; a key no node declares
        is an error naming it and the nearest names (``source``: where the values came from)."""
        leaves = self.leaves
        routed: list[dict[str, str]] = [{} for _ in leaves]
        declared = [set(gadget.setting_names({**leaf.properties, **values})) - NODE_SETTINGS
                    for leaf, gadget in zip(leaves, self.prototypes, strict=True)]
        for key, value in values.items():
            name = str(key).strip().replace("-", "_")
            if isinstance(value, (Mapping, set)):
                raise UserError(f"{source or 'pipeline ' + self.name}: setting {name!r} has a section as its value; "
                                "settings are one flat mapping of names to values")
            takers = [0] if name in NODE_SETTINGS else [i for i, names in enumerate(declared) if name in names]
            if not takers:
                known = set(NODE_SETTINGS).union(*declared)
                raise UserError(str(settings.unknown(name, known, source or f"pipeline {self.name}")))
            for i in takers:
                routed[i][name] = settings.to_text(value)
        return routed

    def override(self, overrides: Mapping[str, Any], source: str | None = None) -> list[dict[str, str]]:
        """Apply settings to the nodes that declare them (:meth:`route`), then check every node.

        The one entry point for settings from outside the configuration: ``--set`` pairs
        (:func:`parse_overrides`), a settings file (:func:`load_settings`), a server's JSON parameters
        (text, bool, int or float values). Returns what each leaf node received, as text."""
        if not overrides:
            return [{} for _ in self.leaves]
        routed = self.route(overrides, source)
        for leaf, values in zip(self.leaves, routed, strict=True):
            leaf.properties.update(values)
        try:
            self.check()
        except UserError as exc:
            raise UserError(f"{source}: {exc}" if source else str(exc)) from None
        return routed

    @property
    def properties(self) -> dict[str, str]:
        """All node properties merged (for reporting: method, preset, device)."""
        merged: dict[str, str] = {}
        for node in self.leaves:
            merged.update(node.properties)
        return merged

    def build(self, header, progress=None) -> list[Gadget]:
        gadgets = []
        for node in self.nodes:
            gadget = node.gadget_class()()  # fresh: a gadget holds one scan's state
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

            if any(isinstance(n, DistributedNode) for n in self.nodes):
                raise UserError("a <distributed> chain runs in-process here (its workers are Gadgetron's): "
                                "leave out --external-processes")
            yield from _checked(run_external(self.nodes, header, items), check)
            return
        gadgets = self.build(header, progress)
        yield from _checked(through(gadgets, items, 0), check)
        yield from _checked(flush_all(gadgets), check)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _checked(stream: Iterable, check) -> Iterator:
    if check is None:
        yield from stream
        return
    for item in stream:
        check()
        yield item


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``["key=value", ...]`` (command line ``--set``) -> dict, with a clear error for a bad pair.

    The values stay text; :meth:`Pipeline.override` converts and checks them."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def load_settings(path: str | Path | None) -> dict[str, Any]:
    """A settings file (``--settings FILE.yaml``): one mapping of setting names to values, e.g.
    ``method: llr``, ``iterations: 40``, ``calibration_as_data: false``, ``output: ushort``.

    The names and values are those of ``--set`` (``gadgetron-inr methods --options``), typed by YAML;
    they are checked like ``--set`` when applied. Command-line settings override the file's.
    """
    if path is None:
        return {}
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UserError(f"settings file {str(path)!r} cannot be read: {reason}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"settings file {str(path)!r} is not valid YAML: {_one_line(exc)}") from None
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise UserError(f"settings file {str(path)!r} must be a mapping of setting names to values "
                        f"(e.g. 'method: llr'), not {type(values).__name__}")
    return values
