"""The README's FastAPI quickstart: one route accepts a Bearer token or a session cookie."""

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI

from gatepass import Authenticator, Principal, load_keyring, open_store
from gatepass.integrations.fastapi import current_principal, install


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Authenticator]]:
    store = open_store("sqlite:///app.db")  # or the auth server's store: shared keys
    keyring = await load_keyring(store, alg="EdDSA")  # created on first start, kept in the store
    auth = Authenticator(store=store, keyring=keyring, allowed_scopes={"write"})
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(auth.run_background)  # revocation feed (checks from memory), key reloads
        yield {"gatepass": auth}
        tasks.cancel_scope.cancel()
    await store.aclose()


app = FastAPI(lifespan=lifespan)
install(app, allowed_origins=["https://app.example"])  # pure-ASGI middleware + error handler


@app.get("/me")  # a Bearer token or a session cookie: one Principal either way
async def me(p: Annotated[Principal, Depends(current_principal())]) -> dict[str, str]:
    return {"user": p.user_id, "via": p.method, "login": p.sid}


@app.post("/orders")  # cookie callers must send X-CSRF-Token; Bearer callers need not
async def order(
    p: Annotated[Principal, Depends(current_principal(scopes=["write"]))],
) -> dict[str, str]:
    return {"ok": p.user_id}
