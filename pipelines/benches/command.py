"""``gadgetron-inr bench SUITE``: runs one suite. The options are shared (``pipelines.benches.options``);
each suite lives in its own module of this room and imports only ``suite``, ``options`` and ``bart`` beside
it (this module sits above them all, so the room has no import circle: ``tests/test_layers.py``). It stays
in ``benches/`` rather than ``commands/``: the benches sit above ``commands``, and a command that imported
them would close a circle between the rooms."""

from __future__ import annotations

from pipelines.benches.options import add_arguments, resolve_defaults

__all__ = ["add_arguments", "run"]


def run(args) -> int:
    resolve_defaults(args)
    if args.suite == "coils":  # ESPIRiT maps against the simulation's, see pipelines.benches.classical
        from pipelines.benches.classical import run_coils

        return run_coils(args)
    if args.suite == "streaming":  # latency of emulator -> loopback server, see pipelines.benches.streaming
        from pipelines.benches.streaming import run_streaming

        return run_streaming(args)
    if args.suite == "cartesian":  # the KP-INR paper's Table 1 and Figure 2, see pipelines.benches.cartesian
        from pipelines.benches.cartesian import run_cartesian

        return run_cartesian(args)
    if args.suite == "hash-grid":  # step time of the hash grid options, see pipelines.benches.hash_grid
        from pipelines.benches.hash_grid import run_hash_grid

        return run_hash_grid(args)
    if args.suite == "radial":  # the DA-INR paper's cardiac cine comparison, see pipelines.benches.radial
        from pipelines.benches.radial import run_radial

        return run_radial(args)
    if args.suite == "gen-inr":  # the Generalized INR vs per-frame CG-SENSE, see pipelines.benches.gen_inr
        from pipelines.benches.gen_inr import run_gen_inr

        return run_gen_inr(args)
    from pipelines.benches.classical import run_classical  # the whole chain per method

    return run_classical(args)
