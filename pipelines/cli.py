"""The ``gadgetron-inr`` command. Each subcommand lives in its own module, which provides
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when used, so
``gadgetron-inr --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from inr_core.allocator import keep_freed_memory
from pipelines.errors import UserError

COMMANDS = {
    "simulate": ("pipelines.commands.simulate", "write a simulated cardiac cine as an ISMRMRD raw file"),
    "replay": ("pipelines.commands.replay", "replay an ISMRMRD raw file through a reconstruction chain"),
    "evaluate": ("pipelines.commands.evaluate", "score reconstructed images against a reference"),
    "export-dicom": ("pipelines.commands.export_dicom",
                     "write an ISMRMRD image file as DICOM MR images, one per frame and slice"),
    "openrecon-label": ("pipelines.commands.openrecon_label",
                        "print the OpenRecon container label (JSON, or base64 for the image) made from the settings"),
    "methods": ("pipelines.commands.methods", "list reconstruction methods and their options"),
    "bench": ("pipelines.benches.command", "measure quality, speed and memory of the methods"),
    "train": ("pipelines.commands.train", "train a trained method's weights (gen-inr) on simulated or raw data"),
    "emulate": ("pipelines.streaming.emulator",
                "stream a raw file to a Gadgetron server like a scanner, write the images"),
    "serve": ("pipelines.streaming.server",
              "an MRD server for Gadgetron and FIRE clients, running the chains with the embedded host"),
    "worker": ("pipelines.streaming.worker",
               "a warm external node for Gadgetron <connect> nodes, one scan after another"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gadgetron-inr",
        description="INR reconstruction of cardiac cine MRI for Gadgetron and ISMRMRD.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported (argparse needs its arguments).
        if only is None or only == name:
            importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # once per process, before any command: inr_core/allocator.py
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(only=chosen or "")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except UserError as exc:
        print(f"gadgetron-inr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gadgetron-inr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
