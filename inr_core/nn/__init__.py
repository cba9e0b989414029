"""Neural building blocks for the INR methods: complex layers, encodings, WIRE, the HDR loss."""
