"""Every network of the INR methods and its building blocks (methods hold configs, fits and losses, not layers)."""
