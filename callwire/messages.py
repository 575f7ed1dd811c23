"""The collector protocol's messages (SPEC part 2): one definition for the client and the collector.

Bodies are what the deployed callstats.js sends, so every model accepts fields it does not name
(they are stored as received) and checks the ones it does. Limits here are the collector's 400s.
"""

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Text = Annotated[str, StringConstraints(max_length=100_000)]
Millis = Annotated[Union[int, float], Field(ge=0, le=1e14)]  # ms since the epoch (may be fractional)


class Body(BaseModel):
    """What every event body carries."""

    # strict: a field we check is stored exactly as sent ("5" is not a timestamp)
    model_config = ConfigDict(extra="allow", defer_build=True, strict=True)
    localID: Id
    deviceID: Id
    timestamp: Millis
    callstatsVersion: Optional[Annotated[str, StringConstraints(max_length=64)]] = None
    eventType: Optional[Annotated[str, StringConstraints(max_length=64)]] = None
    originID: Optional[Id] = None
    # an idempotency key: a retried item with the same key is stored once
    itemID: Optional[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = None


class FabricBody(Body):
    remoteID: Id
    connectionID: Id


class EndpointInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Optional[Annotated[str, StringConstraints(max_length=32)]] = None
    buildName: Optional[Annotated[str, StringConstraints(max_length=128)]] = None
    buildVersion: Optional[Annotated[str, StringConstraints(max_length=128)]] = None
    os: Optional[Annotated[str, StringConstraints(max_length=128)]] = None
    osVersion: Optional[Annotated[str, StringConstraints(max_length=128)]] = None
    appVersion: Optional[Annotated[str, StringConstraints(max_length=128)]] = None
    userAgent: Optional[Annotated[str, StringConstraints(max_length=1024)]] = None


class JoinBody(Body):
    endpointInfo: Optional[EndpointInfo] = None
    siteID: Optional[Annotated[str, StringConstraints(max_length=256)]] = None
    additionalIDs: Optional[dict[str, Any]] = None
    remoteID: Optional[Id] = None


class StateChangeBody(FabricBody):
    changedState: Literal["signalingState", "iceConnectionState", "iceGatheringState", "connectionState"]
    prevState: Optional[Annotated[str, StringConstraints(max_length=64)]] = None
    newState: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SetupBody(FabricBody):
    delay: Optional[Annotated[float, Field(ge=0)]] = None
    iceGatheringDelay: Optional[Annotated[float, Field(ge=0)]] = None
    iceConnectivityDelay: Optional[Annotated[float, Field(ge=0)]] = None


class SsrcEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    ssrc: Union[Annotated[str, StringConstraints(min_length=1, max_length=20)], Annotated[int, Field(ge=0)]]


class SsrcMapBody(FabricBody):
    ssrcData: Annotated[list[SsrcEntry], Field(max_length=1000)]


class FeedbackRatings(BaseModel):
    model_config = ConfigDict(extra="allow")
    overallRating: Annotated[int, Field(ge=1, le=5)]
    audioQualityRating: Optional[Annotated[int, Field(ge=1, le=5)]] = None
    videoQualityRating: Optional[Annotated[int, Field(ge=1, le=5)]] = None
    comments: Optional[Annotated[str, StringConstraints(max_length=2000)]] = None


class FeedbackBody(Body):
    feedback: FeedbackRatings
    remoteID: Optional[Id] = None


class DeviceListBody(Body):
    mediaDeviceList: Annotated[list[dict[str, Any]], Field(max_length=256)]


class StatsBody(FabricBody):
    """stats: getStats entries, each {id, type, timestamp, ...}. With `delta: true` each entry
    holds only what changed since the previous sample of the same connection; `seq` orders them."""

    stats: Annotated[list[dict[str, Any]], Field(max_length=5000)]
    delta: bool = False
    seq: Optional[Annotated[int, Field(ge=0)]] = None
    # the timestamp of the entries that leave theirs out (ours; the deployed client sends none)
    statsTimestamp: Optional[Millis] = None


class CustomStatsBody(Body):
    stats: Union[list[dict[str, Any]], dict[str, Any]]
    remoteID: Optional[Id] = None
    connectionID: Optional[Id] = None


class GenericsBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    appID: Optional[Union[str, int]] = None
    userID: Optional[Annotated[str, StringConstraints(max_length=512)]] = None
    version: Optional[Annotated[str, StringConstraints(max_length=64)]] = None
    eventType: Optional[Literal["log", "warn", "error"]] = None
    data: Optional[dict[str, Any]] = None


# Every event kind of SPEC part 2 -> its body model (the path after .../{ucID}/).
EVENT_KINDS: dict[str, type[Body]] = {
    "events/user/alive": Body,
    "events/user/left": Body,
    "events/userdetails": Body,
    "events/fabric/setup": SetupBody,
    "events/fabric/setupfailed": Body,
    "events/fabric/statechange": StateChangeBody,
    "events/fabric/transportchange": FabricBody,
    "events/fabric/terminated": FabricBody,
    "events/fabric/actions": FabricBody,
    "events/fabric/status": FabricBody,
    "events/fabric/disruptions": FabricBody,
    "events/fabric/details": Body,
    "events/fabric/usage": FabricBody,
    "events/media/actions": Body,
    "events/media/pipeline": Body,
    "events/ice/status": FabricBody,
    "events/ssrcmap": SsrcMapBody,
    "events/sdp": FabricBody,
    "events/feedback": FeedbackBody,
    "events/dominantspeaker": Body,
    "events/devices/list": DeviceListBody,
    "events/customevent": Body,
    "events/conferencesummary": Body,
    "events/app/logs": Body,
    "events/calldetails": Body,
    "events/precall": Body,
    "events/precallnotification": Body,
}
STATS_KINDS: dict[str, type[Body]] = {"stats": StatsBody, "customstats": CustomStatsBody}


class Batch(BaseModel):
    """Several items in one request: [{"kind": "events/fabric/setup", "body": {...}}, ...]."""

    items: Annotated[list["BatchItem"], Field(min_length=1, max_length=500)]


class BatchItem(BaseModel):
    kind: Annotated[str, StringConstraints(max_length=64)]
    body: dict[str, Any]
