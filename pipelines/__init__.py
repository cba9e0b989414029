"""Stream configurations, the embedded host that runs them, and the command line."""
