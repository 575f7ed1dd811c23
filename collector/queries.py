"""What the read API and the dashboard ask of the database: conferences (a page of them with
their summaries in a few grouped queries), one conference with its participants and fabrics,
events and stats by time, and one field's time series per stream."""

from typing import Optional

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from callwire.quality import ORDER

from .tables import DEVICE_FIELDS, conferences, events, members, stats, stream_points


class Queries:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def conferences(self, app_id: int, limit: int, before: Optional[float], since: Optional[float],
                          until: Optional[float], contains: Optional[str] = None,
                          quality_at_most: Optional[str] = None) -> list[dict]:
        """Newest first; `contains`: part of the conference ID; `quality_at_most`: only those whose
        worst quality was this or worse."""
        query = sa.select(conferences).where(conferences.c.app_id == app_id)
        if contains:
            query = query.where(conferences.c.conference_id.contains(contains, autoescape=True))
        if quality_at_most:
            query = query.where(conferences.c.worst_quality <= ORDER.index(quality_at_most))
        if before is not None:
            query = query.where(conferences.c.start < before)
        if since is not None:
            query = query.where(conferences.c.end >= since)
        if until is not None:
            query = query.where(conferences.c.start <= until)
        query = query.order_by(conferences.c.start.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings().all()]
            summaries = await self._summaries(conn, app_id, [r["conference_id"] for r in rows])
        for row in rows:
            row.update(summaries[row["conference_id"]])
            row["worstQuality"] = ORDER[row["worst_quality"]] if row["worst_quality"] is not None else None
        return rows

    async def _summaries(self, conn, app_id: int, conference_ids: list[str]) -> dict[str, dict]:
        """Participants, fabrics (set up) and setup failures of each conference: three grouped
        queries for a whole page of the list, whatever its length."""
        out = {c: {"participants": 0, "fabrics": 0, "failures": 0} for c in conference_ids}
        if not conference_ids:
            return out
        in_events = (events.c.app_id == app_id) & events.c.conference_id.in_(conference_ids)
        queries = {
            "participants": sa.select(members.c.conference_id, sa.func.count()).where(
                (members.c.app_id == app_id) & members.c.conference_id.in_(conference_ids)
            ).group_by(members.c.conference_id),
            "fabrics": sa.select(events.c.conference_id, sa.func.count(sa.distinct(events.c.connection_id))).where(
                in_events & (events.c.path == "events/fabric/setup")).group_by(events.c.conference_id),
            "failures": sa.select(events.c.conference_id, sa.func.count()).where(
                in_events & (events.c.path == "events/fabric/setupfailed")).group_by(events.c.conference_id),
        }
        for name, query in queries.items():
            for conference_id, count in (await conn.execute(query)).all():
                out[conference_id][name] = count
        return out

    async def conference(self, app_id: int, conference_id: str) -> Optional[dict]:
        async with self.engine.connect() as conn:
            head = (await conn.execute(sa.select(conferences).where(
                (conferences.c.app_id == app_id) & (conferences.c.conference_id == conference_id)))).mappings().first()
            if head is None:
                return None
            people = (await conn.execute(sa.select(members).where(
                (members.c.app_id == app_id) & (members.c.conference_id == conference_id)
            ).order_by(members.c.joined))).mappings().all()
            fabric_events = (await conn.execute(sa.select(events.c.uc_id, events.c.connection_id, events.c.path,
                                                          events.c.timestamp, events.c.body).where(
                (events.c.app_id == app_id) & (events.c.conference_id == conference_id)
                & events.c.path.in_(["events/fabric/setup", "events/fabric/terminated",
                                     "events/fabric/setupfailed"])).order_by(events.c.timestamp))).all()
            devices = await self._newest_devices(conn, app_id, conference_id)
            summary = (await self._summaries(conn, app_id, [conference_id]))[conference_id]
            summary["worstQuality"] = ORDER[head["worst_quality"]] if head["worst_quality"] is not None else None
        return {"conferenceID": conference_id, "start": head["start"], "end": head["end"],
                "participants": [_participant(p, fabric_events, devices.get(p["uc_id"]) or {}) for p in people],
                "summary": summary}

    async def _newest_devices(self, conn, app_id: int, conference_id: str) -> dict[str, dict]:
        """ucID -> the device figures of its newest sample that carried any."""
        newest = sa.func.row_number().over(partition_by=stats.c.uc_id, order_by=stats.c.timestamp.desc())
        ranked = sa.select(stats.c.uc_id, stats.c.device, newest.label("n")).where(
            (stats.c.app_id == app_id) & (stats.c.conference_id == conference_id) & stats.c.device.isnot(None)
        ).subquery()
        rows = await conn.execute(sa.select(ranked.c.uc_id, ranked.c.device).where(ranked.c.n == 1))
        return {uc_id: device for uc_id, device in rows.all()}

    async def events_of(self, app_id: int, conference_id: str, limit: int,
                        after: Optional[tuple[float, int]]) -> list[dict]:
        rows = await self._by_time(events, app_id, conference_id, limit, after)
        return [{"id": r["id"], "ucID": r["uc_id"], "connectionID": r["connection_id"], "path": r["path"],
                 "eventType": r["event_type"], "timestamp": r["timestamp"], "body": r["body"]} for r in rows]

    async def stats_of(self, app_id: int, conference_id: str, limit: int,
                       after: Optional[tuple[float, int]]) -> list[dict]:
        rows = await self._by_time(stats, app_id, conference_id, limit, after)
        return [{"id": r["id"], "ucID": r["uc_id"], "connectionID": r["connection_id"], "path": r["path"],
                 "timestamp": r["timestamp"], "stats": r["stats"], **(r["device"] or {})} for r in rows]

    async def _by_time(self, table: sa.Table, app_id: int, conference_id: str, limit: int,
                       after: Optional[tuple[float, int]]) -> list:
        """A page of a conference's rows by time; `after` is the (timestamp, id) of the previous
        page's last row (ids break ties)."""
        where = (table.c.app_id == app_id) & (table.c.conference_id == conference_id)
        if after is not None:
            where &= (table.c.timestamp > after[0]) | ((table.c.timestamp == after[0]) & (table.c.id > after[1]))
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(table).where(where).order_by(
                table.c.timestamp, table.c.id).limit(limit))).mappings().all()

    async def series(self, app_id: int, conference_id: str, field: str) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(stream_points).where(
                (stream_points.c.app_id == app_id) & (stream_points.c.conference_id == conference_id)
            ).order_by(stream_points.c.ssrc, stream_points.c.timestamp))).mappings().all()
        streams: dict[tuple, dict] = {}
        for r in rows:
            stream = streams.setdefault((r["uc_id"], r["connection_id"], r["ssrc"], r["kind"]), {
                "ucID": r["uc_id"], "connectionID": r["connection_id"], "ssrc": r["ssrc"], "type": r["kind"],
                "timestamps": [], "values": []})
            if field in r["values"]:
                stream["timestamps"].append(r["timestamp"])
                stream["values"].append(r["values"][field])
        return [s for s in streams.values() if s["values"]]


def _participant(member, fabric_events, device: dict) -> dict:
    """device: the battery and Wi-Fi figures of the member's newest sample that had any."""
    fabrics: dict[str, dict] = {}
    for uc_id, connection_id, path, timestamp, body in fabric_events:
        if uc_id != member["uc_id"] or connection_id is None:
            continue
        fabric = fabrics.setdefault(connection_id, {"connectionID": connection_id, "remoteID": body.get("remoteID"),
                                                    "setupDelay": None, "state": "initializing", "terminated": None})
        if path == "events/fabric/setup":
            fabric.update(setupDelay=body.get("delay"), state="established")
        elif path == "events/fabric/setupfailed":
            fabric["state"] = "failed"
        else:
            fabric.update(state="terminated", terminated=timestamp)
    return {"ucID": member["uc_id"], "localID": member["local_id"], "deviceID": member["device_id"],
            "endpointInfo": member["endpoint_info"], "joined": member["joined"], "left": member["left"],
            "batteryStatus": device.get("batteryStatus"), "wifiStats": device.get("wifiStats"),
            "fabrics": list(fabrics.values())}
