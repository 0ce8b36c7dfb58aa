"""File templates (such as the adapter skeleton written by ``patchflow new-adapter``)."""
