"""The core's HTTP API (``/api/v1``)."""
