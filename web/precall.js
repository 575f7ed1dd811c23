// The pre-call test's probe, on the page's main thread because RTCPeerConnection exists only
// there. It measures and nothing else: pyclient/precall.py decides what to run (which TURN
// servers, UDP then TCP), turns what this returns into figures, and reports them.
//
// One probe: two pcs in this page, both `iceTransportPolicy: "relay"` through the given TURN
// servers, so every packet goes page -> TURN -> page. Two negotiated data channels A -> B:
//   echo   unordered, no retransmits: A sends `count` small numbered packets at a steady pace, B
//          counts the ones that arrive (loss, one way) and echoes each number back (round trips).
//          Unreliable, so that neither a retransmission nor the packets queued behind one
//          (head-of-line blocking) stretch a round trip; small and paced, so that the channel's
//          congestion window never holds them back.
//   bulk   reliable, unordered (a message whose piece was lost holds up no other): A sends as fast
//          as allowed (at most maxKbps, send buffer at most bufferBytes) for `ms`; B counts the
//          bytes that arrive within that time
// Everything is bounded in time (connectMs, the steps' own lengths, a grace for late packets) and
// stops at once on stopProbe(reason): the pcs are closed and the probe says why it stopped.

let running = null; // {stop(reason)} of the probe under way

export function stopProbe(reason) {
  if (running) running.stop(reason);
}

// PeerConnection: the browser's constructor (the loader observes the page's own pcs, not these)
export async function probe(options, PeerConnection = RTCPeerConnection) {
  if (running) return { error: "busy", stopped: null };
  let stop;
  const stopped = new Promise((resolve) => { stop = resolve; });
  const probe = new Probe(options, stopped, PeerConnection);
  running = { stop: (reason) => { if (!probe.result.stopped) probe.result.stopped = reason; stop(); } };
  try {
    await probe.run();
  } catch (err) {
    probe.result.error = String((err && err.message) || err);
  } finally {
    probe.close();
    running = null;
  }
  return probe.result;
}

class Probe {
  constructor(options, stopped, PeerConnection) {
    this.options = options;
    this.PeerConnection = PeerConnection;
    this.stopped = stopped;
    this.timers = new Set();
    this.pcs = [];
    this.result = {
      stopped: null, error: null, connected: false, relayCandidates: 0, candidateErrors: [], rtts: [],
      echoSent: 0, echoReceived: 0, bulkSent: 0, bulkReceived: 0, bulkMs: 0, bytesSent: 0,
    };
  }

