"""The collector's ASGI app: the REST v1 protocol, the read API, and dist/ at /."""

import os
import secrets
from urllib.parse import unquote
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from . import auth, protocol, reading
from .cors import AppCors
from .encoding import GzipRequests
from .limits import BodyLimit, RateLimiter, TooLarge, TooMany
from .static import PrecompressedFiles
from .store import Store, make_engine, migrate
from .turn import Turn

BODY_LIMIT = 1 << 20  # 1 MiB: a stats sample of a large call is ~100 KB


def create_app(database_url: str, dist: Optional[Path] = None, rate: float = 50.0, burst: float = 200.0,
               body_limit: int = BODY_LIMIT, run_migrations: bool = True,
               submission_interval: int = 15000, token_lifetime: int = auth.TOKEN_LIFETIME_S,
               demo_app: Optional[dict] = None, turn: Optional[Turn] = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(database_url)
        if run_migrations:
            await migrate(engine)
        app.state.store = Store(engine)
        app.state.signing_key = await app.state.store.setting("token-signing-key", lambda: secrets.token_urlsafe(48))
        yield
        await engine.dispose()

    app = FastAPI(title="callstats collector", version="0.1.0", lifespan=lifespan)
    app.state.body_limit = body_limit
    app.state.submission_interval = submission_interval
    app.state.token_lifetime = token_lifetime
    app.state.turn = turn
    app.state.limiter = RateLimiter(rate, burst)
    app.include_router(protocol.router)
    app.include_router(reading.router)
    app.add_exception_handler(protocol.ProtocolError, lambda _r, exc: protocol.error_response(exc))
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(TooLarge, lambda _r, _e: JSONResponse(
        {"status": "error", "msg": f"body: larger than {body_limit} bytes"}, status_code=413))
    app.add_exception_handler(TooMany, lambda _r, exc: JSONResponse(
        {"status": "error", "msg": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}))
    app.add_middleware(GzipRequests, limit=body_limit)  # inside BodyLimit: it sees the compressed size
    app.add_middleware(BodyLimit, limit=body_limit)
    app.add_middleware(AppCors, store_of=lambda: app.state.store)
    app.add_middleware(EncodedConferenceIDs)
    if demo_app is not None:  # `python -m collector demo`: the demo page reads its app here
        app.add_api_route("/demo/app.json", lambda: demo_app, methods=["GET"], include_in_schema=False)
    if dist is not None and dist.is_dir():
        app.mount("/", PrecompressedFiles(dist), name="dist")
    return app


def from_environment() -> FastAPI:
    """The app of one worker among several (`serve --workers N`): the parent process migrated the
    schema and passes its settings in the environment."""
    env = os.environ
    dist = Path(env["COLLECTOR_DIST"]) if env.get("COLLECTOR_DIST") else None
    turn = Turn(env["COLLECTOR_TURN_URL"], env["COLLECTOR_TURN_SECRET"]) if env.get("COLLECTOR_TURN_URL") else None
    return create_app(env["COLLECTOR_DATABASE_URL"], dist=dist, rate=float(env["COLLECTOR_RATE"]),
                      burst=float(env["COLLECTOR_BURST"]), run_migrations=False,
                      submission_interval=int(env["COLLECTOR_SUBMISSION_INTERVAL"]),
                      token_lifetime=int(env["COLLECTOR_TOKEN_LIFETIME"]), turn=turn)


async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    return JSONResponse({"status": "error", "msg": f"{where}: {first['msg']}"}, status_code=400)


class EncodedConferenceIDs:
    """Conference ids are URL-encoded in paths and may contain '/' (e.g. 'domain/tenant/room').
    The server decodes %2F before routing, so route on the raw path, with the conference segment
    left encoded (handlers unquote it once)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and raw.startswith(b"/v1/apps/"):
            segments = raw.split(b"?", 1)[0].decode("latin-1").split("/")
            scope = {**scope, "path": "/".join(s if i == 5 else unquote(s) for i, s in enumerate(segments))}
        await self.app(scope, receive, send)
