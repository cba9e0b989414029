"""The chains and what runs them: the stream configurations (``configs/*.xml``), the embedded host that
runs them in-process (``host``) or as child processes (``external``), the wire protocol, the scanner
emulator, the loopback server and the warm worker."""
