"""SSRCs from real session descriptions, captured from Chromium 156 and Firefox 153 ESR by
tests/fixtures/sdp/capture.py (pc1 sends audio+video and asks for one more video; pc2 answers
sending audio only)."""

from pathlib import Path

from pyclient import sdp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sdp"


def read(name: str) -> str:
    return (FIXTURES / f"{name}.sdp").read_text()


def test_chrome_offer_gives_audio_and_video_with_msid_per_ssrc_and_no_rtx():
    found = sdp.streams(read("chrome-offer"), local=True)
    assert [(s["ssrc"], s["mediaType"]) for s in found] == [("1913539630", "audio"), ("1908379460", "video")]
    video = found[1]
    assert video["cname"] == "z2+32LsHtnf6Uwrv" and video["streamType"] == "outbound" and video["reportType"] == "local"
    assert video["mslabel"] == "49ba80ff-09e3-4145-bedc-31e8a86e473d"
    assert video["label"] == "17d79ed1-7a7e-41c2-b30c-4f107cd1b180"
    assert "3203361188" not in {s["ssrc"] for s in found}  # the FID (rtx) partner of 1908379460


def test_chrome_answer_sends_audio_only():
    found = sdp.streams(read("chrome-answer"), local=False)
    assert [(s["ssrc"], s["mediaType"], s["streamType"], s["reportType"]) for s in found] == [
        ("2236160205", "audio", "inbound", "remote")]


def test_firefox_takes_msid_from_the_section_and_skips_what_does_not_send():
    found = sdp.streams(read("firefox-offer"), local=True)
    assert [(s["ssrc"], s["mediaType"]) for s in found] == [("143843186", "audio"), ("3630407244", "video")]
    assert found[0]["msid"] == "{bdb90501-a999-4ecb-8821-c8a77fcafd17} {3d5a667d-d5a4-4a68-b94a-7eba47b576ec}"
    assert found[0]["cname"] == "{d92a7bb7-e794-4dd6-b423-41658e54dcb5}"
    ssrcs = {s["ssrc"] for s in found}
    assert "14593137" not in ssrcs and "2008912134" not in ssrcs  # rtx; the recvonly (bundle-only) section
    answer = sdp.streams(read("firefox-answer"), local=False)
    assert [(s["ssrc"], s["mediaType"]) for s in answer] == [("3884054979", "audio")]  # video: recvonly, inactive


def test_nothing_in_nothing_out():
    assert sdp.streams(None, local=True) == [] and sdp.streams("v=0\r\n", local=False) == []
