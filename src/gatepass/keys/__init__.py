"""gatepass.keys."""
