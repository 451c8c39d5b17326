"""The auth server's routes, one module per area."""

from __future__ import annotations

from starlette.routing import BaseRoute

__all__ = ["all_routes"]


def all_routes() -> list[BaseRoute]:
    """Every route of API.md, in one list."""
    from gatepass.server.routes import auth, pages, wellknown

    return [*auth.routes(), *wellknown.routes(), *pages.routes()]
