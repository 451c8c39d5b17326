"""An API service that trusts gatepass tokens: JWKS from the auth server, revocations
from the shared store's feed. Run next to `gatepass serve`:

    GATEPASS_URL=https://auth.example GATEPASS_STORE=redis://127.0.0.1:6379/0 \\
        uvicorn examples.api_service:app --port 9000
"""

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Header, HTTPException, Request

from gatepass import GatepassError, Principal, open_store
from gatepass.keys.remote import RemoteJWKS
from gatepass.revocation import RevocationFeed, RevocationSet, Revoker
from gatepass.tokens.verifier import TokenVerifier

AUTH_URL = os.environ.get("GATEPASS_URL", "http://127.0.0.1:8000")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    store = open_store(os.environ.get("GATEPASS_STORE", "sqlite:///gatepass.db"))
    feed = RevocationFeed(store, RevocationSet())
    app.state.verifier = TokenVerifier(
        RemoteJWKS(f"{AUTH_URL}/.well-known/jwks.json"),
        issuer=os.environ.get("GATEPASS_ISSUER", AUTH_URL),
        audience=os.environ.get("GATEPASS_AUDIENCE", "gatepass"),
        revoker=Revoker(store, feed=feed),
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)  # revocations reach this service within milliseconds
        yield
        tg.cancel_scope.cancel()
    await store.aclose()


app = FastAPI(lifespan=lifespan)


async def principal(request: Request, authorization: Annotated[str, Header()] = "") -> Principal:
    verifier: TokenVerifier = request.app.state.verifier
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
    try:
        return await verifier.verify(token)
    except GatepassError as exc:
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        raise HTTPException(401, exc.code, challenge) from exc


@app.get("/orders")
async def orders(user: Annotated[Principal, Depends(principal)]) -> dict[str, object]:
    return {"user": user.user_id, "orders": []}
