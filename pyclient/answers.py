"""What every API method returns: {status, msg, message}, and failure texts that name the argument.

The loader words its early answers the same way (build.py hands it MESSAGES), so a page sees one
wording whether Python was ready or not.
"""

import json

from pydantic import ValidationError

MESSAGES = {
    # what a good call is answered (the loader gives these on the main thread: see web/callstats.js)
    "queuedUntilReady": "{method}: queued until callstats is ready",
    "authenticating": "initialize: authentication started",
    "alreadyInitialized": "initialize: already initialized",
    "monitoring": "addNewFabric: monitoring started",
    "alreadyMonitored": "addNewFabric: pc already monitored",
    "sentAsLog": "reportError: sent as an application log",
    "sentAsSetupFailed": "reportError: sent as fabric setup failed",
    "eventQueued": "sendFabricEvent: {event} queued",
    "queued": "{method}: queued",
    "done": "{method}: done",
    "listening": "on: listening to {event}",
    "proxyAfterInit": "setProxyConfig: Invalid config (must be set before initialize)",
    "cut": "{arg} cut: {why}",
    # what a bad one is answered
    "notInitialized": "{method}: not initialized (call initialize first)",
    "pcNotAdded": "{method}: Invalid pc (not added with addNewFabric for conferenceID {conferenceID})",
    "pcOtherConference": "{method}: Invalid pc (already added for conferenceID {conferenceID})",
    "unsupported": "{method}: not supported",
    "missing": "{method}: Missing {arg}",
    "invalid": "{method}: Invalid {arg} value {value}",
}

SHOWN_CHARS = 60  # a bad value is echoed, cut to this many characters


def success(msg: str) -> dict:
    return {"status": "success", "msg": msg, "message": msg}


def failure(msg: str) -> dict:
    return {"status": "failure", "msg": msg, "message": msg}


def say(key: str, **fields) -> str:
    return MESSAGES[key].format(**fields)


def show(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def describe(method: str, error: ValidationError, args: dict, arg_names: list[str]) -> str:
    """The message for the most specific error: the one deepest into the arguments, ties going
    to the earliest argument, then to a wrong value over a missing one (the loader's describe()
    applies the same rule)."""

    def rank(found):
        path, _, missing = found
        first = arg_names.index(path[0]) if path and path[0] in arg_names else len(arg_names)
        return (len(path), -first, not missing)

    best = max((_locate(e, args) for e in error.errors()), key=rank)
    path, value, missing = best
    arg = ".".join(str(p) for p in path) or "arguments"
    if missing:
        return say("missing", method=method, arg=arg)
    return say("invalid", method=method, arg=arg, value=show(value))


def _locate(err: dict, args) -> tuple[list, object, bool]:
    """Follow the error's location through the data, skipping pydantic's union branch names."""
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):  # the discriminator is bad
        key = err["ctx"]["discriminator"].strip("'")
        return [key], args.get(key), key not in args
    path, node = [], args
    for step in err["loc"]:
        if isinstance(node, dict) and step in node:
            path.append(step)
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            path.append(step)
            node = node[step]
        elif err["type"] == "missing" and step == err["loc"][-1]:
            return path + [step], None, True
    return path, node, False
