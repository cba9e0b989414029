"""``gadgetron-inr bench SUITE``: the benchmarks, one module per suite (``classical`` also holds ``coils``;
``cartesian``, ``radial``, ``streaming``, ``gen_inr``, ``hash_grid``), ``bart`` (BART rows beside ours),
``suite`` (the shape the comparison suites share: methods, runs in fresh processes, comparisons, tables),
``options`` (the one parser, per-suite defaults) and ``command`` (dispatches the suites).

The room above ``commands`` (``docs/architecture.md``): the benches call ``simulate_file`` and the chain."""
