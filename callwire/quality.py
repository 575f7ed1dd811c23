"""Quality ratings (SPEC part 1, csStatsCallback): audio from an E-model MOS, video from loss, rtt,
frame rate and resolution against what was sent.

The E-model is ITU-T G.107 with the simplifications G.107 itself gives for default conditions:
R = R0 - Is - Id - Ie_eff + A with R0 - Is = 93.2 and A = 0 (a wired/desktop call).
"""

from typing import Optional

# Codec impairment (Ie) and packet-loss robustness (Bpl), from ITU-T G.113 Appendix I where listed;
# Opus is not listed there: the values are the ones commonly used for it at wideband rates.
CODECS = {"opus": (0.0, 20.0), "pcmu": (0.0, 4.3), "pcma": (0.0, 4.3), "g722": (0.0, 10.0), "isac": (10.0, 15.0)}
DEFAULT_CODEC = "opus"

RATINGS = [(4.3, "excellent"), (4.0, "good"), (3.6, "fair"), (3.1, "poor")]
ORDER = ("bad", "poor", "fair", "good", "excellent")  # worst first: a rating's rank is its index


def r_factor(rtt_ms: float, jitter_buffer_ms: float, loss: float, codec: str = DEFAULT_CODEC) -> float:
    """G.107 R for one-way delay rtt/2 + jitter buffer, packet loss (0..1, random) and codec."""
    ie, bpl = CODECS.get(codec.lower(), CODECS[DEFAULT_CODEC])
    d = max(0.0, rtt_ms / 2 + jitter_buffer_ms)
    delay_impairment = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ppl = max(0.0, min(1.0, loss)) * 100
    ie_eff = ie + (95 - ie) * ppl / (ppl + bpl)
    return 93.2 - delay_impairment - ie_eff


def mos(r: float) -> float:
    """G.107 Annex B: R -> estimated MOS (conversational quality)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def audio_mos(rtt_ms: Optional[float], jitter_ms: Optional[float], loss: Optional[float],
              jitter_buffer_ms: Optional[float] = None, codec: str = DEFAULT_CODEC) -> Optional[float]:
    if loss is None:
        return None
    # without a measured jitter buffer delay, assume the buffer holds about twice the jitter
    buffer = jitter_buffer_ms if jitter_buffer_ms is not None else 2 * (jitter_ms or 0.0)
    return round(mos(r_factor(rtt_ms or 0.0, buffer, loss, codec)), 2)


def rating_of_mos(value: Optional[float]) -> str:
    if value is None:
        return "unknown"
    for threshold, name in RATINGS:
        if value >= threshold:
            return name
    return "bad"


def worst(ratings: list[str]) -> str:
    known = [r for r in ratings if r in ORDER]
    return min(known, key=ORDER.index) if known else "unknown"


def video_rating(loss: Optional[float], rtt_ms: Optional[float], fps: Optional[float],
                 expected_fps: Optional[float], height: Optional[float], expected_height: Optional[float]) -> str:
    """A 1..5 score, each shortfall taking its share: loss (the strongest), delay, frame rate,
    resolution (each against what the sender aimed for, when known)."""
    if loss is None and fps is None:
        return "unknown"
    score = 5.0
    score -= min(3.0, (loss or 0.0) * 100 / 3)  # -1 per 3 % loss
    if rtt_ms:
        score -= min(1.5, max(0.0, rtt_ms - 300) / 400)
    if fps is not None and expected_fps:
        score -= min(1.5, max(0.0, 1 - fps / expected_fps) * 2)
    if height and expected_height:
        score -= min(1.0, max(0.0, 1 - height / expected_height))
    for threshold, name in ((4.5, "excellent"), (3.8, "good"), (3.0, "fair"), (2.0, "poor")):
        if score >= threshold:
            return name
    return "bad"
