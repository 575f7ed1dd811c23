"""What the client keeps in the page's localStorage: the keys, and the shape of each record.

The loader reads and writes the same keys (build.py hands it KEYS), and writes the early record
itself; Python reads every record through these models, so a record that is not what they say is
dropped as unreadable, never half-read.
"""

from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict

# key -> what is kept under it (each but the device id is followed by the AppID)
KEYS = {
    "deviceID": "callstats.deviceID",  # a random id for this browser
    "unsent": "callstats.unsent.",  # + AppID + "." + a random id: what a page could not send (pyclient.handover)
    "early": "callstats.early.",  # + AppID + "." + a random id: a page closed before Python was ready (pyclient.replay)
    "precall": "callstats.precall.",  # + AppID: the last pre-call test results, oldest first (pyclient.precall)
}
PREFIX = "callstats."  # every key: what the loader hands Python when it starts


class Record(BaseModel):
    model_config = ConfigDict(defer_build=True)


class UnsentItem(Record):
    """An item as it was encoded when the page went away."""

    o: str = ""  # its origin: "" for the page that kept it, else the earlier page it came from
    c: str  # conference
    u: Optional[str] = None  # the ucID of its join, if the page had joined
    k: str  # kind
    b: str  # body, encoded


class UnsentRecord(Record):
    app: str
    user: str
    saved: float
    items: list[UnsentItem]


class EarlyCall(Record):
    method: str
    args: str  # the arguments' JSON projection, as the loader made it (AppSecret left out)
    at: float


class RecordedPc(Record):
    initial: dict[str, Any]  # its states (and descriptions) when first handed over
    backlog: list[dict[str, Any]]  # its events since


class EarlyRecord(Record):
    """Written by the loader (web/callstats.js keepEarly) when a page closes before Python is ready."""

    app: str
    user: Union[str, dict[str, Any]]  # localUserID as the page gave it
    closedAt: Optional[float] = None
    calls: list[EarlyCall]
    pcs: dict[str, RecordedPc] = {}
