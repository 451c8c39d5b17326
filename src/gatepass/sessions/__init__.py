"""The session column: server-side sessions found by the hash of a random id."""

from gatepass.sessions.manager import IssuedSession as IssuedSession
from gatepass.sessions.manager import SessionManager as SessionManager
from gatepass.sessions.strategy import SessionStrategy as SessionStrategy

__all__ = ["IssuedSession", "SessionManager", "SessionStrategy"]
