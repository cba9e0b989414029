"""Streaming: the wire protocol, the scanner emulator, the loopback server, the warm worker and the
child-process host. ``pipelines.host`` runs the chains; these modules move their items over sockets."""
