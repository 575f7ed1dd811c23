"""What a successful initialize starts: the transport, the conference joins, each fabric's events,
and the polls (timed by the page's poll clock) that turn getStats() into csStatsCallback figures
and uploads."""

from typing import Optional
from urllib.parse import quote

from callwire import deltas, figures, quality

from . import auth, events, models, privacy, sdp, stats
from .batches import Urls
from .buffer import BUFFER_BYTES, stable_id
from .events import Event, Sender, user_text
from .fabric import Fabric
from .precall import Precall
from .transport import Transport

POLL_MS = 5000  # getStats() and csStatsCallback cadence (the deployed client's)
POLL_HISTORY = 100
ALIVE_MS = 10000  # user/alive per conference (a user silent for 30 s is gone)


class Session:
    def __init__(self, port, args: models.Initialize, handles: dict, proxy: models.ProxyConfig,
                 transport: Optional[Transport] = None, origin: str = ""):
        """transport/origin: a replayed earlier page (pyclient.replay) sends through this page's
        transport, its items kept apart under their own origin."""
        self.port = port
        self.app_id = str(args.AppID)
        self.local_user = args.localUserID
        self.user_id = auth.user_id_text(args.localUserID)
        self.config = args.configParams or models.ConfigParams()
        self.secret = args.AppSecret if isinstance(args.AppSecret, str) else None
        self.token_generator = handles.get("AppSecret")
        self.on_init = handles.get("csInitCallback")
        self.on_stats = handles.get("csStatsCallback")
        self.identifiers: dict = {}
        self.listeners: dict = {}
        self.sender = Sender(self.user_id, port.device_id())
        self.joined: set[str] = set()
        self.last_sent: dict[str, float] = {}  # conference -> when an item for it was last queued
        self.fabrics: dict[int, Fabric] = {}
        self.last_auth: Optional[str] = None
        self.polling: tuple = (None, [])  # (interval ms, pc ids) the page's poll clock was given
        self.keeping_alive = False
        self.poll_ms: list[float] = []  # Python's main-thread time of each recent poll (bench/poll.py)
        self.device: dict = {}  # the newest poll's battery and Wi-Fi figures
        self.origin = origin
        self.precall = Precall(port, self)
        if transport is not None:
            self.transport = transport
            return
        self.transport = Transport(port, self.app_id, self.user_id, Urls.of(port.collector_url(), proxy),
                                   self._code, self._auth_outcome, buffer_bytes=port.buffer_bytes() or BUFFER_BYTES)
        self.transport.start()
        self.transport.adopt_stored()  # what earlier pages of this origin left unsent goes first

    # ---- auth ----

    async def _code(self, force_new: bool) -> str:
        if self.secret is not None:
            return auth.basic_code(self.app_id, self.user_id, self.secret)
        return await self.port.token_from(self.token_generator, force_new)

    def _auth_outcome(self, status: str, message: str, told: bool = False) -> None:
        """told: the loader ran this handshake while Python started, and called csInitCallback."""
        self._schedule_polls()  # a new token may set another submission interval
        if status == "success" and not self.config.disablePrecalltest:
            self.precall.automatic()
        if status == self.last_auth:
            return
        self.last_auth = status
        if self.on_init is not None and not told:
            self.port.call_soon(self.on_init, status, message)

    # ---- events ----

    def join(self, conference_id: str, at: Optional[float] = None) -> None:
        """The conference's join (and user details), stamped when the page first named it."""
        if conference_id in self.joined:
            return
        self.joined.add(conference_id)
        ids = {**(self.config.additionalIDs.model_dump(exclude_none=True) if self.config.additionalIDs else {}),
               **self.identifiers}
        info = {**self.port.endpoint_info(), "appVersion": self.config.applicationVersion}
        at = self.port.now() if at is None else at
        for event in (events.join(self.sender, at, info, self.config.siteID, ids),
                      events.user_details(self.sender, at, getattr(self.local_user, "userName", None),
                                          self.config.collectIP)):
            self.transport.send(conference_id, *event, origin=self.origin)
        if self.precall.latest is not None:
            self._send_precall(conference_id, self.precall.latest)

    # ---- the pre-call test (pyclient.precall) ----

    def live_call(self) -> bool:
        return any(not f.terminated for f in self.fabrics.values())

    def precall_done(self, results: dict) -> None:
        """A pre-call test's results go with every conference this page joined (and, as the
        latest, with each one it joins later): the collector keeps them next to the user's calls."""
        for conference_id in sorted(self.joined):
            self._send_precall(conference_id, results)

    def _send_precall(self, conference_id: str, results: dict) -> None:
        self.transport.send(conference_id, *events.precall(self.sender, self.port.now(), results), origin=self.origin)

    def send(self, conference_id: str, event: Event, **more) -> None:
        """Queue an item (more: a stats sample and its size, a stable item_id)."""
        self.join(conference_id)
        self.last_sent[conference_id] = self.port.now()
        self.transport.send(conference_id, event.kind, event.body, origin=self.origin, **more)

    # ---- fabrics ----

    def add_fabric(self, fabric: Fabric) -> None:
        self.precall.stop("callStarted")  # (the loader stopped its probe already; none starts after)
        self.fabrics[fabric.pc_id] = fabric
        self.join(fabric.conference_id, fabric.added_at)
        fabric.on_change = lambda change: self._state_changed(fabric, change)
        self._schedule_polls()
        if not self.keeping_alive:
            self.keeping_alive = True
            self.port.spawn(self._alive_forever())

    def fabric_started(self, fabric: Fabric) -> None:
        """Handed over and its recorded past replayed: what it negotiated before, and its setup at
        once if it is up already (a pc handed over long after it connected, as integrations that
        wait for csInitCallback do)."""
        self.descriptions_settled(fabric)
        if fabric.set_up_at is not None:
            self._set_up(fabric, fabric.set_up_at)

    def _state_changed(self, fabric: Fabric, change: dict) -> None:
        self.send(fabric.conference_id, events.state_change(self.sender, fabric, change))
        if fabric.sets_up(change):
            self._set_up(fabric, change["t"])
        if change["changedState"] == "iceConnectionState":
            self._ice_status(fabric, change)
        if change["changedState"] == "signalingState" and change["newState"] == "stable":
            self.descriptions_settled(fabric)
        if change["changedState"] == "connectionState" and change["newState"] == "closed":
            self.terminate(fabric)

    def _set_up(self, fabric: Fabric, at: float) -> None:
        if not fabric.setup_sent:
            fabric.setup_sent = True
            self.port.spawn(self._setup(fabric, at))

    async def _setup(self, fabric: Fabric, at: float) -> None:
        """fabricSetup, with the candidates and the selected pair of a getStats() taken now."""
        sample = self._sample((await self.port.get_stats([fabric.pc_id])).get(fabric.pc_id))
        pair = figures.selected_pair(sample)
        if pair is not None:
            fabric.pair = stats.pair_summary(sample, pair)
        self.send(fabric.conference_id, events.setup(self.sender, fabric, at, stats.ice_candidates(sample)))

    def _sample(self, report: Optional[str]) -> dict:
        if report is None:
            return {}
        sample = stats.parse(report)
        return sample if self.config.collectIP else privacy.redact_sample(sample)

    def _ice_status(self, fabric: Fabric, change: dict, event: Optional[str] = None) -> None:
        event = event or events.ice_status_of(change["prevState"], change["newState"])
        if event is not None:
            self.send(fabric.conference_id, events.ice_status(self.sender, fabric, change, event))

    def _transport_changed(self, fabric: Fabric, sample: dict, pair: Optional[dict]) -> None:
        """The selected candidate pair is another one than last time: transportchange."""
        if pair is None or (fabric.pair is not None and fabric.pair["id"] == pair["id"]):
            return
        current, previous = stats.pair_summary(sample, pair), fabric.pair
        fabric.pair = current
        if previous is not None:
            self.send(fabric.conference_id, events.transport_change(self.sender, fabric, self.port.now(), current, previous))

    def descriptions_settled(self, fabric: Fabric) -> None:
        """A negotiation ended: the SSRCs its descriptions announce (ssrcmap) and the descriptions
        themselves (events/sdp, unless the token says collectSDP: false), each once per change."""
        if not fabric.sdp_changed or fabric.states.get("signalingState") != "stable":
            return
        changed, fabric.sdp_changed = fabric.sdp_changed, set()
        ufrag = sdp.ice_ufrag(fabric.sdp.get("localSDP"))
        if fabric.ice_ufrag is not None and ufrag != fabric.ice_ufrag:
            ice = fabric.states.get("iceConnectionState")
            self._ice_status(fabric, {"t": self.port.now(), "prevState": ice, "newState": ice}, "iceRestarted")
        fabric.ice_ufrag = ufrag
        entries = sdp.streams(fabric.sdp.get("localSDP"), local=True) + sdp.streams(fabric.sdp.get("remoteSDP"), local=False)
        ssrcs = [self._ssrc_entry(fabric, entry) for entry in entries]
        if ssrcs and ssrcs != fabric.ssrcs_sent:
            fabric.ssrcs_sent = ssrcs
            self.send(fabric.conference_id, events.ssrc_map(self.sender, fabric, self.port.now(), ssrcs))
        if self.transport.claim("collectSDP", True):
            redact = (lambda text: text) if self.config.collectIP else privacy.redact_sdp
            self.send(fabric.conference_id, events.descriptions(
                self.sender, fabric, self.port.now(), {side: redact(fabric.sdp[side]) for side in sorted(changed)}))

    def _ssrc_entry(self, fabric: Fabric, entry: dict) -> dict:
        """An SDP stream with whose it is: the page's association if any, else the local user for
        what is sent and the remote one for what is received."""
        owner = self.user_id if entry["streamType"] == "outbound" else user_text(fabric.remote_user_id)
        mapped = fabric.ssrc_users.get(entry["ssrc"], {})
        found = {**entry, "userID": mapped.get("userID") or owner, "usageLabel": mapped.get("usageLabel")}
        return {k: v for k, v in found.items() if v is not None}

    def fabric_event(self, fabric: Fabric, event: str, data: Optional[dict]) -> None:
        if event == "fabricTerminated":
            self.terminate(fabric, data)
            return
        self.send(fabric.conference_id, events.fabric_event(self.sender, fabric, self.port.now(), event, data))

    def first_frame(self, fabric: Fabric, ssrc: str, frame: dict) -> None:
        """The associated video element showed its first frame."""
        self.send(fabric.conference_id, events.playback_start(self.sender, fabric, ssrc, frame))

    def terminate(self, fabric: Fabric, data: Optional[dict] = None) -> None:
        if fabric.terminated:
            return
        fabric.terminated = True
        self._schedule_polls()
        for item in self._ending(fabric, data):
            self.send(**item)

    def _ending(self, fabric: Fabric, data: Optional[dict] = None) -> list[dict]:
        """send() arguments that end a fabric: its final stats (unless the last poll's upload was
        that sample: the same timestamp must not be stored twice), then fabricTerminated. Their
        itemIDs are stable, so a farewell the page already sent and a later goodbye store once."""
        ending = []
        if fabric.last_sample is not None and not fabric.last_sample_queued:
            final = deltas.common_timestamp(fabric.last_sample)
            ending.append(self._stats_item(fabric, fabric.last_sample, item_id=stable_id(
                fabric.connection_id, "final", final)))
        ending.append({"conference_id": fabric.conference_id,
                       "event": events.terminated(self.sender, fabric, self.port.now(), data),
                       "item_id": stable_id(fabric.connection_id, "terminated")})
        return ending

    def _leaving(self) -> list[dict]:
        """send() arguments of leaving now: every live fabric ended, user/left per conference."""
        live = [f for f in self.fabrics.values() if not f.terminated]
        items = [item for fabric in live for item in self._ending(fabric)]
        for conference_id in sorted({f.conference_id for f in live}):
            items.append({"conference_id": conference_id, "event": events.user_left(self.sender, self.port.now()),
                          "item_id": stable_id(self.transport.page_key, self.origin, conference_id, "left")})
        return items

    def goodbye(self, keep: bool = False) -> dict:
        """The page is closing: final stats, fabricTerminated for every live fabric and user/left
        per conference, and whatever else is queued, as keepalive requests for the loader to send
        at once and as a record (`key`, `record`) to keep in localStorage for the next page, whose
        key may go once every request was answered 200 when `complete`. `keep`: a farewell, what
        the goodbye would be now, with nothing changed (the loader holds it for pagehide)."""
        if self.config.disableBeforeUnloadHandler:
            return {"requests": [], "key": None, "record": None, "complete": True}
        leaving = [_send_args(**item, origin=self.origin) for item in self._leaving()]
        if not keep:
            for fabric in self.fabrics.values():
                fabric.terminated = True
            self._schedule_polls()
        unload = self.transport.unload(leaving, keep=keep)
        return {"requests": unload.requests, "key": unload.key, "record": unload.record, "complete": unload.complete}

    def leave(self) -> None:
        """What leaving sends, queued (a replayed page that is gone)."""
        for item in self._leaving():
            self.send(**item)
        for fabric in self.fabrics.values():
            fabric.terminated = True

    async def _alive_forever(self) -> None:
        """user/alive for a conference that sent nothing else for ALIVE_MS: any item tells the
        collector the user is there, so a call that uploads stats needs no extra request."""
        while any(not f.terminated for f in self.fabrics.values()):
            await self.port.sleep(ALIVE_MS)
            for conference_id in {f.conference_id for f in self.fabrics.values() if not f.terminated}:
                if self.port.now() - self.last_sent.get(conference_id, 0.0) >= ALIVE_MS:
                    self.send(conference_id, events.user_alive(self.sender, self.port.now()))
        self.keeping_alive = False

    # ---- stats ----

    def _schedule_polls(self) -> None:
        """The page's poll clock (a timer in the loader) polls the live pcs at the cadence: Python
        is woken once per poll, with every report in hand, and never in between (each wake-up of
        Python is main-thread time)."""
        live = sorted(f.pc_id for f in self.fabrics.values() if not f.terminated)
        wanted = (min(POLL_MS, self.transport.submission_interval_ms) if live else None, live)
        if wanted != self.polling:
            self.polling = wanted
            self.port.poll_every(wanted[0], live, self.poll)

    def poll(self, reports: dict, at: float, device: Optional[dict] = None) -> None:
        """One poll: reports = {pc id: its getStats() JSON, or None}, taken when the clock said `at`
        (uploads keep the cadence of polls, whatever getStats() took); device: the battery and
        Wi-Fi figures that go with each upload, as the deployed client sends them."""
        try:
            self.device = device or {}
            self._poll(reports, at)
        except Exception as exc:  # the page's timer called: nothing to raise to; the next poll goes on
            self.port.log("error", f"a stats poll failed: {exc!r}")

    def _poll(self, reports: dict, at: float) -> None:
        by_conference: dict[str, list] = {}
        busy_ms = 0.0  # Python's own main-thread time in this poll (getStats itself is the browser's)
        for pc_id, text in reports.items():
            fabric = self.fabrics.get(pc_id)
            if text is None or fabric is None or fabric.terminated:  # it may have ended meanwhile
                continue
            started = self.port.clock_ms()
            sample = self._sample(text)
            pair = figures.selected_pair(sample)
            self._transport_changed(fabric, sample, pair)
            streams = figures.streams(fabric.last_sample, sample)
            fabric.last_sample, fabric.last_sample_queued = sample, False
            fabric.rtt = figures.pair_rtt_ms(pair)
            fabric.last_sample_bytes = len(text)
            by_conference.setdefault(fabric.conference_id, []).append((fabric, streams))
            busy_ms += self.port.clock_ms() - started
        started = self.port.clock_ms()
        # queued together once every pc was polled, so that they go in one request; a timer fires
        # a few ms early or late, so the first poll within half a poll of the interval uploads
        due = self.transport.submission_interval_ms - (self.polling[0] or POLL_MS) / 2
        for fabric in [f for entries in by_conference.values() for f, _ in entries]:
            if at - fabric.last_upload_at >= due:
                self._upload(fabric, fabric.last_sample, at)
        for conference_id, entries in by_conference.items():
            self._report(conference_id, entries)
        self.poll_ms.append(round(busy_ms + self.port.clock_ms() - started, 3))
        del self.poll_ms[:-POLL_HISTORY]

    def _upload(self, fabric: Fabric, sample: dict, at: float) -> None:
        self.send(**self._stats_item(fabric, sample))
        fabric.last_upload_at = at
        fabric.last_sample_queued = sample is fabric.last_sample

    def _stats_item(self, fabric: Fabric, sample: dict, **more) -> dict:
        # whole: the transport makes it a delta against what the collector has when it is sent
        return {"conference_id": fabric.conference_id,
                "event": events.stats(self.sender, fabric, self.port.now(), self.device),
                "sample": sample, "size": fabric.last_sample_bytes, **more}

    def _report(self, conference_id: str, entries: list) -> None:
        streams = []
        for fabric, its_streams in entries:
            for stream in its_streams:
                mapped = fabric.ssrc_users.get(stream["ssrc"], {})
                stream.update(remoteUserID=user_text(fabric.remote_user_id), userID=mapped.get("userID"),
                              usageLabel=mapped.get("usageLabel"))
                streams.append(stream)
        payload = {
            "connectionState": "online" if self.last_auth == "success" else "offline",
            "fabricState": "established" if any(f.connected_at for f, _ in entries) else "initializing",
            "conferenceURL": f"{self.transport.collector_url}dashboard/conference.html"
                             f"?conference={quote(conference_id, safe='')}",
            "streams": {s["ssrc"]: s for s in streams},
            "mediaStreamTracks": streams,
            "timestamp": self.transport.now(),
            "conferenceID": conference_id,
            "fabrics": [{"fabricID": f.connection_id, "remoteUserID": user_text(f.remote_user_id),
                         "state": "established" if f.connected_at else "initializing", "rtt": f.rtt,
                         "quality": quality.worst([s["quality"] for s in its_streams])} for f, its_streams in entries],
        }
        for callback in (self.on_stats, self.listeners.get("stats")):
            if callback is not None:
                self.port.call_soon(callback, payload)


def _send_args(conference_id: str, event: Event, origin: str, **more) -> dict:
    """Session.send's arguments as the transport's send() takes them (for what leaving sends at once)."""
    return {"conference_id": conference_id, "kind": event.kind, "body": event.body, "origin": origin, **more}

