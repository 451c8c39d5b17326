"""gatepass.stores."""
