"""getStats() samples -> the figures of each RTP stream over an interval: bitrate, packet rate,
loss, jitter, rtt, MOS and quality (the Stream objects of SPEC part 1). The client reports them in
csStatsCallback; the collector works them out again from what it stored, so both agree.

Figures over an interval need two samples: the first sample of a stream gives quality "unknown".
Counters that go backwards (a stream restarted) give no figure for that interval.
"""

from typing import Optional

from . import quality

RTP = ("inbound-rtp", "outbound-rtp")


def selected_pair(sample: dict) -> Optional[dict]:
    for entry in sample.values():
        if entry.get("type") == "transport" and entry.get("selectedCandidatePairId") in sample:
            return sample[entry["selectedCandidatePairId"]]
    for entry in sample.values():  # browsers without transport stats
        if entry.get("type") == "candidate-pair" and entry.get("nominated") and entry.get("state") == "succeeded":
            return entry
    return None


def pair_rtt_ms(pair: Optional[dict]) -> Optional[float]:
    """The selected pair's current round trip (ms)."""
    if pair and pair.get("currentRoundTripTime") is not None:
        return pair["currentRoundTripTime"] * 1000
    return None


def streams(previous: Optional[dict], current: dict) -> list[dict]:
    """The Stream objects of SPEC part 1 for every inbound and outbound RTP stream."""
    rtt = pair_rtt_ms(selected_pair(current))
    remote_of = {e.get("localId"): e for e in current.values() if e.get("type") == "remote-inbound-rtp"}
    out = []
    for entry in current.values():
        if entry.get("type") not in RTP:
            continue
        before = (previous or {}).get(entry["id"])
        out.append(_stream(entry, before, current, remote_of.get(entry["id"]), rtt))
    return out


def _stream(entry: dict, before: Optional[dict], sample: dict, remote: Optional[dict], pair_rtt: Optional[float]) -> dict:
    outbound = entry["type"] == "outbound-rtp"
    media = entry.get("kind") or entry.get("mediaType")
    stream = {
        "ssrc": str(entry.get("ssrc")), "statsType": entry["type"], "mediaType": media,
        "bitrate": None, "packetRate": None, "fractionLoss": None, "quality": "unknown",
        "jitter": None, "rtt": pair_rtt, "mos": None,
        "frameRate": entry.get("framesPerSecond"), "frameWidth": entry.get("frameWidth"),
        "frameHeight": entry.get("frameHeight"), "qualityLimitationReason": entry.get("qualityLimitationReason"),
        "cname": None, "msid": entry.get("trackIdentifier"),
    }
    if outbound and remote:
        stream["jitter"] = _ms(remote.get("jitter"))
        stream["rtt"] = _ms(remote.get("roundTripTime")) if remote.get("roundTripTime") is not None else pair_rtt
    if not outbound:
        stream["jitter"] = _ms(entry.get("jitter"))
    if before is None:
        return stream
    seconds = (entry.get("timestamp", 0) - before.get("timestamp", 0)) / 1000
    bytes_key, packets_key = ("bytesSent", "packetsSent") if outbound else ("bytesReceived", "packetsReceived")
    d_bytes = _delta(entry, before, bytes_key)
    d_packets = _delta(entry, before, packets_key)
    if seconds > 0 and d_bytes is not None:
        stream["bitrate"] = round(d_bytes * 8 / seconds / 1000, 2)  # kbit/s
    if seconds > 0 and d_packets is not None:
        stream["packetRate"] = round(d_packets / seconds, 2)
    stream["fractionLoss"] = _outbound_loss(remote) if outbound else _inbound_loss(entry, before)
    if media == "audio":
        buffer_ms = None if outbound else _jitter_buffer_ms(entry, before)
        stream["mos"] = quality.audio_mos(stream["rtt"], stream["jitter"], stream["fractionLoss"], buffer_ms,
                                          _codec(sample, entry))
        stream["quality"] = quality.rating_of_mos(stream["mos"])
    else:
        expected_fps, expected_height = _sent_format(sample, entry) if outbound else (None, None)
        stream["quality"] = quality.video_rating(stream["fractionLoss"], stream["rtt"], stream["frameRate"],
                                                 expected_fps, stream["frameHeight"], expected_height)
    if not outbound and media == "video":
        stream["freezeCount"] = _delta(entry, before, "freezeCount")
    if not outbound and media == "audio":
        concealed, total = _delta(entry, before, "concealedSamples"), _delta(entry, before, "totalSamplesReceived")
        stream["concealment"] = round(concealed / total, 4) if concealed is not None and total else None
    return stream


def _ms(seconds) -> Optional[float]:
    return None if seconds is None else round(seconds * 1000, 3)


def _delta(entry: dict, before: dict, key: str) -> Optional[float]:
    now, then = entry.get(key), before.get(key)
    if now is None or then is None or now < then:  # missing, or the counter restarted
        return None
    return now - then


def _inbound_loss(entry: dict, before: dict) -> Optional[float]:
    lost, received = _delta(entry, before, "packetsLost"), _delta(entry, before, "packetsReceived")
    if lost is None or received is None:
        return None
    return round(lost / (lost + received), 4) if lost + received > 0 else 0.0


def _outbound_loss(remote: Optional[dict]) -> Optional[float]:
    if remote is None or remote.get("fractionLost") is None:
        return None
    return round(max(0.0, min(1.0, remote["fractionLost"])), 4)


def _jitter_buffer_ms(entry: dict, before: dict) -> Optional[float]:
    delay, emitted = _delta(entry, before, "jitterBufferDelay"), _delta(entry, before, "jitterBufferEmittedCount")
    return round(delay / emitted * 1000, 2) if delay is not None and emitted else None


def _codec(sample: dict, entry: dict) -> str:
    codec = sample.get(entry.get("codecId") or "", {})
    return (codec.get("mimeType") or "audio/opus").split("/")[-1]


def _sent_format(sample: dict, entry: dict) -> tuple[Optional[float], Optional[float]]:
    source = sample.get(entry.get("mediaSourceId") or "", {})
    return source.get("framesPerSecond"), source.get("height")
