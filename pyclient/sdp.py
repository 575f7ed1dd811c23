"""The SSRCs a session description announces, for the `events/ssrcmap` event (SPEC part 2).

Browsers write them differently: Chrome repeats `a=ssrc:<n> msid:<stream> <track>` per SSRC,
Firefox gives the msid once per media section (`a=msid:`) and only `cname` per SSRC. Both group
a retransmission SSRC with its media SSRC (`a=ssrc-group:FID <media> <rtx>`); only the media SSRC
is a stream of its own in getStats(), so the rtx one is left out. A section that does not send
(recvonly, inactive, or rejected with port 0 and no bundle) announces no stream.
"""

from typing import Optional

SENDING = ("sendrecv", "sendonly")


def streams(sdp: Optional[str], local: bool) -> list[dict]:
    """One entry per sending SSRC: {ssrc, cname, msid, mslabel, label, mediaType, streamType,
    reportType}; streamType is "outbound" for what the local description sends, "inbound" for
    what the remote one does."""
    if not sdp:
        return []
    out = []
    for section in _sections(sdp):
        if section["direction"] not in SENDING or section["rejected"]:
            continue
        for ssrc, fields in section["ssrcs"].items():
            if ssrc in section["rtx"]:
                continue
            msid = fields.get("msid") or section["msid"]
            stream_id, _, track_id = (msid or "").partition(" ")
            out.append({"ssrc": ssrc, "cname": fields.get("cname"), "msid": msid, "mslabel": stream_id or None,
                        "label": track_id or None, "mediaType": section["media"],
                        "streamType": "outbound" if local else "inbound", "reportType": "local" if local else "remote"})
    return out


def ice_ufrag(sdp: Optional[str]) -> Optional[str]:
    """The first ICE username fragment: a new one means ICE restarted."""
    for line in (sdp or "").replace("\r\n", "\n").split("\n"):
        if line.startswith("a=ice-ufrag:"):
            return line[len("a=ice-ufrag:"):].strip()
    return None


def _sections(sdp: str) -> list[dict]:
    sections = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            media, port = (line[2:].split() + ["", ""])[:2]
            sections.append({"media": media, "rejected": port == "0", "direction": "sendrecv", "msid": None,
                             "ssrcs": {}, "rtx": set()})
            continue
        if not sections:
            continue
        _attribute(sections[-1], line)
    return sections


def _attribute(section: dict, line: str) -> None:
    if line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
        section["direction"] = line[2:]
    elif line == "a=bundle-only":  # port 0 here means "on the bundled transport", not rejected
        section["rejected"] = False
    elif line.startswith("a=msid:"):
        section["msid"] = line[len("a=msid:"):].strip()
    elif line.startswith("a=ssrc-group:FID "):
        ssrcs = line.split()[1:]
        section["rtx"].update(ssrcs[1:])
    elif line.startswith("a=ssrc:"):
        ssrc, _, attribute = line[len("a=ssrc:"):].partition(" ")
        name, _, value = attribute.partition(":")
        if ssrc.isdigit() and name in ("cname", "msid"):
            section["ssrcs"].setdefault(ssrc, {})[name] = value.strip()
