"""The ``neutrino`` command: one module per sub-command, imported on demand."""
