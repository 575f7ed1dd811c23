"""The ingest side of SPEC part 2: /authenticate, /clockSync, /generics, configurations, the
conference join, every event kind, stats, customstats and batches.

Every body is validated with the pydantic models of callwire.messages (the client's bodies are
tested against the same models). Answers: 200 {status: "success"}; 400 naming the field; 401 bad or expired token;
403 another app's data or a refused origin; 404 an unknown ucID; 413 too large; 429 too many.
"""

import json
import time
from typing import Annotated, Any, Optional
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from callwire import messages

from . import auth
from .limits import read_body

router = APIRouter()
OK = {"status": "success"}


class ProtocolError(Exception):
    def __init__(self, status: int, msg: str, headers: Optional[dict] = None):
        super().__init__(msg)
        self.status, self.msg, self.headers = status, msg, headers or {}


def error_response(exc: ProtocolError) -> JSONResponse:
    return JSONResponse({"status": "error", "msg": exc.msg}, status_code=exc.status, headers=exc.headers)


def describe_validation(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


async def parse(request: Request, model: type, limit: int) -> tuple[Any, dict]:
    raw = await read_body(request, limit)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(400, "body: not JSON")
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        raise ProtocolError(400, describe_validation(exc))


async def authorized_app(request: Request, appID: int,
                         authorization: Annotated[Optional[str], Header()] = None) -> dict:
    """The app of a Bearer request: token valid, for this app (the path's), from an allowed origin."""
    state = request.app.state
    try:
        claims = auth.verify_access(authorization, state.signing_key)
    except auth.AuthError as exc:
        raise ProtocolError(401, exc.description)
    if str(claims.get("appID")) != str(appID):
        raise ProtocolError(403, "this token is for another app")
    app = await state.store.app(appID)
    if app is None:
        raise ProtocolError(403, "unknown app")
    check_origin(request, app)
    state.limiter.take(authorization)
    return app


IngestingApp = Annotated[dict, Depends(authorized_app)]  # a handler's app, once its token is checked


def refused_origin(request: Request, app: dict) -> Optional[str]:
    """Why the request's Origin may not use this app (None: it may)."""
    origin = request.headers.get("origin")
    if origin and app["origins"] and origin not in app["origins"]:
        return f"origin {origin} is not allowed for this app"
    return None


def check_origin(request: Request, app: dict) -> None:
    refusal = refused_origin(request, app)
    if refusal:
        raise ProtocolError(403, refusal)


# ---- no token needed ----


@router.post("/authenticate")
async def authenticate(
    request: Request,
    grant_type: Annotated[str, Form(max_length=64)],
    client_id: Annotated[str, Form(max_length=1024)],
    code: Annotated[str, Form(max_length=16384)],
):
    state = request.app.state
    try:
        if grant_type != "authorization_code":
            raise auth.AuthError(400, "unsupported_grant_type", "grant_type must be authorization_code")
        user_id, app_id = auth.split_client_id(client_id)
        app = await state.store.app(app_id)
        if app is None:
            raise auth.AuthError(401, "invalid_client", f"unknown AppID {app_id}")
        refusal = refused_origin(request, app)
        if refusal:
            raise auth.AuthError(403, "invalid_client", refusal)
        await auth.verify_code(state.store, app, user_id, code)
    except auth.AuthError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return auth.issue(app_id, user_id, state.signing_key, submission_interval_ms=state.settings.submission_interval,
                      lifetime_s=state.settings.token_lifetime, turn=state.turn)


@router.get("/clockSync")
async def clock_sync():
    return {"now": time.time() * 1000}


@router.post("/generics")
async def generics(request: Request):
    body, _ = await parse(request, messages.GenericsBody, request.app.state.settings.body_limit)
    return OK


@router.post("/{appID}/configurations")
async def configurations(request: Request, appID: int, app: IngestingApp):
    await read_body(request, request.app.state.settings.body_limit)
    return OK


# ---- the conference ----


@router.post("/v1/apps/{appID}/conferences/{confID}")
async def join(request: Request, confID: str, body: messages.JoinBody, app: IngestingApp):
    uc_id = await request.app.state.store.writes.join(app["app_id"], unquote(confID), await request.json())
    return {"status": "success", "ucID": uc_id}


async def member_of(request: Request, app: dict, conf_id: str, uc_id: str) -> dict:
    member = await request.app.state.store.writes.member(uc_id)
    if member is None:
        raise ProtocolError(404, f"unknown ucID {uc_id}")
    if member["app_id"] != app["app_id"] or member["conference_id"] != conf_id:
        raise ProtocolError(403, "this ucID belongs to another app or conference")
    return member


async def ingest(request: Request, app: dict, conf_id: str, uc_id: str, items: list[tuple[str, dict]]) -> dict:
    conf_id = unquote(conf_id)
    await member_of(request, app, conf_id, uc_id)
    await request.app.state.store.writes.add_items(app["app_id"], conf_id, uc_id, items)
    return OK


def add_kind_route(path: str, model: type) -> None:
    """One route per kind, so that OpenAPI documents (and schemathesis fuzzes) each body."""

    async def handler(request: Request, confID: str, ucID: str, body: model, app: IngestingApp):  # type: ignore
        return await ingest(request, app, confID, ucID, [(path, await request.json())])  # stored as received

    handler.__name__ = "post_" + path.replace("/", "_")
    router.add_api_route(f"/v1/apps/{{appID}}/conferences/{{confID}}/{{ucID}}/{path}", handler, methods=["POST"])


for _path, _model in {**messages.EVENT_KINDS, **messages.STATS_KINDS}.items():
    add_kind_route(_path, _model)


@router.post("/v1/apps/{appID}/conferences/{confID}/{ucID}/batch")
async def batch(request: Request, confID: str, ucID: str, body: messages.Batch, app: IngestingApp):
    kinds = {**messages.EVENT_KINDS, **messages.STATS_KINDS}
    items = []
    for index, item in enumerate(body.items):
        model = kinds.get(item.kind)
        if model is None:
            raise ProtocolError(400, f"items.{index}.kind: unknown kind {item.kind}")
        try:
            model.model_validate(item.body)
        except ValidationError as exc:
            raise ProtocolError(400, f"items.{index}.body.{describe_validation(exc)}")
        items.append((item.kind, item.body))
    return await ingest(request, app, confID, ucID, items)
