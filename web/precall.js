// The pre-call test's probe, on the page's main thread because RTCPeerConnection exists only
// there. It measures and nothing else: pyclient/precall.py decides what to run (which TURN
// servers, UDP then TCP), turns what this returns into figures, and reports them.
//
// One probe: two pcs in this page, both `iceTransportPolicy: "relay"` through the given TURN
// servers, so every packet goes page -> TURN -> page. Two negotiated data channels A -> B, both
// unordered and without retransmits (neither a retransmission nor what queues behind one stretches
// what is measured):
//   trips  A sends `count` small packets at a steady pace, each with its number and when it left;
//          B counts the ones that arrive (loss) and how long each took: one trip from one pc to the
//          other through TURN, i.e. one client-TURN round trip, as the deployed client's rtt meant
//          (both pcs read the same clock). Small and paced, so no congestion window holds them back.
//   ramp   A sends packets paced at rising rates (`kbps`, one step of `stepMs` each, send buffer at
//          most bufferBytes); B counts the bytes that arrive in each step's time: what the path
//          delivers per second, at the rate where that stops growing, is its capacity.
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
      stopped: null, error: null, connected: false, relayCandidates: 0, candidateErrors: [], trips: [],
      tripsSent: 0, tripsReceived: 0, rampReceived: [], rampStepMs: 0, bytesSent: 0,
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
    const unreliable = { negotiated: true, ordered: false, maxRetransmits: 0 };
    const channels = (pc) => ({
      trips: pc.createDataChannel("trips", { ...unreliable, id: 0 }),
      ramp: pc.createDataChannel("ramp", { ...unreliable, id: 1 }),
    });
    const [ca, cb] = [channels(a), channels(b)];
    const noRelay = this.watchGathering(a, b);
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    const open = Promise.all([ca.trips, cb.trips].map(opened));
    const ready = await this.until(Promise.race([open, noRelay]), options.connectMs);
    // connected: the media path through TURN is up (ICE and DTLS), whether or not the channels
    // opened before a stop
    result.connected = [a, b].every(connected);
    if (!ready || ca.trips.readyState !== "open" || cb.trips.readyState !== "open") return;
    await this.trips(ca.trips, cb.trips);
    if (options.ramp && !result.stopped) await this.ramp(ca.ramp, cb.ramp);
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

  async trips(a, b) {
    const { count, everyMs, bytes } = this.options.trips;
    const { result } = this;
    const seen = new Set();
    b.binaryType = "arraybuffer";
    b.onmessage = (event) => {
      const arrived = performance.now();
      if (event.data.byteLength < 12) return;
      const view = new DataView(event.data);
      const number = view.getUint32(0);
      if (seen.has(number)) return;
      seen.add(number);
      result.tripsReceived = seen.size;
      result.trips.push(arrived - view.getFloat64(4));
    };
    const packet = new Uint8Array(Math.max(12, bytes));
    const view = new DataView(packet.buffer);
    let finished;
    const done = new Promise((resolve) => { finished = resolve; });
    const halt = this.every(everyMs, () => {
      if (result.tripsSent >= count || a.readyState !== "open") {
        halt();
        finished();
        return;
      }
      view.setUint32(0, result.tripsSent++);
      view.setFloat64(4, performance.now());
      a.send(packet);
      result.bytesSent += packet.byteLength;
    });
    await this.until(done, count * everyMs * 3);
    halt();
    // what is still in the send buffer goes out, then late packets have a grace
    await this.until(drained(a, this), this.options.graceMs);
    await this.until(this.stopped, this.options.graceMs);
  }

  async ramp(a, b) {
    const { stepMs, kbps, packetBytes, bufferBytes } = this.options.ramp;
    const { result } = this;
    const packet = new Uint8Array(packetBytes);
    const start = performance.now();
    result.rampStepMs = stepMs;
    result.rampReceived = kbps.map(() => 0);
    b.binaryType = "arraybuffer";
    b.onmessage = (event) => {
      const step = Math.floor((performance.now() - start) / stepMs);
      if (step < kbps.length) result.rampReceived[step] += event.data.byteLength;
    };
    let step = 0;
    let sentInStep = 0;
    const send = () => {
      const now = performance.now() - start;
      const current = Math.floor(now / stepMs);
      if (current >= kbps.length || a.readyState !== "open") return;
      if (current !== step) [step, sentInStep] = [current, 0];
      const allowed = ((now - step * stepMs) * kbps[step]) / 8; // bytes by now at this step's rate
      while (sentInStep + packetBytes <= allowed && a.bufferedAmount < bufferBytes) {
        a.send(packet);
        sentInStep += packetBytes;
        result.bytesSent += packetBytes;
      }
    };
    const halt = this.every(10, send);
    await this.until(this.stopped, stepMs * kbps.length);
    halt();
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
