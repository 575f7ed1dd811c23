"""The collector's ASGI app: the REST v1 protocol, the read API, and dist/ at /."""

import asyncio
import secrets
from contextlib import asynccontextmanager
from urllib.parse import unquote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from . import metrics, protocol, reading, retention
from .cors import AppCors
from .encoding import GzipRequests
from .limits import BodyLimit, RateLimiter, TooLarge, TooMany
from .settings import Settings
from .static import PrecompressedFiles
from .database import make_engine
from .store import Store


def create_app(settings: Settings) -> FastAPI:
    """The app of one serving process; the schema is migrated already (`serve` does it first)."""
    body_limit = settings.body_limit

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings.database_url)
        app.state.store = Store(engine)
        app.state.signing_key = await app.state.store.setting("token-signing-key", lambda: secrets.token_urlsafe(48))
        retaining = asyncio.create_task(retention.run_forever(engine, settings.retain_days))
        yield
        retaining.cancel()
        await engine.dispose()

    app = FastAPI(title="callstats collector", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.turn = settings.turn()
    app.state.limiter = RateLimiter(settings.rate, settings.burst)
    noted = [Depends(metrics.note_route)]
    app.include_router(protocol.router, dependencies=noted)
    app.include_router(reading.router, dependencies=noted)
    app.add_exception_handler(protocol.ProtocolError, lambda _r, exc: protocol.error_response(exc))
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(TooLarge, lambda _r, _e: JSONResponse(
        {"status": "error", "msg": f"body: larger than {body_limit} bytes"}, status_code=413))
    app.add_exception_handler(TooMany, lambda _r, exc: JSONResponse(
        {"status": "error", "msg": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}))
    app.add_middleware(GzipRequests, limit=body_limit)  # inside BodyLimit: it sees the compressed size
    app.add_middleware(BodyLimit, limit=body_limit)
    app.add_middleware(AppCors, store_of=lambda: app.state.store)
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(EncodedConferenceIDs)
    app.add_api_route("/metrics", metrics.render, methods=["GET"], include_in_schema=False, dependencies=noted)
    if settings.demo_app is not None:  # `python -m collector demo`: the demo page reads its app here
        demo_app = settings.demo_app
        app.add_api_route("/demo/app.json", lambda: demo_app, methods=["GET"], include_in_schema=False)
    if settings.dist is not None and settings.dist.is_dir():
        app.mount("/", PrecompressedFiles(settings.dist), name="dist")
    return app


def from_environment() -> FastAPI:
    """The app of one serving process, built from the settings `serve` put in the environment."""
    return create_app(Settings.from_environment())


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
