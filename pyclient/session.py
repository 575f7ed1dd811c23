"""What a successful initialize starts: the transport, the conference joins, each fabric's events,
and the polls (timed by the page's poll clock) that turn getStats() into csStatsCallback figures
and uploads."""

from typing import Optional
from urllib.parse import quote

from . import __version__, auth, models, privacy, quality, sdp, stats
from .fabric import Fabric, ice_status
from .precall import Precall
from .transport import BUFFER_BYTES, STORE_PREFIX, Transport, Urls, stable_id

POLL_MS = 5000  # getStats() and csStatsCallback cadence (the deployed client's)
POLL_HISTORY = 100
ALIVE_MS = 10000  # user/alive per conference (a user silent for 30 s is gone)
VERSION = f"pyclient-{__version__}"  # the wire's callstatsVersion

# sendFabricEvent value -> the event kind it is sent as (SPEC part 2)
FABRIC_EVENT_KINDS = {
    "fabricHold": "events/fabric/actions", "fabricResume": "events/fabric/actions",
    "callUnAnswered": "events/fabric/actions",
    "audioMute": "events/media/actions", "audioUnmute": "events/media/actions",
    "videoPause": "events/media/actions", "videoResume": "events/media/actions",
    "screenShareStart": "events/media/actions", "screenShareStop": "events/media/actions",
    "fabricUsageEvent": "events/fabric/usage", "fabricTerminated": "events/fabric/terminated",
    "dominantSpeaker": "events/dominantspeaker", "activeDeviceList": "events/devices/list",
    "applicationErrorLog": "events/app/logs", "callDetails": "events/calldetails",
}
# reportError's webRTCFunction -> the setup failure reason (the deployed client's names)
FAILURE_REASONS = {
    "getUserMedia": "MediaPermissionError", "createOffer": "SDPGenerationError",
    "createAnswer": "SDPGenerationError", "setLocalDescription": "NegotiationFailure",
    "setRemoteDescription": "NegotiationFailure", "addIceCandidate": "TransportFailure",
    "iceConnectionFailure": "IceConnectionFailure", "signalingError": "SignalingError",
}


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
        self.device_id = port.device_id()
        self.joined: set[str] = set()
        self.last_sent: dict[str, float] = {}  # conference -> when an item for it was last queued
        self.fabrics: dict[int, Fabric] = {}
        self.last_auth: Optional[str] = None
        self.polling: tuple = (None, [])  # (interval ms, pc ids) the page's poll clock was given
        self.keeping_alive = False
        self.poll_ms: list[float] = []  # Python's main-thread time of each recent poll (bench/poll.py)
        self.origin = origin
        self.precall = Precall(port, self)
        if transport is not None:
            self.transport = transport
            return
        self.transport = Transport(port, self.app_id, self.user_id, Urls.of(port.collector_url(), proxy),
                                   self._code, self._auth_outcome, buffer_bytes=port.buffer_bytes() or BUFFER_BYTES)
        self.transport.start()
        self._adopt_unsent()

    def _adopt_unsent(self) -> None:
        """What earlier pages of this origin could not send (same app and user) goes first: items a
        page had queued, and the calls of a page that closed before Python was ready."""
        from . import replay  # here, not at the top: replay builds sessions itself

        for key, record in self.port.stored(f"{STORE_PREFIX}{self.app_id}."):
            if self.transport.adopt(key, record):
                self.port.store(key, None)
        for key, record in self.port.stored(f"{replay.EARLY_PREFIX}{self.app_id}."):
            if replay.replay(self, key, record):
                self.port.store(key, None)

    # ---- auth ----

    async def _code(self, force_new: bool) -> str:
        if self.secret is not None:
            return auth.basic_code(self.app_id, self.user_id, self.secret)
        return await self.port.token_from(self.token_generator, force_new)

    def _auth_outcome(self, status: str, message: str) -> None:
        self._schedule_polls()  # a new token may set another submission interval
        if status == "success" and not self.config.disablePrecalltest:
            self.precall.automatic()
        if status == self.last_auth:
            return
        self.last_auth = status
        if self.on_init is not None:
            self.port.call_soon(self.on_init, status, message)

    # ---- events ----

    def body(self, **fields) -> dict:
        return {"localID": self.user_id, "deviceID": self.device_id, "timestamp": self.port.now(),
                "callstatsVersion": VERSION, **{k: v for k, v in fields.items() if v is not None}}

    def fabric_body(self, fabric: Fabric, **fields) -> dict:
        return self.body(remoteID=_user_text(fabric.remote_user_id), connectionID=fabric.connection_id, **fields)

    def join(self, conference_id: str, at: Optional[float] = None) -> None:
        """The conference's join (and user details), stamped when the page first named it."""
        if conference_id in self.joined:
            return
        self.joined.add(conference_id)
        ids = {**(self.config.additionalIDs.model_dump(exclude_none=True) if self.config.additionalIDs else {}),
               **self.identifiers}
        info = {**self.port.endpoint_info(), "appVersion": self.config.applicationVersion}
        stamp = {"timestamp": self.port.now() if at is None else at}
        self.transport.send(conference_id, "join", {**self.body(
            eventType="userJoined", endpointInfo={k: v for k, v in info.items() if v is not None},
            siteID=self.config.siteID, additionalIDs=ids or None), **stamp}, origin=self.origin)
        self.transport.send(conference_id, "events/userdetails", {**self.body(
            eventType="userDetails", userName=getattr(self.local_user, "userName", None),
            collectIP=self.config.collectIP), **stamp}, origin=self.origin)
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
        kind = "precallTestResultsAutomatic" if results.get("automatic") else "precallTestResultsManual"
        self.transport.send(conference_id, "events/precall", self.body(eventType=kind, results=results),
                            origin=self.origin)

    def send(self, conference_id: str, kind: str, body: dict, **more) -> None:
        """Queue an item (more: a stats sample and its size, a stable item_id)."""
        self.join(conference_id)
        self.last_sent[conference_id] = self.port.now()
        self.transport.send(conference_id, kind, body, origin=self.origin, **more)

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

    def _state_changed(self, fabric: Fabric, change: dict) -> None:
        self.send(fabric.conference_id, "events/fabric/statechange", {
            **self.fabric_body(fabric, eventType="fabricStateChange", changedState=change["changedState"],
                               prevState=change["prevState"], newState=change["newState"]),
            "timestamp": change["t"]})
        if change["newState"] in ("connected", "completed") and not fabric.setup_sent:
            fabric.setup_sent = True
            self.port.spawn(self._setup(fabric, change["t"]))
        if change["changedState"] == "iceConnectionState":
            self._ice_status(fabric, change)
        if change["changedState"] == "signalingState" and change["newState"] == "stable":
            self.descriptions_settled(fabric)
        if change["changedState"] == "connectionState" and change["newState"] == "closed":
            self.terminate(fabric)

    async def _setup(self, fabric: Fabric, at: float) -> None:
        """fabricSetup, with the candidates and the selected pair of a getStats() taken now."""
        sample = self._sample((await self.port.get_stats([fabric.pc_id])).get(fabric.pc_id))
        pair = stats.selected_pair(sample)
        if pair is not None:
            fabric.pair = stats.pair_summary(sample, pair)
        self.send(fabric.conference_id, "events/fabric/setup", {
            **self.fabric_body(fabric, eventType="fabricSetup", delay=fabric.setup_delay,
                               iceGatheringDelay=fabric.ice_gathering_delay,
                               iceConnectivityDelay=fabric.ice_connectivity_delay,
                               remoteEndpointType=fabric.attributes["remoteEndpointType"],
                               fabricTransmissionDirection=fabric.attributes["fabricTransmissionDirection"],
                               **stats.ice_candidates(sample)),
            "timestamp": at})

    def _sample(self, report: Optional[str]) -> dict:
        if report is None:
            return {}
        sample = stats.parse(report)
        return sample if self.config.collectIP else privacy.redact_sample(sample)

    def _ice_status(self, fabric: Fabric, change: dict, event: Optional[str] = None) -> None:
        event = event or ice_status(change["prevState"], change["newState"])
        if event is None:
            return
        since = fabric.state_since("iceConnectionState")
        fields = {"eventType": event, "prevIceConnectionState": change["prevState"],
                  "currIceConnectionState": change["newState"], "prevIceConnectionStateTs": since,
                  "currIceCandidatePair": fabric.pair}
        if event.endswith("End") and since is not None:
            fields["delay"] = max(0.0, change["t"] - since)
        self.send(fabric.conference_id, "events/ice/status", {**self.fabric_body(fabric, **fields), "timestamp": change["t"]})

    def _transport_changed(self, fabric: Fabric, sample: dict, pair: Optional[dict]) -> None:
        """The selected candidate pair is another one than last time: transportchange."""
        if pair is None or (fabric.pair is not None and fabric.pair["id"] == pair["id"]):
            return
        current, previous = stats.pair_summary(sample, pair), fabric.pair
        fabric.pair = current
        if previous is None:
            return
        ice = fabric.states.get("iceConnectionState")
        self.send(fabric.conference_id, "events/fabric/transportchange", self.fabric_body(
            fabric, eventType="fabricTransportChange", currIceCandidatePair=current, prevIceCandidatePair=previous,
            currIceConnectionState=ice, prevIceConnectionState=ice, relayType=current.get("relayType")))

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
            self.send(fabric.conference_id, "events/ssrcmap", self.fabric_body(fabric, eventType="ssrcMap", ssrcData=ssrcs))
        if self.transport.claims.get("collectSDP", True):
            redact = (lambda text: text) if self.config.collectIP else privacy.redact_sdp
            self.send(fabric.conference_id, "events/sdp", self.fabric_body(
                fabric, eventType="sdp", **{side: redact(fabric.sdp[side]) for side in sorted(changed)}))

    def _ssrc_entry(self, fabric: Fabric, entry: dict) -> dict:
        """An SDP stream with whose it is: the page's association if any, else the local user for
        what is sent and the remote one for what is received."""
        owner = self.user_id if entry["streamType"] == "outbound" else _user_text(fabric.remote_user_id)
        mapped = fabric.ssrc_users.get(entry["ssrc"], {})
        found = {**entry, "userID": mapped.get("userID") or owner, "usageLabel": mapped.get("usageLabel")}
        return {k: v for k, v in found.items() if v is not None}

    def fabric_event(self, fabric: Fabric, event: str, data: Optional[dict]) -> None:
        kind = FABRIC_EVENT_KINDS[event]
        fields = {"eventType": event}
        if event == "activeDeviceList":
            fields["mediaDeviceList"] = [{"mediaDeviceID": d["deviceId"], "kind": d["kind"], "label": d.get("label", ""),
                                          "groupID": d.get("groupId", "")} for d in data["deviceList"]]
        elif event == "applicationErrorLog":
            fields.update(level="error", message=data["message"], messageType="text")
        elif data:
            fields["eventData"] = data
        if event == "fabricTerminated":
            self.terminate(fabric, fields)
            return
        self.send(fabric.conference_id, kind, self.fabric_body(fabric, **fields))

    def first_frame(self, fabric: Fabric, ssrc: str, frame: dict) -> None:
        """The associated video element showed its first frame: mediaPlaybackStart, with the time
        to first frame since the fabric was added (unknown if it was showing before it was watched)."""
        ttff = None if frame.get("already") else max(0.0, frame["t"] - fabric.added_at)
        self.send(fabric.conference_id, "events/media/pipeline", {**self.fabric_body(
            fabric, eventType="mediaPlaybackStart", mediaType="video", ssrc=ssrc, timeToFirstFrame=ttff),
            "timestamp": frame["t"]})

    def terminate(self, fabric: Fabric, fields: Optional[dict] = None) -> None:
        if fabric.terminated:
            return
        fabric.terminated = True
        self._schedule_polls()
        for item in self._ending(fabric, fields):
            self.send(**item)

    def _ending(self, fabric: Fabric, fields: Optional[dict] = None) -> list[dict]:
        """send() arguments that end a fabric: its final stats (unless the last poll's upload was
        that sample: the same timestamp must not be stored twice), then fabricTerminated. Their
        itemIDs are stable, so a farewell the page already sent and a later goodbye store once."""
        ending = []
        if fabric.last_sample is not None and not fabric.last_sample_queued:
            final = stats.common_timestamp(fabric.last_sample)
            ending.append(self._stats_item(fabric, fabric.last_sample, item_id=stable_id(
                fabric.connection_id, "final", final)))
        ending.append({"conference_id": fabric.conference_id, "kind": "events/fabric/terminated",
                       "body": self.fabric_body(fabric, **(fields or {"eventType": "fabricTerminated"})),
                       "item_id": stable_id(fabric.connection_id, "terminated")})
        return ending

    def _leaving(self) -> list[dict]:
        """send() arguments of leaving now: every live fabric ended, user/left per conference."""
        live = [f for f in self.fabrics.values() if not f.terminated]
        items = [item for fabric in live for item in self._ending(fabric)]
        for conference_id in sorted({f.conference_id for f in live}):
            items.append({"conference_id": conference_id, "kind": "events/user/left",
                          "body": self.body(eventType="userLeft"),
                          "item_id": stable_id(self.transport.unload_key, self.origin, conference_id, "left")})
        return items

    def goodbye(self, keep: bool = False) -> dict:
        """The page is closing: final stats, fabricTerminated for every live fabric and user/left
        per conference, and whatever else is queued, as keepalive requests for the loader to send
        at once and as a record (`key`, `record`) to keep in localStorage for the next page, whose
        key may go once every request was answered 200 when `complete`. `keep`: a farewell, what
        the goodbye would be now, with nothing changed (the loader holds it for pagehide)."""
        if self.config.disableBeforeUnloadHandler:
            return {"requests": [], "key": None, "record": None, "complete": True}
        leaving = [{**item, "origin": self.origin} for item in self._leaving()]
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
                    self.send(conference_id, "events/user/alive", self.body(eventType="userAlive"))
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

    def poll(self, reports: dict, at: float) -> None:
        """One poll: reports = {pc id: its getStats() JSON, or None}, taken when the clock said `at`
        (uploads keep the cadence of polls, whatever getStats() took)."""
        try:
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
            pair = stats.selected_pair(sample)
            self._transport_changed(fabric, sample, pair)
            figures = stats.streams(fabric.last_sample, sample)
            fabric.last_sample, fabric.last_sample_queued = sample, False
            fabric.rtt = stats.pair_rtt_ms(pair)
            fabric.last_sample_bytes = len(text)
            by_conference.setdefault(fabric.conference_id, []).append((fabric, figures))
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
        return {"conference_id": fabric.conference_id, "kind": "stats", "sample": sample,
                "body": self.fabric_body(fabric, eventType="stats"), "size": fabric.last_sample_bytes, **more}

    def _report(self, conference_id: str, entries: list) -> None:
        streams = []
        for fabric, figures in entries:
            for stream in figures:
                mapped = fabric.ssrc_users.get(stream["ssrc"], {})
                stream.update(remoteUserID=_user_text(fabric.remote_user_id), userID=mapped.get("userID"),
                              usageLabel=mapped.get("usageLabel"))
                streams.append(stream)
        payload = {
            "connectionState": "online" if self.last_auth == "success" else "offline",
            "fabricState": "established" if any(f.connected_at for f, _ in entries) else "initializing",
            "conferenceURL": f"{self.transport.urls.collector}dashboard/conference.html"
                             f"?conference={quote(conference_id, safe='')}",
            "streams": {s["ssrc"]: s for s in streams},
            "mediaStreamTracks": streams,
            "timestamp": self.transport.now(),
            "conferenceID": conference_id,
            "fabrics": [{"fabricID": f.connection_id, "remoteUserID": _user_text(f.remote_user_id),
                         "state": "established" if f.connected_at else "initializing", "rtt": f.rtt,
                         "quality": quality.worst([s["quality"] for s in figures])} for f, figures in entries],
        }
        for callback in (self.on_stats, self.listeners.get("stats")):
            if callback is not None:
                self.port.call_soon(callback, payload)


def _user_text(user) -> str:
    return user if isinstance(user, str) else (user or {}).get("aliasName", "")

