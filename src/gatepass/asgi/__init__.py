"""gatepass.asgi."""
