"""The ``musicconnect`` command."""
