"""gatepass.transports."""
