"""``gadgetron-inr openrecon-label``: the OpenRecon container label, generated from the typed settings.

OpenRecon (and other MRD-app hosts) read what a container does from one image label,
``com.siemens-healthineers.magneticresonance.openrecon.metadata:1.1.0``, whose value is the base64
of a JSON document with three parts (``docker/openrecon-label.schema.json`` checks it):

- ``general``: name, version, vendor, description from the installed package's metadata; research
  software, so the regulatory strings say so and nothing more;
- ``reconstruction``: the MRD (ISMRMRD) protocol on ``serve``'s default port, raw data in, images out
  (``compleximage`` when the chain's default output is complex), and the resources of
  :class:`Requirements`;
- ``parameters``: what the scanner's UI shows, sent back at run time as
  ``{"parameters": {id: value}}``. Each id is the chain setting of that name (``EXPOSED``), so no
  translation table sits between the UI and the chain: ``config`` (the packaged chains that run on
  their own), ``method`` (every method in the registry), ``preset`` (``default`` and every method's
  presets), ``device``, ``output`` (the export stage's typed choices), ``preview`` and ``fallback``
  (``none`` or a method). Defaults are those of the packaged chain (its XML properties), else the
  stage's typed defaults.

Nothing here is written out by hand: a new method file, preset or output kind shows up in the label
of the next build. ``docker/build-image.sh`` passes the label to ``podman build --label``.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import typing
from pathlib import Path
from xml.etree import ElementTree

from pipelines.errors import UserError

LABEL_KEY = "com.siemens-healthineers.magneticresonance.openrecon.metadata:1.1.0"
PACKAGE = "gadgetron-inr"
DEFAULT_CHAIN = "cartesian"
DEVICES = ("auto", "cpu", "cuda")  # resolve_device's choices ("cuda" = the first GPU)
# The chain settings the scanner UI shows, with their UI labels. Ids must be letters and digits
# (OpenRecon's rule), so settings with an underscore (time_budget_s, ...) are not offered there.
EXPOSED = {
    "config": "Chain",
    "method": "Reconstruction method",
    "preset": "Preset",
    "device": "Compute device",
    "output": "Image output",
    "preview": "Preview method",
    "fallback": "Fallback method",
}
MAX_PARAMETERS = 14  # OpenRecon's limit


@dataclasses.dataclass(frozen=True)
class Requirements:
    """Host resources the label asks for (``reconstruction.min_*``), each checked where it enters.

    - ``memory_mb`` 4096: the largest measured peak resident set of one chain process is 2811 MB
      (kp-inr ``fast``, 160x160, 16 frames, 10 coils; docs/methods-kp-inr.md), with room for the server;
    - ``gpu_memory_mb`` 0: no GPU is needed (``device=auto`` runs on the CPU without one, and a CUDA
      out-of-memory halves the chunk, then moves to the CPU); GPU memory per method is unmeasured;
    - ``cpu_cores`` 2: every figure in docs/ was measured on two cores.
    """

    memory_mb: int = 4096
    gpu_memory_mb: int = 0
    cpu_cores: int = 2

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            least = 1 if field.name == "cpu_cores" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise UserError(f"{field.name} must be a whole number >= {least}, not {value!r}")


def add_arguments(parser):
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--base64", action="store_true",
                     help="print the label's value (base64 of the JSON) instead of the JSON")
    out.add_argument("--build-label", action="store_true",
                     help="print KEY=VALUE, the argument of `podman build --label` / `docker build --label`")
    parser.add_argument("--chain", default=DEFAULT_CHAIN,
                        help=f"packaged chain whose settings are the UI defaults (default {DEFAULT_CHAIN})")
    parser.add_argument("--min-memory-mb", type=int, default=Requirements.memory_mb,
                        help=f"host memory the container needs, MB (default {Requirements.memory_mb})")
    parser.add_argument("--min-gpu-memory-mb", type=int, default=Requirements.gpu_memory_mb,
                        help="GPU memory the container needs, MB "
                             f"(default {Requirements.gpu_memory_mb}: no GPU needed)")
    parser.add_argument("--cpu-cores", type=int, default=Requirements.cpu_cores,
                        help=f"CPU cores the container needs (default {Requirements.cpu_cores})")


def run(args) -> int:
    requirements = Requirements(args.min_memory_mb, args.min_gpu_memory_mb, args.cpu_cores)
    text = label_json(openrecon_label(args.chain, requirements))
    if args.build_label:
        text = f"{LABEL_KEY}={label_value(text)}"
    elif args.base64:
        text = label_value(text)
    print(text)  # the command's output (docker/build-image.sh reads it)
    return 0


def label_json(label: dict) -> str:
    return json.dumps(label, indent=2, ensure_ascii=False)


def label_value(text: str) -> str:
    """The label's value as OpenRecon reads it: base64 of the JSON text."""
    return base64.b64encode(text.encode()).decode("ascii")


# -- the label -----------------------------------------------------------------------------------
def openrecon_label(chain: str = DEFAULT_CHAIN, requirements: Requirements | None = None) -> dict:
    requirements = requirements or Requirements()
    defaults = chain_defaults(chain)
    parameters = [parameter(name, defaults) for name in EXPOSED]
    if len(parameters) > MAX_PARAMETERS:  # a guard for whoever adds to EXPOSED
        raise UserError(f"{len(parameters)} parameters exceed OpenRecon's {MAX_PARAMETERS}")
    return {"general": general(), "reconstruction": reconstruction(defaults, requirements), "parameters": parameters}


