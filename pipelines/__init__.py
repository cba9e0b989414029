"""Hosts and commands, in rooms (docs/architecture.md): ``files`` (ISMRMRD, DICOM and preview I/O),
``streaming`` (the stream configurations, the embedded host, the servers), ``commands`` (one module per
subcommand), the command line ``cli`` and the benches."""
