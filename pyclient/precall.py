"""The pre-call test: before a call, is there a media path through TURN, and how good is it.

The loader's probe (web/precall.js) holds the two relay-only pcs and measures; this module
decides what to probe (UDP first, then TCP), turns what the probes measured into the figures
callstats.js reported (`preCallTestResults`), and says why a test failed. `Precall` ties it to a
session: automatic once after the first authentication (unless `disablePrecalltest`), never while
a call runs, results to the page's callbacks, to localStorage (the last 50) and to the collector
(`events/precall`, with every conference this page joins).
"""

import json
from typing import Any, Optional

from .storage import KEYS

PROVIDER = "callstats"
KEEP = 50  # results kept in localStorage
AUTH_WAIT_MS = 15000  # a test asked for before the first token waits this long for it

# What a probe measures (web/precall.js reads these). 600 numbered 12-byte packets over 3 s,
# unreliable, each with the time it left: one trip each from one pc to the other through TURN (the
# deployed client's rtt: one client-TURN round trip) and the loss share. Tiny, so that even at a
# 500 ms trip what is in flight (200 a second x ~35 bytes of SCTP data each) stays under the
# smallest congestion window SCTP falls back to after losses (4 x 1,200 bytes): nothing queues,
# and the path's own delay and loss are what is measured. Then the ramp: unreliable 1,100-byte
# packets (one SCTP chunk each) paced at 300 kbit/s doubling to 10 Mbit/s, half a second a step:
# what arrives per second where it stops growing is what the path carries (a reliable bulk
# transfer said 0 kbit/s at 5 % loss and 150 ms: its messages waited for retransmissions).
MEASURE = {
    "connectMs": 5000, "graceMs": 1000,
    "trips": {"count": 600, "everyMs": 5, "bytes": 12},
    "ramp": {"stepMs": 500, "kbps": [300, 600, 1200, 2500, 5000, 10000], "packetBytes": 1100, "bufferBytes": 1 << 18},
}
CONNECT_ONLY = {"connectMs": 5000, "graceMs": 1000, "trips": {"count": 5, "everyMs": 50, "bytes": 12}, "ramp": None}

REASONS = {
    "noTurnServer": "no TURN server: the collector has none configured and none was given",
    "notAuthenticated": "not authenticated with the collector (no TURN credentials)",
    "callInProgress": "not run: a call is in progress",
    "turnCredentialsExpired": "the TURN credentials have expired",
    "turnCredentialsRefused": "the TURN server refused the credentials",
    "turnUnreachable": "the TURN server could not be reached (no relay candidate)",
    "noMediaPath": "relay candidates but no connection through the TURN server",
    "callStarted": "stopped: a call started",
    "stoppedByPage": "stopped by stopPrecallTests",
    "probeFailed": "the browser could not run the test",
}

NOT_TESTED = {"noTurnServer", "notAuthenticated", "callInProgress"}  # told to the page only


# ---- what to probe ----

def servers_for(ice_servers: list, transport: str) -> list:
    """The TURN servers (and only their URLs) that reach TURN over `transport`: `?transport=udp|tcp`,
    a plain turn: URL is UDP, turns: is TCP (TLS)."""
    found = []
    for server in ice_servers or []:
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else list(urls or [])
        kept = [url for url in urls if _transport_of(url) == transport]
        if kept:
            found.append({**server, "urls": kept})
    return found


def _transport_of(url: str) -> Optional[str]:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "turns":
        return "tcp"
    if scheme != "turn":
        return None
    query = url.split("?", 1)[1] if "?" in url else ""
    return "tcp" if "transport=tcp" in query.lower() else "udp"


def credentials_expired(ice_servers: list, now_s: float) -> bool:
    """True when every server's REST-API username (`<expiry>:<user>`) has an expiry in the past."""
    expiries = []
    for server in ice_servers or []:
        head = str(server.get("username") or "").split(":", 1)[0]
        if not head.isdigit():
            return False  # a long-term credential: only the server knows
        expiries.append(int(head))
    return bool(expiries) and max(expiries) <= now_s


# ---- figures ----