def general() -> dict:
    from importlib import metadata

    try:
        meta = metadata.metadata(PACKAGE)
    except metadata.PackageNotFoundError:
        raise UserError(f"the {PACKAGE} package is not installed (pip install -e .): its version names the label") \
            from None
    version, summary = meta["Version"], meta["Summary"] or PACKAGE
    licence = meta.get("License-Expression") or meta.get("License") or "see LICENSE"
    return {
        "name": {"en": PACKAGE},
        "version": version,
        "vendor": PACKAGE,
        "information": {"en": summary},
        "id": PACKAGE,
        "regulatory_information": {
            "device_trade_name": PACKAGE,
            "production_identifier": version,
            "manufacturer_address": "",
            "made_in": "",
            "manufacture_date": "",
            "material_number": f"{PACKAGE}_{version}",
            "gtin": "",
            "udi": "",
            "safety_advices": "Research software, not a medical device: images are not for diagnostic use.",
            "special_operating_instructions": "Raw data in; ISMRMRD images out, one series per output kind "
                                              "(method, preview, fallback).",
            "additional_relevant_information": f"License: {licence}",
        },
    }


def reconstruction(defaults: dict[str, str], requirements: Requirements) -> dict:
    return {
        "transfer_protocol": {"protocol": "ISMRMRD", "version": "1.4.1"},
        "port": serve_port(),
        "emitter": "raw",
        "injector": "compleximage" if defaults["output"] == "complex" else "image",
        "can_use_gpu": "cuda" in DEVICES,
        # A GPU is used where there is one; none is required unless the chain insists on CUDA.
        "min_count_required_gpus": 1 if defaults["device"].startswith("cuda") else 0,
        "min_required_gpu_memory": requirements.gpu_memory_mb,
        "min_required_memory": requirements.memory_mb,
        "min_count_required_cpu_cores": requirements.cpu_cores,
        "content_qualification_type": "RESEARCH",
    }


def serve_port() -> int:
    """``gadgetron-inr serve``'s default port (also what the images' Gadgetron listens on)."""
    from pipelines.streaming import server

    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    return int(parser.get_default("port"))


def parameter(name: str, defaults: dict[str, str]) -> dict:
    values = choices(name)
    default = defaults[name]
    if default not in values:
        raise UserError(f"chain default {name}={default!r} is not one of its choices ({', '.join(values)})")
    return {"id": name, "label": {"en": EXPOSED[name]}, "type": "choice",
            "values": [{"id": v, "name": {"en": v}} for v in values], "default": default,
            "information": {"en": information(name)}}


def choices(name: str) -> list[str]:
    from inr_core.methods import list_methods

    methods = [m.name for m in list_methods()]
    if name == "config":
        return standalone_chains()
    if name == "method":
        return methods
    if name == "preset":
        return ["default", *sorted({p for m in list_methods() for p in m.presets} - {"default"})]
    if name == "device":
        return list(DEVICES)
    if name == "output":
        return literal_choices(export_config(), "output")
    if name in ("preview", "fallback"):
        return ["none", *methods]
    raise KeyError(name)


def information(name: str) -> str:
    from inr_core.methods import list_methods

    if name == "method":
        return "; ".join(f"{m.name} ({'/'.join(m.trajectories)})" for m in list_methods())
    if name == "preset":
        return "; ".join(f"{m.name}: {', '.join(m.presets)}" for m in list_methods() if m.presets) + \
            "; default: the method's own defaults"
    return {
        "config": "the chain (packaged stream configuration) the server runs",
        "device": "auto: a GPU where there is one, else the CPU",
        "output": "magnitude (float), complex, or ushort (12-bit)",
        "preview": "a fast method whose images come first, as their own series",
        "fallback": "the method that makes the images when the selected one fails or runs out of time",
    }[name]


# -- where the choices and defaults come from ------------------------------------------------------
def export_config() -> type:
    from gadgets.image_export import ImageExport

    return ImageExport.Config


def reconstruction_config() -> type:
    from gadgets.reconstruction import Reconstruction

    return Reconstruction.Config


def literal_choices(config: type, name: str) -> list[str]:
    """The values of a ``Literal[...]`` setting of a typed stage Config."""
    hint = typing.get_type_hints(config)[name]
    if typing.get_origin(hint) is not typing.Literal:
        raise TypeError(f"{config.__qualname__}.{name} is not a Literal setting")
    return [str(v) for v in typing.get_args(hint)]


def typed_default(config: type, name: str) -> str:
    field = {f.name: f for f in dataclasses.fields(config)}[name]
    value = field.default
    return "none" if value is None else str(value)


def chain_file(chain: str) -> Path:
    from pipelines.streaming.host import CONFIG_DIR

    path = CONFIG_DIR / f"{chain}.xml"
    if not path.is_file():
        raise UserError(f"no packaged chain {chain!r} (packaged: {', '.join(standalone_chains())})")
    return path


def standalone_chains() -> list[str]:
    """Packaged chains that run in the server on their own: not those that need another process
    (a ``<connect>`` worker or ``<distributed>`` Gadgetron workers)."""
    from pipelines.streaming.host import CONFIG_DIR

    out = []
    for path in sorted(CONFIG_DIR.glob("*.xml")):
        tags = {element.tag for element in ElementTree.parse(path).getroot().iter()}
        if not tags & {"connect", "distributed"}:
            out.append(path.stem)
    return out


def chain_defaults(chain: str) -> dict[str, str]:
    """The UI's defaults: the chain's own XML properties where it sets them, else the typed defaults."""
    properties = {}
    for prop in ElementTree.parse(chain_file(chain)).getroot().iter("property"):
        if prop.get("name") in EXPOSED:
            properties[prop.get("name")] = prop.get("value", "")
    defaults = {"config": chain}
    for name in EXPOSED:
        if name == "config":
            continue
        config = export_config() if name == "output" else reconstruction_config()
        value = properties.get(name) or typed_default(config, name)
        defaults[name] = "default" if name == "preset" and value == "none" else value
    return defaults
