"""One monitored RTCPeerConnection: what it was added with, and its state timeline."""

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

# DOM event name -> the state it changes (the names the wire's statechange events use); the loader
# gets this and CONNECTED from build.py.
STATE_OF_EVENT = {
    "signalingstatechange": "signalingState",
    "iceconnectionstatechange": "iceConnectionState",
    "icegatheringstatechange": "iceGatheringState",
    "connectionstatechange": "connectionState",
}


# A pc is connected (it can carry media or tell of an error after setup) once either says so. Its
# setup ends when connectionState does (ICE and DTLS done), or ICE where a browser has no
# connectionState.
CONNECTED = {"connectionState": ("connected",), "iceConnectionState": ("connected", "completed")}


@dataclass
class Fabric:
    pc_id: int
    conference_id: str
    remote_user_id: Any
    usage: str
    attributes: dict
    added_at: float
    states: dict = field(default_factory=dict)
    timeline: list = field(default_factory=list)  # [{"t", "changedState", "prevState", "newState"}]
    connected_at: Optional[float] = None
    setup_state: str = "connectionState"  # the state whose "connected" ends the setup (see CONNECTED)
    set_up_at: Optional[float] = None  # when it did
    created_at: Optional[float] = None  # when the page made the pc, if the loader saw it (it observes every pc)
    up_when_added: bool = False  # set up when handed over, its connecting unseen: no setup delay known
    terminated: bool = False
    connection_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])  # the wire's fabric id
    on_change: Optional[Callable[[dict], None]] = None  # told of every state change, replayed ones too
    setup_sent: bool = False
    last_sample: Optional[dict] = None  # the last getStats() sample, by entry id
    last_sample_bytes: int = 0  # its report's JSON length: what it holds of the send buffer
    last_upload_at: float = 0.0
    last_sample_queued: bool = False  # last_sample went up already: the fabric's end adds no copy
    rtt: Optional[float] = None
    ssrc_users: dict = field(default_factory=dict)  # ssrc -> {userID, usageLabel} (associateMstWithUserID)
    sdp: dict = field(default_factory=dict)  # {"localSDP", "remoteSDP"}: the newest descriptions
    sdp_changed: set = field(default_factory=set)  # which of them changed since the last ssrcmap/sdp event
    ssrcs_sent: list = field(default_factory=list)  # the last ssrcmap's entries
    ice_ufrag: Optional[str] = None  # the local description's: a new one means ICE restarted
    pair: Optional[dict] = None  # the selected candidate pair (stats.pair_summary), once known

    def start(self, initial_states: dict, backlog: list, created_at: Optional[float] = None) -> None:
        """Begin from the states the pc had when the loader first saw it (at its creation when it
        saw that: `created_at`), then replay what it did since."""
        self.created_at = created_at
        self.states = {name: initial_states.get(name) for name in STATE_OF_EVENT.values()}
        if self.states["connectionState"] is None:
            self.setup_state = "iceConnectionState"
        self._descriptions(initial_states)
        if any(self.states.get(name) in values for name, values in CONNECTED.items()):
            self.connected_at = self.added_at  # up already, and when it connected was not seen
        if self.states[self.setup_state] in CONNECTED[self.setup_state]:
            self.set_up_at = self.added_at
            self.up_when_added = True
        for event in backlog:
            self.on_pc_event(event)

    def on_pc_event(self, event: dict) -> Optional[dict]:
        """Record one recorded DOM event; returns the state change, or None if nothing changed."""
        name = STATE_OF_EVENT.get(event.get("kind"))
        if name is None:
            return None
        self._descriptions(event)
        prev, new = self.states.get(name), event.get("state")
        if prev == new:
            return None
        self.states[name] = new
        change = {"t": event["t"], "changedState": name, "prevState": prev, "newState": new}
        self.timeline.append(change)
        if self.connected_at is None and new in CONNECTED.get(name, ()):
            self.connected_at = event["t"]
        if self.set_up_at is None and name == self.setup_state and new in CONNECTED[name]:
            self.set_up_at = event["t"]
        if self.on_change is not None:
            self.on_change(change)
        return change

    def sets_up(self, change: dict) -> bool:
        """Whether this change (from on_pc_event) is the one that ended the pc's setup."""
        return change["changedState"] == self.setup_state and change["t"] == self.set_up_at

    def state_since(self, name: str) -> Optional[float]:
        """When `name` took the state it had before the newest change of it."""
        changes = [c["t"] for c in self.timeline if c["changedState"] == name]
        return changes[-2] if len(changes) > 1 else self.added_at

    def _descriptions(self, event: dict) -> None:
        for side in ("localSDP", "remoteSDP"):
            if isinstance(event.get(side), str):
                self.sdp[side] = event[side]
                self.sdp_changed.add(side)

    @property
    def setup_delay(self) -> Optional[float]:
        """From the pc's creation (or, where the loader did not see that, from addNewFabric) to
        connected; None where its connecting was not seen (never an invented 0)."""
        if self.set_up_at is None or self.up_when_added:
            return None
        start = self.created_at if self.created_at is not None else self.added_at
        return max(0.0, self.set_up_at - start)

    def _first(self, name: str, states: tuple) -> Optional[float]:
        return next((c["t"] for c in self.timeline if c["changedState"] == name and c["newState"] in states), None)

    @property
    def ice_gathering_delay(self) -> Optional[float]:
        start, done = self._first("iceGatheringState", ("gathering",)), self._first("iceGatheringState", ("complete",))
        return done - start if start is not None and done is not None else None

    @property
    def ice_connectivity_delay(self) -> Optional[float]:
        start = self._first("iceConnectionState", ("checking",))
        done = self._first("iceConnectionState", ("connected", "completed"))
        return done - start if start is not None and done is not None else None

    def describe(self) -> dict:
        return {
            "pcId": self.pc_id,
            "conferenceID": self.conference_id,
            "remoteUserID": self.remote_user_id,
            "fabricUsage": self.usage,
            "fabricAttributes": self.attributes,
            "addedAt": self.added_at,
            "states": dict(self.states),
            "timeline": list(self.timeline),
            "connectedAt": self.connected_at,
            "createdAt": self.created_at,
            "connectionID": self.connection_id,
            "setupDelay": self.setup_delay,
            "selectedPair": self.pair["id"] if self.pair else None,  # as the last poll or setup saw it
            "terminated": self.terminated,
        }
