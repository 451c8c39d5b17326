"""ServerContext: what every route of the auth server needs, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass

from gatepass.authenticator import Authenticator
from gatepass.config import CookieSettings
from gatepass.server.settings import ServerSettings
from gatepass.stores.base import Store
from gatepass.throttle import LoginThrottle
from gatepass.transports.cookie import CookieTransport
from gatepass.transports.csrf import CSRFPolicy

__all__ = ["ServerContext"]


@dataclass(slots=True)
class ServerContext:
    """The composition root's products, shared by the routes (``app.state.gatepass``)."""

    settings: ServerSettings
    store: Store
    authenticator: Authenticator
    cookies: CookieSettings
    cookie_transport: CookieTransport
    csrf: CSRFPolicy
    throttle: LoginThrottle
