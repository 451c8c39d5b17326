"""Drive an ASGI app's lifespan in-process and hand its state to requests, like uvicorn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import anyio

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[tuple[ASGIApp, dict[str, Any]]]:
    """Run startup; yield an app that copies the lifespan state into each request scope,
    and the state itself; then run shutdown. Fails loudly if either fails."""
    state: dict[str, Any] = {}
    to_app_send, to_app_recv = anyio.create_memory_object_stream[dict[str, Any]](4)
    from_app_send, from_app_recv = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def receive() -> dict[str, Any]:
        return await to_app_recv.receive()

    async def send(message: dict[str, Any]) -> None:
        await from_app_send.send(message)

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}

    async def run() -> None:
        await app(scope, receive, send)

    streams = (to_app_send, to_app_recv, from_app_send, from_app_recv)
    async with contextlib.AsyncExitStack() as stack, anyio.create_task_group() as tg:
        for stream in streams:
            stack.push_async_callback(stream.aclose)
        tg.start_soon(run)
        await to_app_send.send({"type": "lifespan.startup"})
        message = await from_app_recv.receive()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup failed: {message}")

        async def with_state(scope: Scope, receive: Any, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                scope["state"] = dict(state)
            await app(scope, receive, send)

        try:
            yield with_state, state
        finally:
            await to_app_send.send({"type": "lifespan.shutdown"})
            message = await from_app_recv.receive()
            if message["type"] != "lifespan.shutdown.complete":
                raise RuntimeError(f"lifespan shutdown failed: {message}")
