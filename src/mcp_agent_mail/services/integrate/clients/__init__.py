"""One module per coding agent, each defining ``CLIENT`` (see :mod:`.base`)."""
