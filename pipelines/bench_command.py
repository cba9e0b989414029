"""``gadgetron-inr bench SUITE``: runs one suite. The options are shared (``pipelines.bench.add_arguments``);
each suite lives in its own module, which may use the helpers of ``pipelines.bench`` (this module sits
above them all, so the suites and their helpers import no circle: ``tests/test_layers.py``)."""

from __future__ import annotations

from pipelines.bench import add_arguments, resolve_defaults

__all__ = ["add_arguments", "run"]


def run(args) -> int:
    resolve_defaults(args)
    if args.suite == "coils":  # ESPIRiT maps against the simulation's, see pipelines.bench
        from pipelines.bench import run_coils

        return run_coils(args)
    if args.suite == "streaming":  # latency of emulator -> loopback server, see pipelines.bench_streaming
        from pipelines.bench_streaming import run_streaming

        return run_streaming(args)
    if args.suite == "cartesian":  # the KP-INR paper's Table 1 and Figure 2, see pipelines.bench_cartesian
        from pipelines.bench_cartesian import run_cartesian

        return run_cartesian(args)
    if args.suite == "hash-grid":  # step time of the hash grid options, see pipelines.bench_hash_grid
        from pipelines.bench_hash_grid import run_hash_grid

        return run_hash_grid(args)
    if args.suite == "radial":  # the DA-INR paper's cardiac cine comparison, see pipelines.bench_radial
        from pipelines.bench_radial import run_radial

        return run_radial(args)
    if args.suite == "gen-inr":  # the Generalized INR vs per-frame CG-SENSE, see pipelines.bench_gen_inr
        from pipelines.bench_gen_inr import run_gen_inr

        return run_gen_inr(args)
    from pipelines.bench import run_classical  # the whole chain per method, see pipelines.bench

    return run_classical(args)
