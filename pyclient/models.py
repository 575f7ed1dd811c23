"""The arguments of every callstats API method, as pydantic models: the one source of their rules.

The loader (web/callstats.js) checks the same rules before Python is ready: build.py turns
`api_schema()` into JSON Schema and compiles it to JavaScript. So a limit is changed here, once.

JS values reach these models as their JSON projection, made by the loader:
a function becomes {"$js": "function"}, an RTCPeerConnection {"$js": "pc", "id": n},
an Error {name, message, stack}; `undefined` is left out, `null` stays null.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic_core import PydanticCustomError, core_schema

from . import enums


class MaxBytes:
    """A limit in UTF-8 bytes (SPEC says bytes for ids); JSON Schema gets a `maxBytes` keyword."""

    def __init__(self, limit: int):
        self.limit = limit

    def __get_pydantic_core_schema__(self, source, handler):
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema, handler):
        json_schema = handler(schema)
        json_schema["maxBytes"] = self.limit
        return json_schema

    def _check(self, value: str) -> str:
        if len(value.encode("utf-8")) > self.limit:
            raise PydanticCustomError("max_bytes", "at most {limit} bytes", {"limit": self.limit})
        return value


def Bytes(limit: int, min_chars: int = 1):
    """A string of `min_chars` characters up to `limit` UTF-8 bytes."""
    return Annotated[str, StringConstraints(min_length=min_chars), MaxBytes(limit)]


def Chars(limit: int, min_chars: int = 1):
    """A string of `min_chars` up to `limit` characters (code points)."""
    return Annotated[str, StringConstraints(min_length=min_chars, max_length=limit)]


def OneOf(enum: dict, exclude: tuple = ()):
    """A string enum from enums.py, so that the values are written once."""
    return Literal[tuple(v for k, v in enum.items() if k not in exclude)]  # type: ignore[valid-type]


class Model(BaseModel):
    # Strict: JS has no implicit conversions to hide; "5" is not a number and 5 is not a string.
    # Extra keys are ignored: deployed pages pass objects with fields we do not know.
    # Validators are built by warm() when the client starts (pyclient.browser.start), in one go.
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


class JsFunction(Model):
    kind: Literal["function"] = Field(alias="$js")


class PcRef(Model):
    kind: Literal["pc"] = Field(alias="$js")
    id: Annotated[int, Field(ge=0)]


class UserIDObject(Model):
    userName: Chars(128)
    aliasName: Chars(128)
    loginID: Optional[Chars(128)] = None


UserID = Union[Bytes(128), UserIDObject]
ConferenceID = Bytes(256)
AppID = Union[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")], Annotated[int, Field(ge=0)]]
Rating = Annotated[int, Field(ge=1, le=5)]
CollectorURL = Annotated[str, StringConstraints(pattern=r"^https://[^\s/]+(/[^\s]*)?/$", max_length=2048)]
SDP = Annotated[str, StringConstraints(max_length=1_000_000)]
IceURL = Annotated[str, StringConstraints(pattern=r"^(turns?|stuns?):[^\s]+$", max_length=2048)]


class AdditionalIDs(Model):
    customerID: Optional[Bytes(256)] = None
    tenantID: Optional[Bytes(256)] = None
    productName: Optional[Bytes(256)] = None
    meetingsName: Optional[Bytes(256)] = None
    serverName: Optional[Bytes(256)] = None
    pbxID: Optional[Bytes(256)] = None
    pbxExtensionID: Optional[Bytes(256)] = None
    fqExtensionID: Optional[Bytes(256)] = None
    sessionID: Optional[Bytes(256)] = None


class ConfigParams(Model):
    disableBeforeUnloadHandler: bool = False
    applicationVersion: Optional[Chars(30)] = None
    disablePrecalltest: bool = False
    siteID: Optional[Bytes(256)] = None
    collectLegacyStats: bool = True
    collectIP: bool = True
    additionalIDs: Optional[AdditionalIDs] = None


class FabricAttributes(Model):
    remoteEndpointType: OneOf(enums.endpointType) = "peer"
    fabricTransmissionDirection: OneOf(enums.transmissionDirection) = "sendrecv"


class DomError(Model):
    name: Optional[Chars(256, 0)] = None
    message: Optional[Chars(10_000, 0)] = None
    stack: Optional[Chars(20_000, 0)] = None
    constraintName: Optional[Chars(1_000, 0)] = None


class Device(Model):
    deviceId: Chars(512, 0)
    kind: Chars(64, 0)
    label: Chars(512, 0) = ""
    groupId: Chars(512, 0) = ""


class DeviceListData(Model):
    deviceList: Annotated[list[Device], Field(max_length=256)]


class AppLogData(Model):
    message: Chars(100_000)


class CallAttributes(Model):
    callType: OneOf(enums.callType) = "unknown"
    role: OneOf(enums.roles) = "participant"


class Feedback(Model):
    userID: UserID
    overall: Rating
    audio: Optional[Rating] = None
    video: Optional[Rating] = None
    comment: Optional[Chars(2000, 0)] = None


class ProxyConfig(Model):
    collectorURL: Optional[CollectorURL] = None
    authServiceURL: Optional[CollectorURL] = None
    restEventURL: Optional[CollectorURL] = None
    restStatsURL: Optional[CollectorURL] = None


# ---- one model per method; field order is the order of the positional arguments ----


class Initialize(Model):
    AppID: AppID
    AppSecret: Union[Annotated[str, StringConstraints(min_length=1, max_length=4096)], JsFunction]
    localUserID: UserID
    csInitCallback: Optional[JsFunction] = None
    csStatsCallback: Optional[JsFunction] = None
    configParams: Optional[ConfigParams] = None


class AddNewFabric(Model):
    pc: PcRef
    remoteUserID: UserID
    fabricUsage: OneOf(enums.fabricUsage)
    conferenceID: ConferenceID
    fabricAttributes: Optional[FabricAttributes] = None
    pcCallback: Optional[JsFunction] = None


class ReportError(Model):
    pc: Optional[PcRef]
    conferenceID: ConferenceID
    webRTCFunction: OneOf(enums.webRTCFunctions)
    domError: Union[DomError, Chars(10_000, 0), None] = None
    localSDP: Optional[SDP] = None
    remoteSDP: Optional[SDP] = None


# sendFabricEvent(pc, fabricEvent, conferenceID, eventData): one model per kind of eventData.
class PlainFabricEvent(Model):
    pc: PcRef
    # fabricSetupFailed is reported with reportError; the two below need their eventData.
    fabricEvent: OneOf(enums.fabricEvent, exclude=("fabricSetupFailed", "activeDeviceList", "applicationErrorLog"))
    conferenceID: ConferenceID
    eventData: Optional[dict[str, Any]] = None


class DeviceListEvent(Model):
    pc: PcRef
    fabricEvent: Literal["activeDeviceList"]
    conferenceID: ConferenceID
    eventData: DeviceListData


class AppErrorLogEvent(Model):
    pc: PcRef
    fabricEvent: Literal["applicationErrorLog"]
    conferenceID: ConferenceID
    eventData: AppLogData


SendFabricEvent = Annotated[
    Union[PlainFabricEvent, DeviceListEvent, AppErrorLogEvent], Field(discriminator="fabricEvent")
]


class SendCallDetails(Model):
    pc: PcRef
    conferenceID: ConferenceID
    callAttributes: CallAttributes


class AssociateMstWithUserID(Model):
    pc: PcRef
    userID: UserID
    conferenceID: ConferenceID
    SSRC: Union[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")], Annotated[int, Field(ge=0, le=4294967295)]]
    usageLabel: Bytes(20)
    associatedVideoTag: Optional[Chars(256)] = None


class SendUserFeedback(Model):
    conferenceID: ConferenceID
    feedback: Feedback
    pcCallback: Optional[JsFunction] = None


class SendCustomEvent(Model):
    pc: Optional[PcRef]
    conferenceID: ConferenceID
    eventData: dict[str, Any]


class SendCustomStats(Model):
    pc: Optional[PcRef]
    conferenceID: ConferenceID
    stats: dict[str, Any]


class SetIdentifiers(Model):
    identifiers: AdditionalIDs
    pcCallback: Optional[JsFunction] = None


class On(Model):
    event: Literal["stats", "error", "defaultConfig", "recommendedConfig", "preCallTestResults",
                   "connectionRecommendation"]
    callback: JsFunction


class SetProxyConfig(Model):
    config: ProxyConfig


class IceServer(Model):
    """An RTCIceServer a page hands to makePrecallTest (only its TURN URLs are used)."""

    urls: Union[IceURL, Annotated[list[IceURL], Field(min_length=1, max_length=10)]]
    username: Optional[Chars(512, 0)] = None
    credential: Optional[Chars(512, 0)] = None


class MakePrecallTest(Model):
    # iceServers may be left out, or be the callback itself (makePrecallTest(callback))
    iceServers: Optional[Union[Annotated[list[IceServer], Field(min_length=1, max_length=10)], JsFunction]] = None
    callback: Optional[JsFunction] = None


class NoArguments(Model):
    pass


class AttachWifiStatsHandler(Model):
    # handler() returns a promise of a JSON string of Wi-Fi figures (Electron apps); the loader
    # asks it every 10 s and the newest goes with each stats upload (web/device.js)
    handler: JsFunction


@dataclass(frozen=True)
class Method:
    """What the API (and the loader, before Python is ready) knows of one method."""

    name: str
    arity: int  # fn.length as deployed
    args: Any  # the model (or annotated union) of its arguments
    needs_init: bool = True  # answers "not initialized" before a successful initialize
    # "added": pc must have been added with addNewFabric for the conferenceID;
    # "added_if_given": same, but pc may be null; "adds": this call adds it.
    pc_rule: Optional[str] = None

    @property
    def arg_names(self) -> list[str]:
        model = self.args
        if not isinstance(model, type):  # the sendFabricEvent union: every member has the same fields
            model = PlainFabricEvent
        return list(model.model_fields)


METHODS = {
    m.name: m
    for m in (
        Method("initialize", 6, Initialize, needs_init=False),
        Method("addNewFabric", 6, AddNewFabric, pc_rule="adds"),
        Method("reportError", 6, ReportError, pc_rule="added_if_given"),
        Method("sendFabricEvent", 4, SendFabricEvent, pc_rule="added"),
        Method("sendCallDetails", 3, SendCallDetails, pc_rule="added"),
        Method("associateMstWithUserID", 6, AssociateMstWithUserID, pc_rule="added"),
        Method("sendUserFeedback", 3, SendUserFeedback),
        Method("sendCustomEvent", 3, SendCustomEvent, pc_rule="added_if_given"),
        Method("sendCustomStats", 3, SendCustomStats, pc_rule="added_if_given"),
        Method("setIdentifiers", 2, SetIdentifiers),
        Method("on", 2, On, needs_init=False),
        Method("setProxyConfig", 1, SetProxyConfig, needs_init=False),
        # arities as the deployed callstats.js 3.73.16 has them (makePrecallTest(a, b, c),
        # startPrecallTests(a, b)), whatever arguments are used
        Method("makePrecallTest", 3, MakePrecallTest),
        Method("startPrecallTests", 2, NoArguments),
        Method("stopPrecallTests", 0, NoArguments),
        Method("attachWifiStatsHandler", 1, AttachWifiStatsHandler, needs_init=False),
        Method("resetWifiStatsHandler", 0, NoArguments, needs_init=False),
    )
}

# Present in the last public callstats.js; they answer "not supported": getTurnCredentials(AppID,
# AppSecret) handed the app callstats.io's own TURN service's credentials (a self-hosted collector
# hands its TURN servers to the pre-call test instead), getSctResults the results of a test that
# is not the pre-call test. Arities as deployed.
UNSUPPORTED = {
    "getTurnCredentials": 2,
    "getSctResults": 0,
}

_ADAPTERS = {
    name: TypeAdapter(m.args) if isinstance(m.args, type) else TypeAdapter(m.args, config=ConfigDict(defer_build=True))
    for name, m in METHODS.items()
}


def adapter(method: str) -> TypeAdapter:
    return _ADAPTERS[method]


def warm() -> None:
    """Build every validator now (at start, off the page's main thread) rather than at first use:
    each model, defined leaves first so a parent reuses its children's, then each method's adapter."""
    for model in [v for v in globals().values() if isinstance(v, type) and issubclass(v, Model)]:
        model.model_rebuild()
    for built in _ADAPTERS.values():
        built.rebuild()


def api_schema() -> dict:
    """Everything the loader needs to answer calls before Python is ready (build.py writes it)."""
    methods = {
        name: {
            "arity": m.arity,
            "args": m.arg_names,
            "needsInit": m.needs_init,
            "pcRule": m.pc_rule,
            "schema": _ADAPTERS[name].json_schema(),
        }
        for name, m in METHODS.items()
    }
    return {"methods": methods, "unsupported": UNSUPPORTED, "enums": enums.ALL}
