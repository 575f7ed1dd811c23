"""collectIP: false means no IP address leaves the browser (SPEC part 1, configParams)."""

import ipaddress
import re

ADDRESS_FIELDS = ("address", "ip", "relatedAddress")
SDP_LINES_WITH_ADDRESSES = ("c=", "o=", "a=candidate", "a=rtcp:", "a=remote-candidates")
REDACTED = {4: "0.0.0.0", 6: "::"}
# Candidates for an address inside free text (a URL's host in a stack trace, a message);
# each is checked with ipaddress before it is replaced.
IPV4_IN_TEXT = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
IPV6_IN_TEXT = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def redact_sample(sample: dict) -> dict:
    """Candidates keep their type, protocol and port; their addresses are dropped."""
    out = {}
    for entry_id, entry in sample.items():
        if entry.get("type") in ("local-candidate", "remote-candidate"):
            entry = {k: v for k, v in entry.items() if k not in ADDRESS_FIELDS}
        out[entry_id] = entry
    return out


def redact_sdp(sdp):
    """Every token that is an IP address, on the lines that carry them, becomes 0.0.0.0 or ::
    (other lines, e.g. fingerprints, only look like addresses)."""
    if sdp is None:
        return None
    lines = []
    for line in sdp.split("\n"):
        if line.startswith(SDP_LINES_WITH_ADDRESSES):
            line = " ".join(_redact_token(token) for token in line.split(" "))
        lines.append(line)
    return "\n".join(lines)


def redact_text(text):
    """Every IPv4 or IPv6 address anywhere in `text` becomes 0.0.0.0 or ::. Error reports carry
    free text: Firefox's stack traces name the page's URL, whose host may be an address."""
    if not isinstance(text, str):
        return text
    for pattern in (IPV6_IN_TEXT, IPV4_IN_TEXT):
        text = pattern.sub(lambda found: _redact_token(found.group(0)), text)
    return text


def _redact_token(token: str) -> str:
    bare = token.rstrip("\r")
    try:
        version = ipaddress.ip_address(bare.split("%")[0]).version
    except ValueError:
        return token
    return REDACTED[version] + token[len(bare):]
