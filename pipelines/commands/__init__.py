"""The ``gadgetron-inr`` subcommands, one module each (``add_arguments(parser)``, ``run(args) -> int``),
dispatched by ``pipelines.cli``. ``emulate``, ``serve`` and ``worker`` live in ``pipelines.streaming`` and
``bench`` in ``pipelines.benches.command``; ``simulate.simulate_file`` and ``replay.replay_file`` are also the
library functions the benches call."""
