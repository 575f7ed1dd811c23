"""A userspace UDP relay that imposes known loss, delay and jitter between two pcs in one page
(netem is not available here). Used by bench/accuracy.py and by a browser test. `TurnFront`
(below) is the same idea in front of a TURN server, for the pre-call test.

Each pc is given the other's candidate rewritten to a relay socket: side "a" stands for pc A in
front of pc B, side "b" for pc B in front of pc A. What B sends to "a" leaves from "b" to A's
real address (so A sees it come from the address it was told is B's), and the other way round.
Each way, packets are dropped at the rate `loss` (spread evenly: exactly that share of every
stream, so that conditions compare; `random_loss=True` draws each packet instead), the others sent
after `delay_ms` +- uniform `jitter_ms` (never less than 0: the relay records the mean delay it
really applied, the ground truth for the round trip).
"""

import asyncio
import random
import socket
import threading
import time
from typing import Optional

from collector.coturn import own_address


class _Side(asyncio.DatagramProtocol):
    """One socket of a relay: every datagram goes to relay.forward(name, data, where it came from)."""

    def __init__(self, relay, name):
        self.relay, self.name = relay, name
        self.transport: Optional[asyncio.DatagramTransport] = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.relay.forward(self.name, data, addr)


def _rtp_ssrc(data: bytes) -> Optional[int]:
    """The SSRC of an RTP packet (its header is not encrypted by SRTP); None for STUN, DTLS, RTCP."""
    if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
        return None
    return int.from_bytes(data[8:12], "big")


class Relay:
    """start() runs it in a thread; set(loss, delay_ms, jitter_ms) changes the impairment live."""

    def __init__(self, host: Optional[str] = None, seed: int = 1, random_loss: bool = False):
        self.host = host or own_address()
        self.random_loss = random_loss
        self.applied_ms = [0.0, 0]  # the sum and count of the delays applied to RTP packets
        self.random = random.Random(seed)
        self.loss, self.delay_ms, self.jitter_ms = 0.0, 0.0, 0.0
        self.real: dict[str, tuple] = {}  # "a"/"b" -> the pc's real candidate address
        self.sides: dict[str, _Side] = {}
        self.counts = {"a": [0, 0], "b": [0, 0]}  # sent by pc A / pc B: [received, forwarded]
        self.rtp: dict[int, list] = {}  # SSRC -> [RTP packets seen, dropped]: the ground truth
        self.loop = asyncio.new_event_loop()
        self.ports: dict[str, int] = {}

    def start(self) -> "Relay":
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)
        return self

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        for name in ("a", "b"):  # "a": where pc A sends (it stands for B); "b": where pc B sends
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.host, 0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            self.ports[name] = sock.getsockname()[1]
            _, protocol = self.loop.run_until_complete(
                self.loop.create_datagram_endpoint(lambda n=name: _Side(self, n), sock=sock))
            self.sides[name] = protocol
        ready.set()
        self.loop.run_forever()

    def set(self, loss: float = 0.0, delay_ms: float = 0.0, jitter_ms: float = 0.0) -> None:
        self.loss, self.delay_ms, self.jitter_ms = loss, delay_ms, jitter_ms

    def learn(self, pc: str, address: str, port: int) -> None:
        """pc "a" or "b" has this real UDP candidate."""
        self.real[pc] = (address, port)

    def forward(self, arrived_at: str, data: bytes, addr=None) -> None:
        # side "a" stands for pc A: what arrives there came from B, goes to A's real address and
        # leaves from side "b" (the address A was told is B's); the other way round for "b"
        target, leave_from = ("a", "b") if arrived_at == "a" else ("b", "a")
        self.counts[leave_from][0] += 1
        ssrc = _rtp_ssrc(data)
        if target not in self.real:
            return
        stream = self.rtp.setdefault(ssrc, [0, 0]) if ssrc is not None else None
        if stream is not None:
            stream[0] += 1
        # the n-th packet of its RTP stream (STUN, DTLS and RTCP: of its side)
        if self._drop(stream[0] if stream is not None else self.counts[leave_from][0]):
            if stream is not None:
                stream[1] += 1
            return
        self.counts[leave_from][1] += 1
        wait = max(0.0, self.delay_ms + self.random.uniform(-self.jitter_ms, self.jitter_ms))
        if ssrc is not None:
            self.applied_ms[0] += wait
            self.applied_ms[1] += 1
        self.loop.call_later(wait / 1000, self.sides[leave_from].transport.sendto, data, self.real[target])

    def _drop(self, n: int) -> bool:
        """Drop the n-th packet of its stream? Evenly: when n crosses the next multiple of 1/loss."""
        if self.random_loss:
            return self.random.random() < self.loss
        return int(n * self.loss) > int((n - 1) * self.loss)

    def mean_delay_ms(self) -> float:
        return self.applied_ms[0] / self.applied_ms[1] if self.applied_ms[1] else 0.0

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def _carries_media(data: bytes) -> bool:
    """A TURN ChannelData message or Send indication (what carries the pcs' packets); not the
    TURN control messages (allocate, refresh, permissions), which pass untouched."""
    if len(data) < 4:
        return False
    return 0x40 <= data[0] <= 0x7F or data[:2] == b"\x00\x16"