def median(values: list) -> float:
    """(Pyodide leaves `statistics` out of its standard library.)"""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def figures(run: dict) -> dict:
    """One probe's measurements -> rtt (ms: the median trip from one pc to the other through
    TURN, one client-TURN round trip), jitter (ms: the mean change between successive trips),
    fractionalLoss (0..1), throughput (kbit/s: the most that arrived in one step of the ramp)."""
    trips = [float(t) for t in run.get("trips") or []]
    sent, received = run.get("tripsSent") or 0, run.get("tripsReceived") or 0
    step_ms, ramp = run.get("rampStepMs") or 0, run.get("rampReceived") or []
    return {
        "rtt": round(median(trips), 2) if trips else None,
        "jitter": round(sum(abs(b - a) for a, b in zip(trips, trips[1:])) / (len(trips) - 1), 2) if len(trips) > 1 else None,
        "fractionalLoss": round(min(1.0, max(0.0, 1 - received / sent)), 4) if sent else None,
        "throughput": round(max(ramp) * 8 / step_ms, 1) if step_ms and ramp else None,
    }


def failure_reason(runs: dict) -> str:
    """Why no probe connected, from what they saw."""
    tried = [run for run in runs.values() if run]
    if any(run.get("error") for run in tried) and not any(run.get("relayCandidates") for run in tried):
        return "probeFailed"
    if any(e.get("errorCode") == 401 for run in tried for e in run.get("candidateErrors") or []):
        return "turnCredentialsRefused"
    if any(run.get("relayCandidates") for run in tried):
        return "noMediaPath"
    return "turnUnreachable"


def results(runs: dict, started_at: float, ended_at: float, automatic: bool) -> tuple[str, dict]:
    """(status, results) of a test whose probes are runs = {"udp": measured or None, "tcp": ...}."""
    connected = {name: bool(run.get("connected")) if run else None for name, run in runs.items()}
    used = next((name for name in ("udp", "tcp") if connected.get(name) and runs[name].get("trips")), None)
    body = {**_body(started_at, ended_at, automatic), **(figures(runs[used]) if used else {}),
            "mediaConnectivity": any(connected.values()), "relayConnectivity": connected, "transport": used,
            "bytesSent": sum(run.get("bytesSent") or 0 for run in runs.values() if run)}
    stopped = next((run["stopped"] for run in runs.values() if run and run.get("stopped")), None)
    reason = stopped or (None if body["mediaConnectivity"] else failure_reason(runs))
    return ("success", body) if reason is None else _failed(body, reason)


def refused(reason: str, at: float, automatic: bool) -> tuple[str, dict]:
    """A test that did not run."""
    return _failed(_body(at, at, automatic), reason)


def _body(started_at: float, ended_at: float, automatic: bool) -> dict:
    """The results of a test that measured nothing (yet)."""
    return {"mediaConnectivity": False, "rtt": None, "jitter": None, "fractionalLoss": None, "throughput": None,
            "timestamp": ended_at, "provider": PROVIDER, "startTimestamp": started_at, "endTimestamp": ended_at,
            "bytesSent": 0, "relayConnectivity": {}, "transport": None, "automatic": automatic}


def _failed(body: dict, reason: str) -> tuple[str, dict]:
    return "failure", {**body, "reason": reason, "message": REASONS[reason]}


def recommendation(status: str, body: dict) -> dict:
    """What the page may do with this network (the `connectionRecommendation` event)."""
    if not body.get("mediaConnectivity"):
        advice = "none"
    elif (body.get("throughput") or 0) >= 1000 and (body.get("fractionalLoss") or 0) < 0.05 and (body.get("rtt") or 0) < 400:
        advice = "audioVideo"
    elif (body.get("throughput") or 0) >= 100 and (body.get("fractionalLoss") or 0) < 0.2:
        advice = "audioOnly"
    else:
        advice = "poor"
    return {"recommendation": advice, "transport": body.get("transport"), "timestamp": body.get("timestamp")}


# ---- a session's pre-call tests ----

