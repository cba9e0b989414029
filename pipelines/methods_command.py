"""``gadgetron-inr methods``: what can be reconstructed, and with which options."""

import dataclasses

from inr_core.methods import list_methods


def add_arguments(parser):
    parser.add_argument("--options", action="store_true", help="also list each method's options and defaults")


def run(args) -> int:
    for method in list_methods():
        presets = ", ".join(method.presets) or "-"
        print(f"{method.name:12s} {'/'.join(method.trajectories):17s} presets: {presets:20s} {method.summary()}")
        if args.options:
            for f in dataclasses.fields(method.Config):
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                note = f.metadata.get("default", "")  # e.g. a default that depends on the trajectory
                print(f"    {f.name} = {default!r}" + (f"  ({note})" if note else ""))
    return 0