class TurnFront:
    """Stands in front of a TURN server on loopback: the pages are given its port as the TURN
    server's. UDP: each client gets a socket of its own towards the server; what a client sends
    towards the server is impaired (`loss` of its media packets dropped: one at a random place
    in every run of 1/loss; the others held `delay_ms`), what the server sends back is not. So each packet between the
    pre-call test's two pcs is impaired exactly once (on its sender's way in), and a round trip
    twice: the same ground truth as Relay's "each way". TCP is passed through as it is.
    `counts` says what reached it: {"udp": datagrams, "tcp": connections}."""

    def __init__(self, turn_host: str, turn_port: int, host: Optional[str] = None):
        self.turn = (turn_host, turn_port)
        self.host = host or turn_host
        self.loss, self.delay_ms = 0.0, 0.0
        self.counts = {"udp": 0, "tcp": 0}
        self.media = {}  # client -> [media packets seen, dropped]: the ground truth
        self.passed: list[tuple[float, int]] = []  # (monotonic s, bytes) of each media datagram passed on
        self.victims: dict[tuple, dict] = {}  # client -> {first packet of the current run: the one dropped}
        self.random = random.Random(1)
        self.upstreams: dict[tuple, socket.socket] = {}  # client -> its socket towards the TURN server
        self.loop = asyncio.new_event_loop()
        self.listener: Optional[_Side] = None
        self.port = 0

    def start(self) -> "TurnFront":
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)
        return self

    def set(self, loss: float = 0.0, delay_ms: float = 0.0) -> None:
        self.loss, self.delay_ms = loss, delay_ms

    def url(self, transport: str = "udp") -> str:
        return f"turn:{self.host}:{self.port}?transport={transport}"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        _, self.listener = self.loop.run_until_complete(
            self.loop.create_datagram_endpoint(lambda: _Side(self, "clients"), sock=sock))
        self.loop.run_until_complete(asyncio.start_server(self._tcp, self.host, self.port))
        ready.set()
        self.loop.run_forever()

    def forward(self, _name, data: bytes, client: tuple) -> None:
        """A datagram from a client (the listener's _Side): on to the TURN server, impaired."""
        self.counts["udp"] += 1
        upstream = self.upstreams.get(client)
        if upstream is None:  # a socket of its own, ready at once: the client's first packet is not lost
            upstream = self.upstreams[client] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            upstream.setblocking(False)
            upstream.connect(self.turn)
            self.loop.add_reader(upstream, self._from_turn, upstream, client)
        send = lambda: upstream.send(data)  # noqa: E731
        if not _carries_media(data):
            send()
            return
        seen = self.media.setdefault(client, [0, 0])
        seen[0] += 1
        if self._drop(client, seen[0]):
            seen[1] += 1
            return
        self.passed.append((time.monotonic(), len(data)))
        self.loop.call_later(self.delay_ms / 1000, send)

    def peak_kbps(self, since: int, window_s: float, min_bytes: int = 0) -> float:
        """The most media (kbit/s, as datagrams on the wire) passed on within any `window_s`,
        over the datagrams of at least `min_bytes` passed since `since` (an index into `passed`)."""
        passed = [p for p in self.passed[since:] if p[1] >= min_bytes]
        best, low, total = 0, 0, 0
        for high in range(len(passed)):
            total += passed[high][1]
            while passed[high][0] - passed[low][0] > window_s:
                total -= passed[low][1]
                low += 1
            best = max(best, total)
        return best * 8 / window_s / 1000

    def _from_turn(self, upstream: socket.socket, client: tuple) -> None:
        """What the TURN server sends a client goes back to it, untouched."""
        try:
            data = upstream.recv(65536)
        except OSError:
            return
        self.listener.transport.sendto(data, client)

    async def _tcp(self, reader, writer) -> None:
        self.counts["tcp"] += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.turn)
        except OSError:
            writer.close()
            return

        async def pipe(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def _drop(self, client: tuple, n: int) -> bool:
        """Exactly one packet of every run of round(1/loss) of this client's, at a random place in
        the run: the share is exact, and no regular pattern of the sender (a probe, then an
        acknowledgement, ...) can make the drops fall on one kind of packet only."""
        if self.loss <= 0:
            return False
        run = max(1, round(1 / self.loss))
        start = (n - 1) // run * run
        if start not in self.victims.get(client, {}):
            self.victims[client] = {start: start + 1 + self.random.randrange(run)}
        return n == self.victims[client][start]

    def dropped_share(self) -> float:
        seen = sum(s for s, _ in self.media.values())
        return sum(d for _, d in self.media.values()) / seen if seen else 0.0

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


# The page side: pcs whose candidates reach each other only through the relay.
RELAYED_CALL = """<script>
// relayedCall(pc1, pc2, relay): pc1 sends audio and video to pc2. Only UDP IPv4 host candidates
// pass, each rewritten to the relay's socket that stands for it; window.realCandidates tells the
// test where each pc really listens.
window.realCandidates = {};
async function relayedCall(pc1, pc2, relay) {
  const hand = (from, to, name, port) => (e) => {
    if (!e.candidate || !e.candidate.candidate) return;
    const parts = e.candidate.candidate.split(" ");  // foundation comp proto prio addr port typ type
    if (parts[2].toLowerCase() !== "udp" || parts[7] !== "host" || !/^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(parts[4])) return;
    if (window.realCandidates[name]) return;  // one candidate each way is enough
    window.realCandidates[name] = [parts[4], Number(parts[5])];
    parts[4] = relay.host; parts[5] = String(port);
    to.addIceCandidate({candidate: parts.join(" "), sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex});
  };
  pc1.onicecandidate = hand(pc1, pc2, "a", relay.portA);  // pc2 sends to "a" thinking it is pc1
  pc2.onicecandidate = hand(pc2, pc1, "b", relay.portB);
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  media.getTracks().forEach((t) => pc1.addTrack(t, media));
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
}
</script>"""

# A whole page: callstats monitors both pcs of a relayed call and keeps every csStatsCallback
# payload in window.reports ({collector} is the collector's URL; the app is in the URL's hash).
RELAYED_PAGE = """<!doctype html><html><body>""" + RELAYED_CALL + """
<script src="{collector}callstats.js"></script>
<script>
window.reports = [];
const app = JSON.parse(decodeURIComponent(location.hash.slice(1)));
callstats.initialize(app.appID, app.appSecret, "alice", null, (payload) => reports.push(payload));
const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
callstats.addNewFabric(pc1, "bob", "multiplex", "relayed");
callstats.addNewFabric(pc2, "alice", "multiplex", "relayed");
</script></body></html>"""


def connect(page, relay: "Relay") -> None:
    """Start the page's relayed call and tell the relay where each pc really listens."""
    page.evaluate("callstats.ready")
    page.evaluate("(relay) => { relayedCall(pc1, pc2, relay); }",
                  {"host": relay.host, "portA": relay.ports["a"], "portB": relay.ports["b"]})
    page.wait_for_function("realCandidates.a && realCandidates.b", timeout=20_000)
    for side, (address, port) in page.evaluate("realCandidates").items():
        relay.learn(side, address, port)
    page.wait_for_function("pc1.connectionState === 'connected' && pc2.connectionState === 'connected'",
                           timeout=30_000)


def reported_loss(inbound: list) -> float:
    """Σlost / Σ(lost + received) over csStatsCallback intervals of one stream: each interval's
    fractionLoss weighted by its packets (packetRate, the intervals being equally long)."""
    received = [s["packetRate"] or 0 for s in inbound]
    lost = [s["fractionLoss"] / (1 - s["fractionLoss"]) * r if s["fractionLoss"] < 1 else 0
            for s, r in zip(inbound, received)]
    return sum(lost) / (sum(lost) + sum(received)) if sum(received) else 0.0
