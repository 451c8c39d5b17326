"""gatepass: JWT and session authentication behind one API."""

__version__ = "0.1.0"