  // Waits for `promise`, at most `ms`; false on time-out or stop.
  until(promise, ms) {
    return Promise.race([promise.then(() => true), this.sleep(ms).then(() => false), this.stopped.then(() => false)]);
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.timers.delete(timer); resolve(); }, ms);
      this.timers.add(timer);
    });
  }

  every(ms, tick) {
    const timer = setInterval(tick, ms);
    this.timers.add(timer);
    return () => { clearInterval(timer); this.timers.delete(timer); };
  }

  async run() {
    const { options, result } = this;
    const config = { iceServers: options.iceServers, iceTransportPolicy: "relay" };
    const a = new this.PeerConnection(config);
    const b = new this.PeerConnection(config);
    this.pcs = [a, b];
    const channels = (pc) => ({
      echo: pc.createDataChannel("echo", { negotiated: true, id: 0, ordered: false, maxRetransmits: 0 }),
      bulk: pc.createDataChannel("bulk", { negotiated: true, id: 1, ordered: false }),
    });
    const [ca, cb] = [channels(a), channels(b)];
    const noRelay = this.watchGathering(a, b);
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    const open = Promise.all([ca.echo, cb.echo].map(opened));
    const ready = await this.until(Promise.race([open, noRelay]), options.connectMs);
    // connected: the media path through TURN is up (ICE and DTLS), whether or not the channels
    // opened before a stop
    result.connected = [a, b].every(connected);
    if (!ready || ca.echo.readyState !== "open" || cb.echo.readyState !== "open") return;
    await this.echoes(ca.echo, cb.echo);
    if (options.bulk && !result.stopped) await this.bulk(ca.bulk, cb.bulk);
  }

  // Every candidate goes straight to the other pc; resolves when a pc's gathering ended without a
  // relay candidate of its own (nothing else can be gathered under the relay policy: the TURN
  // servers failed it). Each pc counts for itself: one may finish before the other's relay
  // candidate arrives.
  watchGathering(a, b) {
    const { result } = this;
    return new Promise((resolve) => {
      for (const [pc, other] of [[a, b], [b, a]]) {
        let relays = 0;
        pc.onicecandidate = (event) => {
          if (!event.candidate || !event.candidate.candidate) {
            if (relays === 0) resolve();
            return;
          }
          if (/ typ relay /.test(event.candidate.candidate)) {
            relays++;
            result.relayCandidates++;
          }
          other.addIceCandidate(event.candidate).catch(() => {});
        };
        pc.onicecandidateerror = (event) => {
          if (result.candidateErrors.length < 10) {
            result.candidateErrors.push({ errorCode: event.errorCode, errorText: event.errorText, url: event.url });
          }
        };
      }
    });
  }

  async echoes(a, b) {
    const { count, everyMs, bytes } = this.options.echo;
    const { result } = this;
    const sent = new Map(); // number -> when
    const seen = new Set();
    a.binaryType = b.binaryType = "arraybuffer";
    b.onmessage = (event) => {
      if (event.data.byteLength < 4) return;
      const number = new DataView(event.data).getUint32(0);
      seen.add(number);
      result.echoReceived = seen.size;
      b.send(event.data.slice(0, 4));
    };
    a.onmessage = (event) => {
      const at = event.data.byteLength >= 4 && sent.get(new DataView(event.data).getUint32(0));
      if (!at) return;
      sent.delete(new DataView(event.data).getUint32(0));
      result.rtts.push(performance.now() - at);
    };
    const packet = new Uint8Array(Math.max(4, bytes));
    const view = new DataView(packet.buffer);
    let finished;
    const done = new Promise((resolve) => { finished = resolve; });
    const halt = this.every(everyMs, () => {
      if (result.echoSent >= count || a.readyState !== "open") {
        halt();
        finished();
        return;
      }
      view.setUint32(0, result.echoSent);
      sent.set(result.echoSent++, performance.now());
      a.send(packet);
      result.bytesSent += packet.byteLength;
    });
    await this.until(done, count * everyMs * 3);
    halt();
    // what is still in the send buffer goes out, then late packets and echoes have a grace
    await this.until(drained(a, this), this.options.graceMs);
    await this.until(this.stopped, this.options.graceMs);
  }

  async bulk(a, b) {
    const { ms, maxKbps, chunkBytes, bufferBytes } = this.options.bulk;
    const chunk = new Uint8Array(chunkBytes);
    b.binaryType = "arraybuffer";
    const start = performance.now();
    const end = start + ms;
    b.onmessage = (event) => {
      if (performance.now() <= end) this.result.bulkReceived += event.data.byteLength;
    };
    const send = () => {
      const allowed = ((performance.now() - start) * maxKbps) / 8; // bytes by now at maxKbps
      while (this.result.bulkSent + chunkBytes <= allowed && a.bufferedAmount < bufferBytes && a.readyState === "open") {
        a.send(chunk);
        this.result.bulkSent += chunkBytes;
        this.result.bytesSent += chunkBytes;
      }
    };
    const halt = this.every(10, send);
    await this.until(this.stopped, ms);
    halt();
    this.result.bulkMs = Math.min(ms, performance.now() - start);
  }

  close() {
    this.timers.forEach((timer) => { clearTimeout(timer); clearInterval(timer); });
    this.timers.clear();
    for (const pc of this.pcs) {
      try {
        pc.close();
      } catch (err) {
        // closed already
      }
    }
  }
}

function connected(pc) {
  return pc.connectionState === "connected" || ["connected", "completed"].includes(pc.iceConnectionState);
}

function opened(channel) {
  return channel.readyState === "open" ? Promise.resolve() : new Promise((resolve) => {
    channel.addEventListener("open", resolve, { once: true });
  });
}

function drained(channel, probe) {
  return new Promise((resolve) => {
    const halt = probe.every(20, () => {
      if (channel.bufferedAmount === 0 || channel.readyState !== "open") {
        halt();
        resolve();
      }
    });
  });
}
