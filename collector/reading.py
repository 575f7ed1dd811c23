"""The read-only JSON API (SPEC part 2, "Reading back"), authorised by the app's read key.

One app never sees another's data: the read key names the app, and it must be the app in the path.
Lists are paginated: ?limit= (at most 500) and ?cursor= (from the X-Next-Cursor header of the
previous page); conferences can be filtered by time (?since=&until=, ms), by part of their ID (?q=)
and by their worst quality (?quality=poor: poor or worse).
"""

from typing import Annotated, Literal, Optional
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from callwire.quality import ORDER

from .protocol import ProtocolError

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=500)]
# events and stats are listed by time; the cursor is the last row's "timestamp:id" (ids break ties)
Cursor = Annotated[Optional[str], Query(max_length=64, pattern=r"^-?\d+(\.\d+)?(e[+-]?\d+)?:\d+$")]


async def reader_app(request: Request, appID: int, authorization: Annotated[Optional[str], Header()] = None) -> dict:
    """The app whose read key the request carries; it must be the path's."""
    header = authorization or ""
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise ProtocolError(401, "missing Authorization: Bearer <readKey>")
    app = await request.app.state.store.app_by_read_key(header[7:].strip())
    if app is None:
        raise ProtocolError(401, "unknown read key")
    if app["app_id"] != appID:
        raise ProtocolError(403, "this read key is for another app")
    return app


ReadingApp = Annotated[dict, Depends(reader_app)]


def page(rows: list, limit: int, cursor_of) -> JSONResponse:
    headers = {"X-Next-Cursor": str(cursor_of(rows[-1]))} if len(rows) == limit else {}
    return JSONResponse(rows, headers=headers)


@router.get("/v1/apps/{appID}/conferences")
async def list_conferences(request: Request, appID: int, app: ReadingApp, limit: Limit = 50,
                           cursor: Annotated[Optional[float], Query()] = None,
                           since: Annotated[Optional[float], Query()] = None,
                           until: Annotated[Optional[float], Query()] = None,
                           q: Annotated[Optional[str], Query(max_length=512)] = None,
                           quality: Optional[Literal[ORDER]] = None):  # type: ignore[valid-type]
    """?q= part of the conference ID; ?quality=poor: only those whose worst quality was poor or worse."""
    rows = await request.app.state.store.queries.conferences(appID, limit, cursor, since, until, q, quality)
    out = [{"conferenceID": r["conference_id"], "start": r["start"], "end": r["end"],
            "participants": r["participants"], "fabrics": r["fabrics"], "failures": r["failures"],
            "worstQuality": r.get("worstQuality")} for r in rows]
    return page(out, limit, lambda last: last["start"])


@router.get("/v1/apps/{appID}/conferences/{confID}")
async def one_conference(request: Request, appID: int, confID: str, app: ReadingApp):
    found = await request.app.state.store.queries.conference(appID, unquote(confID))
    if found is None:
        raise ProtocolError(404, "no such conference")
    return found


@router.get("/v1/apps/{appID}/conferences/{confID}/events")
async def conference_events(request: Request, appID: int, confID: str, app: ReadingApp, limit: Limit = 500,
                            cursor: Cursor = None):
    rows = await request.app.state.store.queries.events_of(appID, unquote(confID), limit, after(cursor))
    return page(rows, limit, time_cursor)


@router.get("/v1/apps/{appID}/conferences/{confID}/stats")
async def conference_stats(request: Request, appID: int, confID: str, app: ReadingApp, limit: Limit = 500,
                           cursor: Cursor = None,
                           series: Annotated[Optional[str], Query(max_length=64)] = None):
    queries = request.app.state.store.queries
    if series:
        return await queries.series(appID, unquote(confID), series)
    rows = await queries.stats_of(appID, unquote(confID), limit, after(cursor))
    return page(rows, limit, time_cursor)


def after(cursor: Optional[str]) -> Optional[tuple[float, int]]:
    if cursor is None:
        return None
    timestamp, _, row_id = cursor.rpartition(":")
    return float(timestamp), int(row_id)


def time_cursor(last: dict) -> str:
    return f"{last['timestamp']!r}:{last['id']}"
