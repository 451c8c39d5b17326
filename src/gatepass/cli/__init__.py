"""gatepass.cli."""
