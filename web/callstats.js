// callstats.js: the script-tag loader. Small and dumb on purpose: the logic is Python (pyclient).
//
// - window.callstats exists as soon as this script has run; `new callstats()` and
//   `callstats.initialize(...)` share one instance; enums and `version` are on both.
// - Every method answers at once. Before Python is ready the answer comes from rules compiled
//   at build time from pyclient's pydantic models (META, VALIDATE), and the call is queued;
//   Python replays the queue in order. Afterwards Python answers directly.
// - From the moment a pc is handed over, its state changes are recorded with timestamps, so
//   Python can rebuild the timeline it missed while it was starting.
import { META, VALIDATE } from "callstats-generated";

(function () {
  "use strict";
  if (window.callstats && window.callstats.version) return; // loaded twice: keep the first

  const script = document.currentScript;
  const BASE = new URL("./", script ? script.src : location.href);
  const ASSETS = new URL(META.assets + "/", BASE).href;
  const now = () => performance.timeOrigin + performance.now();

  // ---- pcs: ids, recorders ----
  const PC_EVENTS = [
    "signalingstatechange",
    "iceconnectionstatechange",
    "icegatheringstatechange",
    "connectionstatechange",
  ];
  const STATE_OF = {
    signalingstatechange: "signalingState",
    iceconnectionstatechange: "iceConnectionState",
    icegatheringstatechange: "iceGatheringState",
    connectionstatechange: "connectionState",
  };
  const pcIds = new WeakMap();
  const recorders = new Map(); // id -> {pc, initial, backlog, sink}

  function statesOf(pc) {
    const states = {};
    for (const name of Object.values(STATE_OF)) states[name] = pc[name] === undefined ? null : pc[name];
    return states;
  }

  // The descriptions that changed since last asked ({localSDP, remoteSDP}): SSRCs, msids (ssrcmap).
  function descriptionsOf(rec) {
    const changed = {};
    const local = rec.pc.localDescription && rec.pc.localDescription.sdp;
    const remote = rec.pc.remoteDescription && rec.pc.remoteDescription.sdp;
    if (local && local !== rec.sdp.local) changed.localSDP = rec.sdp.local = local;
    if (remote && remote !== rec.sdp.remote) changed.remoteSDP = rec.sdp.remote = remote;
    return changed;
  }

  function isPc(value) {
    if (typeof RTCPeerConnection !== "undefined" && value instanceof RTCPeerConnection) return true;
    return typeof value.getStats === "function" && typeof value.addEventListener === "function" &&
      "iceConnectionState" in value;
  }

  function pcId(pc) {
    let id = pcIds.get(pc);
    if (id !== undefined) return id;
    id = recorders.size;
    pcIds.set(pc, id);
    const rec = { pc, initial: statesOf(pc), backlog: [], sink: null, sdp: { local: null, remote: null } };
    recorders.set(id, rec);
    Object.assign(rec.initial, descriptionsOf(rec));
    const record = (kind, state) => {
      const event = { t: now(), kind, state };
      if (kind === "signalingstatechange") Object.assign(event, descriptionsOf(rec));
      if (rec.sink) deliver(rec.sink, event);
      else rec.backlog.push(event);
    };
    for (const kind of PC_EVENTS) pc.addEventListener(kind, () => record(kind, pc[STATE_OF[kind]]));
    // close() fires no state change event (so says the spec): record it as one, so the fabric ends
    const close = pc.close;
    if (typeof close === "function") {
      pc.close = function () {
        const open = pc.signalingState !== "closed";
        const result = close.apply(this, arguments);
        if (open) record("connectionstatechange", "closed");
        return result;
      };
    }
    return id;
  }

  function deliver(sink, value) {
    try {
      sink(JSON.stringify(value));
    } catch (err) {
      console.warn("callstats: event delivery failed", err);
    }
  }

  // ---- the JSON projection of JS arguments (what the pydantic models validate) ----
  function project(value, depth) {
    if (value === undefined) return undefined;
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
    if (typeof value === "function") return { $js: "function" };
    if (typeof value !== "object") return { $js: typeof value };
    if (depth > 8) return { $js: "too deep" };
    if (isPc(value)) return { $js: "pc", id: pcId(value) };
    if (value instanceof Error) return errorOf(value);
    if (typeof Node !== "undefined" && value instanceof Node) return { $js: "element" };
    if (typeof value.toJSON === "function") return project(safely(() => value.toJSON()), depth + 1);
    if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : project(v, depth + 1)));
    const out = {};
    for (const key of Object.keys(value)) {
      const v = project(safely(() => value[key]), depth + 1);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }

  function errorOf(err) {
    const out = { name: String(err.name), message: String(err.message), stack: String(err.stack || "") };
    if (err.constraintName !== undefined) out.constraintName = String(err.constraintName);
    return out;
  }

  function safely(get) {
    try {
      return get();
    } catch (err) {
      return undefined;
    }
  }

  // ---- answers, worded as pyclient.answers words them ----
  const say = (key, fields) => META.messages[key].replace(/\{(\w+)\}/g, (_, k) => fields[k]);
  const answer = (status, msg) => ({ status, msg, message: msg });
  const SHOWN = 60;

  function show(value) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length <= SHOWN ? text : text.slice(0, SHOWN - 3) + "...";
  }

  // The deepest error, ties to the earliest argument, then to a wrong value over a missing one:
  // the rule pyclient.answers.describe uses.
  function describe(method, errors, args, argNames) {
    let best = null;
    for (const err of errors) {
      const found = locate(err, args);
      const first = argNames.indexOf(String(found.path[0]));
      const rank = [found.path.length, -(first < 0 ? argNames.length : first), found.missing ? 0 : 1];
      if (!best || outranks(rank, best.rank)) best = { found, rank };
    }
    const { path, value, missing } = best.found;
    const arg = path.join(".") || "arguments";
    if (missing) return say("missing", { method, arg });
    return say("invalid", { method, arg, value: show(value) });
  }

  function outranks(a, b) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
    return false;
  }

  function locate(err, args) {
    const path = err.instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    let node = args;
    for (const step of path) node = node == null ? undefined : node[step];
    if (err.keyword === "required") return { path: [...path, err.params.missingProperty], missing: true };
    if (err.keyword === "discriminator") {
      const tag = err.params.tag;
      return { path: [...path, tag], value: node && node[tag], missing: !node || !(tag in node) };
    }
    return { path, value: node, missing: false };
  }

  // ---- before Python: check, remember call order, queue ----
  const early = { initialized: false, fabrics: new Map(), kept: false }; // fabrics: pc id -> conferenceID
  const queue = [];
  let python = null; // pyclient.browser.Entry once ready

  function checkEarly(method, spec, args) {
    const validate = VALIDATE[method];
    if (!validate(args)) return describe(method, validate.errors, args, spec.args);
    if (spec.needsInit && !early.initialized) return say("notInitialized", { method });
    const pc = args.pc;
    if (!spec.pcRule || (spec.pcRule === "added_if_given" && pc === null)) return null;
    const conference = early.fabrics.get(pc.id);
    if (spec.pcRule === "adds") {
      return conference !== undefined && conference !== args.conferenceID
        ? say("pcOtherConference", { method, conferenceID: conference })
        : null;
    }
    if (conference !== args.conferenceID) return say("pcNotAdded", { method, conferenceID: args.conferenceID });
    return null;
  }

  // ---- time to first frame on a video element (associateMstWithUserID's associatedVideoTag) ----
  const firstFrame = {
    seen: new Map(), // element id -> {t, already, sinks}
    watch(tagId) {
      if (this.seen.has(tagId)) return this.seen.get(tagId);
      const state = { t: null, already: false, sinks: [] };
      this.seen.set(tagId, state);
      const done = (t, already) => {
        if (state.t !== null) return;
        Object.assign(state, { t, already });
        state.sinks.forEach((sink) => deliver(sink, { t, already }));
      };
      const attach = () => {
        const video = document.getElementById(tagId);
        if (!video) return false;
        if (video.readyState >= 2) done(now(), true); // showing already: when it began is not known
        else if (video.requestVideoFrameCallback) {
          video.requestVideoFrameCallback((_, frame) => done(performance.timeOrigin + frame.presentationTime, false));
        } else video.addEventListener("loadeddata", () => done(now(), false), { once: true });
        return true;
      };
      if (!attach()) {
        const observer = new MutationObserver(() => attach() && observer.disconnect());
        observer.observe(document.documentElement, { childList: true, subtree: true });
      }
      return state;
    },
    tell(tagId, sink) {
      const state = this.watch(tagId);
      if (state.t !== null) deliver(sink, { t: state.t, already: state.already });
      else state.sinks.push(sink);
    },
  };

  function rememberEarly(method, args) {
    if (method === "initialize") early.initialized = true;
    if (method === "addNewFabric") early.fabrics.set(args.pc.id, args.conferenceID);
    if (method === "sendFabricEvent" && args.fabricEvent === "fabricTerminated") early.fabrics.delete(args.pc.id);
  }

  function invoke(method, rawArgs) {
    const spec = META.methods[method];
    const args = {};
    const handles = {};
    spec.args.forEach((name, i) => {
      const raw = rawArgs[i];
      const value = project(raw, 0);
      if (value !== undefined) args[name] = value;
      if (typeof raw === "function") handles[name] = raw;
    });
    const at = now();
    if (method === "associateMstWithUserID" && typeof args.associatedVideoTag === "string") {
      firstFrame.watch(args.associatedVideoTag); // from now, even while Python starts
    }
    if (python) return python.call(method, JSON.stringify(args), handles, at);
    const refusal = checkEarly(method, spec, args);
    if (refusal) return answer("failure", refusal);
    rememberEarly(method, args);
    queue.push({ method, args: JSON.stringify(args), handles, at });
    return answer("success", `${method}: queued until callstats is ready`);
  }

  function guarded(method, arity, body) {
    const fn = function () {
      try {
        return body(Array.prototype.slice.call(arguments));
      } catch (err) {
        console.error("callstats: internal error in " + method, err);
        return answer("failure", `${method}: internal error (${err && err.name})`);
      }
    };
    Object.defineProperty(fn, "length", { value: arity });
    Object.defineProperty(fn, "name", { value: method });
    return fn;
  }

  // ---- the public object ----
  const instance = {};
  function callstats() {
    return instance; // `new callstats()` gives the one shared instance
  }
  for (const [method, spec] of Object.entries(META.methods)) {
    instance[method] = guarded(method, spec.arity, (args) => invoke(method, args));
  }
  for (const [method, arity] of Object.entries(META.unsupported)) {
    instance[method] = guarded(method, arity, () => answer("failure", say("unsupported", { method })));
  }
  for (const [name, values] of Object.entries(META.enums)) instance[name] = Object.freeze({ ...values });
  instance.version = META.version;

  let resolveReady, rejectReady;
  instance.ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  instance.ready.catch(() => {}); // a page that never awaits it must not see an unhandled rejection
  // For tests: the loader's own verdict on projected arguments (must match pyclient's).
  instance._explain = (method, args) =>
    VALIDATE[method](args) ? null : describe(method, VALIDATE[method].errors, args, META.methods[method].args);
  instance._inspect = () => (python ? JSON.parse(python.inspect()) : null);
  Object.assign(callstats, instance);
  Object.setPrototypeOf(instance, callstats.prototype);
  window.callstats = callstats;

  // Every pc asked, in one crossing: {id: the report's entries as one JSON string, stringified
  // here rather than field by field in Python; null where getStats() failed}, as JSON.
  async function statsOf(ids) {
    const reports = await Promise.all(ids.map(async (id) => {
      try {
        return JSON.stringify([...(await recorders.get(id).pc.getStats()).values()]);
      } catch (err) {
        return null;
      }
    }));
    return JSON.stringify(Object.fromEntries(ids.map((id, i) => [id, reports[i]])));
  }
  let pollTimer = null;

  // ---- what Python reaches through pyclient.browser ----
  const bridge = {
    now,
    clock: () => performance.now(),
    collector: (script && script.dataset.collector) || BASE.origin,
    bufferBytes: (script && Number(script.dataset.bufferBytes)) || undefined,
    log(level, text) {
      (console[level] || console.log).call(console, "callstats: " + text);
    },
    callSoon(fn, argsJson) {
      setTimeout(() => {
        try {
          fn(...JSON.parse(argsJson));
        } catch (err) {
          console.error("callstats: a page callback threw", err);
        }
      }, 0);
    },
    watch(id, sink) {
      const rec = recorders.get(id);
      const backlog = rec.backlog;
      rec.backlog = [];
      rec.sink = sink;
      return JSON.stringify({ initial: rec.initial, backlog });
    },
    firstFrame(tagId, sink) {
      firstFrame.tell(tagId, sink);
    },
    // pyclient.runner: bridge[name](...args), then resume(failed, value) once its promise settles
    // (no name: resume on the next microtask). Python's background coroutines move on from here,
    // with no asyncio task in between.
    settle(name, resume, ...args) {
      new Promise((resolve) => resolve(name ? bridge[name](...args) : undefined))
        .then((value) => resume(false, value), (err) => resume(true, String((err && err.message) || err)));
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    async stats(idsJson) {
      return statsOf(JSON.parse(idsJson));
    },
    // Python's poll clock: every ms, the listed pcs' getStats(), then one synchronous call of
    // sink(reports, when the poll was due). Python is woken once a poll and never in between.
    pollEvery(ms, idsJson, sink) {
      clearInterval(pollTimer);
      pollTimer = null;
      const ids = JSON.parse(idsJson);
      if (!ms || !ids.length) return;
      const timer = setInterval(async () => {
        const at = now();
        const reports = await statsOf(ids);
        if (pollTimer !== timer) return; // replaced meanwhile: Python let go of this sink
        try {
          sink(reports, at);
        } catch (err) {
          console.error("callstats: a stats poll failed", err);
        }
      }, ms);
      pollTimer = timer;
    },
    // fetch over HTTP/2; resolves {status, headers, text} as JSON, or null when the network failed.
    // The body is a string, or bytes (a Uint8Array: Python gzipped it).
    async request(method, url, headersJson, body, keepalive) {
      try {
        const answer = await fetch(url, { method, headers: JSON.parse(headersJson), body: body || undefined,
                                          keepalive: !!keepalive, credentials: "omit" });
        const headers = {};
        answer.headers.forEach((value, name) => { headers[name] = value; });
        return JSON.stringify({ status: answer.status, headers, text: await answer.text() });
      } catch (err) {
        return null;
      }
    },
    token(generator, forceNew) {
      return new Promise((resolve, reject) => {
        try {
          generator(forceNew, (err, token) => (err ? reject(new Error(String(err))) : resolve(String(token))));
        } catch (err) {
          reject(err);
        }
      });
    },
    deviceId() {
      const key = "callstats.deviceID";
      try {
        const known = localStorage.getItem(key);
        if (known) return known;
        const made = crypto.randomUUID();
        localStorage.setItem(key, made);
        return made;
      } catch (err) {
        return crypto.randomUUID(); // storage blocked: a new id per page
      }
    },
    // What a page could not send is kept here for the next page of this origin (pyclient.transport).
    stored(prefix) {
      const found = [];
      try {
        for (let i = 0; i < localStorage.length; i++) {
          const key = localStorage.key(i);
          if (key && key.startsWith(prefix)) found.push([key, localStorage.getItem(key)]);
        }
      } catch (err) {
        // storage blocked: nothing kept
      }
      return JSON.stringify(found);
    },
    store(key, value) {
      try {
        if (value === null || value === undefined) localStorage.removeItem(key);
        else localStorage.setItem(key, value);
      } catch (err) {
        console.warn("callstats: could not keep unsent items for the next page", err);
      }
    },
    endpointInfo() {
      const ua = navigator.userAgent;
      const build = /(Firefox|Edg|OPR|Chrome|Safari)\/([\d.]+)/.exec(ua) || [null, "unknown", ""];
      const os = /(Windows NT|Mac OS X|Android|iPhone OS|CrOS|Linux)[ ]?([\d._]*)/.exec(ua) || [null, "unknown", ""];
      return JSON.stringify({ type: "browser", buildName: build[1], buildVersion: build[2], os: os[1],
                              osVersion: os[2], userAgent: ua });
    },
  };

  // ---- the goodbye: final stats, fabricTerminated and user/left, sent with keepalive ----
  // Listeners, never the page's own onbeforeunload/onpagehide properties; pagehide also covers
  // mobile and the back/forward cache. Sending is idempotent (fabrics end once).
  // Python also keeps it all in localStorage (delivery is not known); once every request was
  // answered 200 that record can go.
  function goodbye() {
    if (!python) {
      keepEarly();
      return;
    }
    try {
      const { requests, forget } = JSON.parse(python.goodbye());
      const sent = requests.map((r) =>
        fetch(r.url, { method: "POST", headers: r.headers, body: r.body, keepalive: true, credentials: "omit" })
          .then((answer) => answer.ok, () => false));
      if (forget) Promise.all(sent).then((oks) => oks.every(Boolean) && bridge.store(forget, null));
    } catch (err) {
      console.warn("callstats: goodbye failed", err);
    }
  }
  // Closed before Python was ready: keep the calls (secrets and functions left out) and what each
  // pc did, for the next page of this origin to replay (pyclient/replay.py).
  function keepEarly() {
    const init = queue.find((item) => item.method === "initialize");
    if (!init || early.kept) return;
    early.kept = true;
    const { AppID, localUserID } = JSON.parse(init.args);
    const calls = queue.map(({ method, args, at }) =>
      ({ method, at, args: method === "initialize" ? JSON.stringify({ ...JSON.parse(args), AppSecret: "-" }) : args }));
    const pcs = {};
    recorders.forEach((rec, id) => { pcs[id] = { initial: rec.initial, backlog: rec.backlog }; });
    bridge.store(`callstats.early.${AppID}.${crypto.randomUUID()}`,
                 JSON.stringify({ app: String(AppID), user: localUserID, closedAt: now(), calls, pcs }));
  }
  window.addEventListener("beforeunload", goodbye);
  window.addEventListener("pagehide", goodbye);

  // Between boot steps: let the page's own work run (Python's start is synchronous work).
  const pause = () =>
    typeof scheduler !== "undefined" && scheduler.yield ? scheduler.yield() : new Promise((r) => setTimeout(r, 0));

  async function boot() {
    const marks = {};
    marks.start = performance.now();
    const { loadPyodide } = await import(ASSETS + "pyodide.mjs");
    const pyodide = await loadPyodide({
      indexURL: ASSETS,
      lockFileURL: ASSETS + "pyodide-lock.json",
      packageBaseUrl: ASSETS,
      packages: META.packages,
      checkAPIVersion: true,
    });
    marks.pyodide = performance.now();
    // Python's start, one small step per task (pyclient/boot.py)
    const steps = pyodide.pyimport("pyclient.boot").steps(pyodide.toPy(META.preload));
    marks.steps = [];
    for (;;) {
      await pause();
      const t = performance.now();
      const step = steps.next();
      if (step.done) break;
      marks.steps.push([step.value, Math.round(performance.now() - t)]);
    }
    steps.destroy();
    const entry = pyodide.pyimport("pyclient.browser").start(bridge);
    marks.python = performance.now();
    while (queue.length) {
      const item = queue.shift();
      const result = entry.call(item.method, item.args, item.handles, item.at);
      if (result.status !== "success") console.warn("callstats: a queued call failed: " + result.msg);
    }
    python = entry;
    instance.bootTimes = callstats.bootTimes = marks;
    // For bench/client_overhead.py: the wasm linear memory Python lives in (Emscripten's module).
    instance._wasmBytes = callstats._wasmBytes = () => pyodide._module.HEAPU8.byteLength;
    resolveReady(instance);
  }

  boot().catch((err) => {
    console.error("callstats: could not start", err);
    rejectReady(err);
  });
})();
