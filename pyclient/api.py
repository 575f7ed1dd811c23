"""The callstats API surface: validate -> check call order -> dispatch -> {status, msg, message}.

`Callstats.call` is the single entry from the page. It never raises: whatever goes wrong inside
is answered as a failure and reported to the page's on("error") listener, and the calls that were
good keep working.
"""

from typing import Any, Optional

from pydantic import ValidationError

from . import __version__, answers, events, models, privacy, replay
from .fabric import Fabric
from .port import Port
from .session import Session


class Callstats:
    def __init__(self, port: Port, transport=None, origin: str = ""):
        self.port = port
        self.transport, self.origin = transport, origin  # set for a replayed earlier page (pyclient.replay)
        self.session: Optional[Session] = None
        self.fabrics: dict[int, Fabric] = {}
        self.listeners: dict[str, Any] = {}
        self.proxy = models.ProxyConfig()
        self.version = __version__

    # ---- the one entry point ----

    def call(self, method: str, args: dict, handles: Optional[dict] = None, at: Optional[float] = None) -> dict:
        """args: the JSON projection keyed by argument name; handles: the JS functions by name;
        at: when the page made the call (ms), which may be long before Python saw it."""
        try:
            return self._dispatch(method, args, handles or {}, self.port.now() if at is None else at)
        except Exception as exc:  # the boundary: nothing escapes into the page
            self._report_error(f"{method}: internal error: {type(exc).__name__}: {exc}")
            return answers.failure(f"{method}: internal error ({type(exc).__name__})")

    def check(self, method: str, args: dict) -> dict:
        """What `call` would answer, changing nothing: a failure with its message, or a bare
        success (the loader's refusals are checked against this, in the order the page made them)."""
        try:
            refusal, _ = self._verdict(method, args)
        except Exception as exc:
            return answers.failure(f"{method}: internal error ({type(exc).__name__})")
        return answers.failure(refusal) if refusal else answers.success("")

    def _dispatch(self, method: str, args: dict, handles: dict, at: float) -> dict:
        refusal, parsed = self._verdict(method, args)
        if refusal:
            return answers.failure(refusal)
        return getattr(self, "_" + method)(parsed, handles, at)

    def _verdict(self, method: str, args: dict) -> tuple[Optional[str], Any]:
        """(why the call is refused, or None; its validated arguments)."""
        if method in models.UNSUPPORTED:
            return answers.say("unsupported", method=method), None
        spec = models.METHODS.get(method)
        if spec is None:
            return f"{method}: no such method", None
        if not isinstance(args, dict):
            return answers.say("missing", method=method, arg="arguments"), None
        try:
            parsed = models.adapter(method).validate_python(args)
        except ValidationError as exc:
            return answers.describe(method, exc, args, spec.arg_names), None
        return self._check_order(spec, parsed), parsed

    def _check_order(self, spec: models.Method, args) -> Optional[str]:
        if spec.needs_init and self.session is None:
            return answers.say("notInitialized", method=spec.name)
        if spec.name == "setProxyConfig" and self.session is not None:
            return answers.say("proxyAfterInit")
        if spec.pc_rule is None or (spec.pc_rule == "added_if_given" and args.pc is None):
            return None
        fabric = self._live_fabric(args.pc.id)
        if spec.pc_rule == "adds":
            if fabric and fabric.conference_id != args.conferenceID:
                return answers.say("pcOtherConference", method=spec.name, conferenceID=fabric.conference_id)
            return None
        if fabric is None or fabric.conference_id != args.conferenceID:
            return answers.say("pcNotAdded", method=spec.name, conferenceID=args.conferenceID)
        return None

    def _live_fabric(self, pc_id: int) -> Optional[Fabric]:
        fabric = self.fabrics.get(pc_id)
        return fabric if fabric and not fabric.terminated else None

    # ---- methods (arguments already valid and in order) ----

    def _initialize(self, args: models.Initialize, handles: dict, at: float) -> dict:
        if self.session is not None:
            return answers.success(answers.say("alreadyInitialized"))
        self.session = Session(self.port, args, handles, self.proxy, self.transport, self.origin)
        self.session.listeners = self.listeners
        if self.transport is None:  # a page of its own (not a replay): earlier pages' calls first
            replay.replay_stored(self.session, lambda port, key: Callstats(port, self.session.transport, key))
        return answers.success(answers.say("authenticating"))

    def _addNewFabric(self, args: models.AddNewFabric, handles: dict, at: float) -> dict:
        if self._live_fabric(args.pc.id):
            return answers.success(answers.say("alreadyMonitored"))
        attributes = (args.fabricAttributes or models.FabricAttributes()).model_dump()
        fabric = Fabric(
            pc_id=args.pc.id,
            conference_id=args.conferenceID,
            remote_user_id=_plain(args.remoteUserID),
            usage=args.fabricUsage,
            attributes=attributes,
            added_at=at,
        )
        self.fabrics[args.pc.id] = fabric
        self.session.add_fabric(fabric)  # before the replay below, so replayed changes are sent too
        watched = self.port.watch_pc(args.pc.id, fabric.on_pc_event)
        fabric.start(watched["initial"], watched["backlog"], watched.get("created"))
        self.session.fabric_started(fabric)
        msg = answers.say("monitoring")
        self._answer_later(handles.get("pcCallback"), "success", msg)
        return answers.success(msg)

    def _reportError(self, args: models.ReportError, handles: dict, at: float) -> dict:
        session = self.session
        fabric = self.fabrics.get(args.pc.id) if args.pc else None
        error = args.domError if isinstance(args.domError, models.DomError) else models.DomError(message=args.domError)
        if not session.config.collectIP:
            error = error.model_copy(update={"message": privacy.redact_text(error.message),
                                             "stack": privacy.redact_text(error.stack)})
        error = error.model_dump()
        if args.webRTCFunction in events.LOG_ONLY or (fabric is not None and fabric.connected_at is not None):
            session.send(args.conferenceID, events.error_log(session.sender, fabric, at, args.webRTCFunction, error))
            return answers.success(answers.say("sentAsLog"))
        sdp = (lambda text: text) if session.config.collectIP else privacy.redact_sdp
        session.send(args.conferenceID, events.setup_failed(session.sender, fabric, at, args.webRTCFunction, error,
                                                            sdp(args.localSDP), sdp(args.remoteSDP)))
        return answers.success(answers.say("sentAsSetupFailed"))

    def _sendFabricEvent(self, args, handles: dict, at: float) -> dict:
        fabric = self.fabrics[args.pc.id]
        data = args.eventData.model_dump() if hasattr(args.eventData, "model_dump") else args.eventData
        self.session.fabric_event(fabric, args.fabricEvent, data)
        return answers.success(answers.say("eventQueued", event=args.fabricEvent))

    def _sendCallDetails(self, args: models.SendCallDetails, handles: dict, at: float) -> dict:
        fabric = self.fabrics[args.pc.id]
        self.session.send(args.conferenceID, events.call_details(self.session.sender, fabric, self.port.now(),
                                                                 args.callAttributes.model_dump()))
        return answers.success(answers.say("queued", method="sendCallDetails"))

    def _associateMstWithUserID(self, args: models.AssociateMstWithUserID, handles: dict, at: float) -> dict:
        fabric = self.fabrics[args.pc.id]
        user = _plain(args.userID)
        ssrc = str(args.SSRC)
        fabric.ssrc_users[ssrc] = {"userID": user if isinstance(user, str) else user.get("aliasName"),
                                   "usageLabel": args.usageLabel}
        entry = {"ssrc": ssrc, "userID": fabric.ssrc_users[ssrc]["userID"], "usageLabel": args.usageLabel,
                 "associatedVideoTag": args.associatedVideoTag}
        self.session.send(args.conferenceID, events.ssrc_map(self.session.sender, fabric, self.port.now(),
                                                             [{k: v for k, v in entry.items() if v is not None}]))
        if args.associatedVideoTag:
            self.port.watch_first_frame(args.associatedVideoTag,
                                        lambda frame: self.session.first_frame(fabric, ssrc, frame))
        return answers.success(answers.say("queued", method="associateMstWithUserID"))

    def _sendUserFeedback(self, args: models.SendUserFeedback, handles: dict, at: float) -> dict:
        given = args.feedback
        self.session.send(args.conferenceID, events.feedback(self.session.sender, self.port.now(), given.overall,
                                                             given.audio, given.video, given.comment))
        msg = answers.say("queued", method="sendUserFeedback")
        self._answer_later(handles.get("pcCallback"), "success", msg)
        return answers.success(msg)

    def _sendCustomEvent(self, args: models.SendCustomEvent, handles: dict, at: float) -> dict:
        fabric = self.fabrics.get(args.pc.id) if args.pc else None
        self.session.send(args.conferenceID, events.custom_event(self.session.sender, fabric, self.port.now(),
                                                                 args.eventData, at))
        return answers.success(answers.say("queued", method="sendCustomEvent"))

    def _sendCustomStats(self, args: models.SendCustomStats, handles: dict, at: float) -> dict:
        fabric = self.fabrics.get(args.pc.id) if args.pc else None
        self.session.send(args.conferenceID, events.custom_stats(self.session.sender, fabric, self.port.now(),
                                                                 args.stats))
        return answers.success(answers.say("queued", method="sendCustomStats"))

    def _setIdentifiers(self, args: models.SetIdentifiers, handles: dict, at: float) -> dict:
        self.session.identifiers.update(args.identifiers.model_dump(exclude_none=True))
        msg = answers.say("done", method="setIdentifiers")
        self._answer_later(handles.get("pcCallback"), "success", msg)
        return answers.success(msg)

    def _on(self, args: models.On, handles: dict, at: float) -> dict:
        self.listeners[args.event] = handles.get("callback")
        return answers.success(answers.say("listening", event=args.event))

    def _setProxyConfig(self, args: models.SetProxyConfig, handles: dict, at: float) -> dict:
        self.proxy = args.config
        return answers.success(answers.say("done", method="setProxyConfig"))

    def _makePrecallTest(self, args: models.MakePrecallTest, handles: dict, at: float) -> dict:
        given = args.iceServers if isinstance(args.iceServers, list) else None
        servers = [server.model_dump(exclude_none=True) for server in given] if given else None
        callback = handles.get("callback") or handles.get("iceServers")  # a handle only when it is a function
        self.session.precall.start(servers, callback)
        return answers.success(answers.say("queued", method="makePrecallTest"))

    def _startPrecallTests(self, args: models.NoArguments, handles: dict, at: float) -> dict:
        self.session.precall.start()
        return answers.success(answers.say("queued", method="startPrecallTests"))

    def _attachWifiStatsHandler(self, args: models.AttachWifiStatsHandler, handles: dict, at: float) -> dict:
        # the loader asks the handler (a page function) and hands its newest answer over with each poll
        return answers.success(answers.say("done", method="attachWifiStatsHandler"))

    def _resetWifiStatsHandler(self, args: models.NoArguments, handles: dict, at: float) -> dict:
        return answers.success(answers.say("done", method="resetWifiStatsHandler"))

    def _stopPrecallTests(self, args: models.NoArguments, handles: dict, at: float) -> dict:
        self.session.precall.stop()
        return answers.success(answers.say("done", method="stopPrecallTests"))

    # ---- helpers ----

    def _answer_later(self, callback, status: str, msg: str) -> None:
        if callback is not None:
            self.port.call_soon(callback, status, msg)

    def _report_error(self, text: str) -> None:
        self.port.log("error", text)
        listener = self.listeners.get("error")
        if listener is not None:
            self.port.call_soon(listener, {"status": "failure", "msg": text, "message": text})

    def goodbye(self, keep: bool = False) -> dict:
        """What a page that is going away sends and keeps (Session.goodbye); `keep`: only what it
        would, now (a farewell). Never raises."""
        nothing = {"requests": [], "key": None, "record": None, "complete": True}
        try:
            return self.session.goodbye(keep) if self.session else nothing
        except Exception as exc:
            self._report_error(f"goodbye: internal error: {type(exc).__name__}: {exc}")
            return nothing

    def inspect(self) -> dict:
        """A plain snapshot of what Python holds (for tests and the demo's debug panel)."""
        transport = self.session.transport if self.session else None
        return {
            "version": self.version,
            "initialized": self.session is not None,
            "fabrics": [{**f.describe(), "lastUploaded": _entries(transport and transport.acknowledged(
                f.conference_id, f.connection_id))} for f in self.fabrics.values()],
            "pollMs": list(self.session.poll_ms) if self.session else [],
            "transport": transport and transport.snapshot(),
        }


def _entries(sample):
    return list(sample.values()) if sample else None


def _plain(value):
    return value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value
