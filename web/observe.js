// Every RTCPeerConnection the page makes after this script ran is seen from its creation, so that
// a pc handed to addNewFabric long after it connected (integrations that wait for csInitCallback,
// or add a call's pcs once it is answered) still has its real setup delay and timeline.
//
// What is kept per pc: when it was made, its states then, and its state changes with their times
// (at most MAX_EVENTS): nothing else, and nothing that keeps a pc alive (a WeakMap keyed by the pc;
// one listener per event kind, shared by every pc, that reads the event's target).
//
// The page must not notice: window.RTCPeerConnection becomes a Proxy of what it was (the browser's,
// or a shim such as webrtc-adapter's loaded before us) that only adds a construct trap. Its
// prototype, static methods (generateCertificate), name, `instanceof` and subclassing (`class X
// extends RTCPeerConnection`, which constructs through the trap with X as new.target) are the
// original's; a shim loaded after us wraps the Proxy and constructs through it.

const MAX_EVENTS = 200;

// now: the loader's clock; stateOf: DOM event -> the state it changes (pyclient.fabric's)
export function observePeerConnections(now, stateOf) {
  const seen = new WeakMap(); // pc -> {created, initial, events, sink}
  const native = typeof window.RTCPeerConnection === "function" ? window.RTCPeerConnection : null;
  const statesOf = (pc) => {
    const states = {};
    for (const name of Object.values(stateOf)) states[name] = pc[name] === undefined ? null : pc[name];
    return states;
  };
  const listeners = Object.keys(stateOf).map((kind) => [kind, (event) => {
    const pc = event.target;
    const record = seen.get(pc);
    if (!record) return;
    const t = now();
    const state = pc[stateOf[kind]];
    if (record.sink) record.sink(kind, state, t);
    else if (record.events.length < MAX_EVENTS) record.events.push({ t, kind, state });
  }]);

  function watch(pc) {
    seen.set(pc, { created: now(), initial: statesOf(pc), events: [], sink: null });
    for (const [kind, listener] of listeners) pc.addEventListener(kind, listener);
  }

  if (native) {
    const observed = new Proxy(native, {
      construct(target, args, newTarget) {
        const pc = Reflect.construct(target, args, newTarget);
        try {
          watch(pc);
        } catch (err) {
          // an object that is not a pc after all (a shim's oddity): not observed, still returned
        }
        return pc;
      },
    });
    window.RTCPeerConnection = observed;
    if (window.webkitRTCPeerConnection === native) window.webkitRTCPeerConnection = observed;
  }

  return {
    native, // the constructor as it was: the pre-call test's own pcs are not the page's
    // What was seen of this pc since its creation ({created, initial, events}), once: from then
    // on its changes go to sink(kind, state, t). Undefined for a pc made before this script.
    adopt(pc, sink) {
      const record = seen.get(pc);
      if (!record || record.sink) return undefined;
      record.sink = sink;
      const { created, initial, events } = record;
      record.events = [];
      return { created, initial, events };
    },
  };
}
