"""The scan-specific and trained INR methods, on one fitting loop (``fit``)."""
