"""Simulated participants: each a real session over HTTP/2 with a connection of its own, sending
what a client sends (authenticate, join, fabric state changes, stats every 5 s as full then delta
samples, feedback, fabricTerminated, user/left), each request again with the same itemID until it is
answered 200, as the client does. Used by test_scale.py and bench/load.py."""

import asyncio
import time
import uuid
from collections import Counter

import httpx
import sqlalchemy as sa

from collector.database import make_engine
from collector.tables import events, stats

from .wire import code

STATS_EVERY_S = 5.0
PER_CONFERENCE = 4
ATTEMPTS = 6


class Tally:
    def __init__(self):
        self.phase = "both up"
        self.latency: dict[str, list[float]] = {}
        self.retries, self.given_up = Counter(), Counter()
        self.acked: set[str] = set()
        self.active = self.held = self.peak = 0


async def send(client, tally: Tally, path: str, body: dict, headers: dict) -> httpx.Response | None:
    """POST until answered 200 (same itemID each time), or give up after ATTEMPTS."""
    started, phase = time.perf_counter(), tally.phase
    for attempt in range(ATTEMPTS):
        try:
            answer = await client.post(path, json=body, headers=headers)
            if answer.status_code == 200:
                tally.latency.setdefault(phase, []).append((time.perf_counter() - started) * 1000)
                if "itemID" in body:
                    tally.acked.add(body["itemID"])
                return answer
            if answer.status_code < 500 and answer.status_code != 429:
                break  # refused for good: a bug in this bench, counted below
        except httpx.HTTPError:
            pass
        tally.retries[phase] += 1
        await asyncio.sleep(0.25 * 2 ** attempt)
    tally.given_up[phase] += 1
    return None


def sample(n: int, full: bool, at: float) -> list[dict]:
    """A 2-stream call's getStats: everything the first time, then only what changed (a delta)."""
    entries = []
    for ssrc, kind in ((1111, "outbound-rtp"), (2222, "inbound-rtp")):
        counters = {"bytesSent" if kind == "outbound-rtp" else "bytesReceived": 60000 * n,
                    "packetsSent" if kind == "outbound-rtp" else "packetsReceived": 250 * n}
        fixed = {"type": kind, "kind": "audio", "ssrc": ssrc, "mid": "0", "codecId": "C1"} if full else {}
        entries.append({"id": f"{kind}-{ssrc}", "timestamp": at, **fixed, **counters,
                        **({"jitter": 0.002, "packetsLost": n // 10} if kind == "inbound-rtp" else {})})
    return entries


async def participant(n: int, url: str, app: dict, tally: Tally, start_at: float, stop_at: float) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    user, conference = f"user-{n}", f"load-{n // PER_CONFERENCE}"
    async with httpx.AsyncClient(http2=True, verify=False, base_url=url, timeout=10) as client:
        auth = None
        for attempt in range(ATTEMPTS):
            try:
                auth = await client.post("/authenticate", data={"grant_type": "authorization_code",
                                                                "client_id": f"{user}@{app['appID']}",
                                                                "code": code(app, user)})
                if auth.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25 * 2 ** attempt)
        if auth is None or auth.status_code != 200:
            tally.given_up[tally.phase] += 1
            return
        headers = {"Authorization": f"Bearer {auth.json()['access_token']}"}

        def body(**fields) -> dict:
            return {"localID": user, "deviceID": f"device-{n}", "timestamp": time.time() * 1000,
                    "itemID": uuid.uuid4().hex, **fields}

        base = f"/v1/apps/{app['appID']}/conferences/{conference}"
        joined = await send(client, tally, base, body(eventType="userJoined", endpointInfo={"type": "browser"}), headers)
        if joined is None:
            return
        base += "/" + joined.json()["ucID"]
        fabric = {"remoteID": f"user-{n ^ 1}", "connectionID": f"pc-{n}"}
        for state in ("checking", "connected"):
            await send(client, tally, f"{base}/events/fabric/statechange", body(
                **fabric, eventType="fabricStateChange", changedState="iceConnectionState", prevState="new",
                newState=state), headers)
        tally.active += 1
        tally.peak = max(tally.peak, tally.active)
        polls = 0
        while time.monotonic() < stop_at:
            polls += 1
            await send(client, tally, f"{base}/stats", body(
                **fabric, stats=sample(polls, polls == 1, time.time() * 1000), delta=polls > 1), headers)
            await asyncio.sleep(STATS_EVERY_S)
        await send(client, tally, f"{base}/events/feedback", body(feedback={"overallRating": 4}), headers)
        await send(client, tally, f"{base}/events/fabric/terminated", body(**fabric, eventType="fabricTerminated"), headers)
        await send(client, tally, f"{base}/events/user/left", body(eventType="userLeft"), headers)
        tally.active -= 1
        tally.held += 1


async def stored_item_ids(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        found = set((await conn.execute(sa.select(stats.c.item_id))).scalars())
        found |= set((await conn.execute(sa.select(events.c.item_id))).scalars())
    await engine.dispose()
    return found


async def simulate(url: str, app: dict, participants: int, seconds: float, victim=None) -> Tally:
    """`participants` sessions for `seconds` (joining over the first tenth, at most a minute);
    `victim`, a collector (tests.servers.Server), is killed halfway, workers and all."""
    tally, now = Tally(), time.monotonic()
    ramp = min(60.0, seconds / 10)
    tasks = [asyncio.create_task(participant(n, url, app, tally, now + ramp * n / participants, now + seconds))
             for n in range(participants)]
    if victim is not None:
        await asyncio.sleep(seconds / 2)
        tally.phase = "one killed"
        victim.kill()
    await asyncio.gather(*tasks)
    return tally