class Precall:
    """session: what a test needs of it (see Session): `transport` (token, TURN servers, clock),
    `live_call()`, `listeners`, `app_id`, and `precall_done(results)` to send the results."""

    def __init__(self, port, session):
        self.port, self.session = port, session
        self.running = False
        self.stopped: Optional[str] = None  # why the test under way was stopped (no further probe starts)
        self.waiting: list = []  # the page callbacks of the test under way (makePrecallTest's)
        self.ran_automatically = False
        self.latest: Optional[dict] = None

    def automatic(self) -> None:
        """After the first authentication: once, if the collector ingests its results."""
        if self.ran_automatically:
            return
        self.ran_automatically = True
        ingested = self.session.transport.claim("ingestedEvents")
        if isinstance(ingested, list) and "precallTestResultsAutomatic" not in ingested:
            return
        if not self.session.live_call():
            self.start(automatic=True)

    def start(self, ice_servers: Optional[list] = None, callback: Any = None, automatic: bool = False) -> None:
        if callback is not None:
            self.waiting.append(callback)
        if self.running:
            return  # the callback gets the results of the test under way
        if self.session.live_call():
            self._finish(*refused("callInProgress", self.port.now(), automatic))
            return
        self.running, self.stopped = True, None
        self.port.spawn(self._run(ice_servers, automatic))

    def stop(self, reason: str = "stoppedByPage") -> None:
        """Stop the test under way: the probe running now, and any it would start next."""
        if self.running and self.stopped is None:
            self.stopped = reason
            self.port.stop_probe(reason)

    async def _run(self, given: Optional[list], automatic: bool) -> None:
        try:
            outcome = await self._test(given, automatic)
        except Exception as exc:  # a background coroutine: nothing to raise to
            self.port.log("error", f"the pre-call test failed: {exc!r}")
            outcome = refused("probeFailed", self.port.now(), automatic)
        self.running = False
        self._finish(*outcome)

    async def _test(self, given: Optional[list], automatic: bool) -> tuple[str, dict]:
        started = self.port.now()
        servers = given if given is not None else await self._collector_servers()
        if servers is None:
            return refused("notAuthenticated", started, automatic)
        if self.stopped is not None:  # while it waited for the token
            return refused(self.stopped, started, automatic)
        udp, tcp = servers_for(servers, "udp"), servers_for(servers, "tcp")
        if not udp and not tcp:
            return refused("noTurnServer", started, automatic)
        if credentials_expired(servers, self.port.now() / 1000):
            return refused("turnCredentialsExpired", started, automatic)
        runs: dict = {"udp": None, "tcp": None}
        if udp:
            runs["udp"] = await self._probe({**MEASURE, "iceServers": udp})
        if tcp and not (runs["udp"] or {}).get("stopped"):
            measured = (runs["udp"] or {}).get("connected")
            runs["tcp"] = await self._probe({**(CONNECT_ONLY if measured else MEASURE), "iceServers": tcp})
        return results(runs, started, self.port.now(), automatic)

    async def _probe(self, options: dict) -> dict:
        if self.stopped is not None:  # stopped between two probes
            return {"connected": False, "stopped": self.stopped}
        return await self.port.probe(options)

    async def _collector_servers(self) -> Optional[list]:
        """The TURN servers of the current token, renewed first if their credentials ran out;
        None when there is no token after AUTH_WAIT_MS."""
        transport = self.session.transport
        if transport.authenticated and credentials_expired(transport.ice_servers, self.port.now() / 1000):
            transport.renew()
        waited = 0
        while not transport.authenticated and waited < AUTH_WAIT_MS:
            await self.port.sleep(200)
            waited += 200
        return transport.ice_servers if transport.authenticated else None

    def _finish(self, status: str, body: dict) -> None:
        callbacks, self.waiting = self.waiting, []
        for callback in [*callbacks, self.session.listeners.get("preCallTestResults")]:
            if callback is not None:
                self.port.call_soon(callback, status, body)
        if body.get("reason") in NOT_TESTED:
            return  # nothing was measured: nothing to keep, advise or report
        advice = self.session.listeners.get("connectionRecommendation")
        if advice is not None:
            self.port.call_soon(advice, recommendation(status, body))
        self.latest = body
        self._keep(body)
        self.session.precall_done(body)

    def _keep(self, body: dict) -> None:
        key = f"{KEYS['precall']}{self.session.app_id}"
        kept = dict(self.port.stored(key)).get(key)
        try:
            earlier = json.loads(kept) if kept else []
        except ValueError:
            earlier = []
        earlier = earlier if isinstance(earlier, list) else []
        self.port.store(key, json.dumps([*earlier, body][-KEEP:]))
