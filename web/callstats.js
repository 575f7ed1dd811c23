// callstats.js: the script-tag loader, on the page's main thread. The logic is Python (pyclient),
// running in a dedicated worker (web/host.js); this keeps only what needs the page:
//
// - window.callstats, and every answer, at once, from rules compiled at build time from
//   pyclient's pydantic models (META, VALIDATE), worded as Python words them; each good call is
//   forwarded to Python in order. Arguments are copied with fixed bounds first: whatever a page
//   passes, an answer takes a few ms at most.
// - every pc the page makes, from its creation (web/observe.js: when, and its state changes), so a
//   pc handed over late still has its real setup delay; each pc handed over: its state changes
//   with their timestamps (Python rebuilds the timeline it missed while it was starting), its
//   descriptions, and the poll clock's getStats(), with the battery and Wi-Fi (web/device.js);
// - the first handshake (web/handshake.js), at initialize: csInitCallback as soon as the
//   deployed client's, whatever Python's start takes; Python adopts the token;
// - the page's callbacks and token generator, localStorage, the first frame of video elements;
// - the pre-call test's pcs and data channels (web/precall.js), measured as Python asks;
// - the goodbye at pagehide: Python keeps a farewell here (what leaving would send now), sent
//   with keepalive without waiting for the worker, which dies with the page.
//
// Where the page's CSP forbids the worker (no blob: workers), host.mjs runs here instead, behind
// the same messages. `(await callstats.ready).mode` says which: "worker" or "main".
import { META, VALIDATE } from "callstats-generated";
import { attachWifi, deviceStatus, resetWifi, watchBattery } from "./device.js";
import { sendGoodbye } from "./goodbye.js";
import { canSign, handshake, outcome } from "./handshake.js";
import { observePeerConnections } from "./observe.js";
import { probe, stopProbe } from "./precall.js";

(function () {
  "use strict";
  if (window.callstats && window.callstats.version) return; // loaded twice: keep the first

  const script = document.currentScript;
  const BASE = new URL("./", script ? script.src : location.href);
  const ASSETS = new URL(META.assets + "/", BASE).href;
  const now = () => performance.timeOrigin + performance.now();
  // DOM event -> the state it changes, and the states that end a fabric's setup: pyclient.fabric's
  const { stateOf: STATE_OF, connected: CONNECTED } = META.pcStates;
  const observer = observePeerConnections(now, STATE_OF); // first: the page's pcs are made from now on
  watchBattery();

  // ---- the link to Python (host.mjs): messages wait until it listens ----
  const link = { port: null, listening: false, outbox: [], ready: false, farewell: null, asked: new Map(), next: 0 };
  function post(message) {
    if (link.listening) link.port.postMessage(message);
    else link.outbox.push(message);
  }

  // ---- what the answers depend on (pyclient.api keeps the same: the answers must agree) ----
  const state = { initialized: false, noGoodbye: false, proxy: {}, fabrics: new Map() }; // pc id -> {conferenceID, connected}
  const early = { calls: [], kept: false }; // the calls before Python was ready, for keepEarly

  // ---- pcs: ids, recorders ----
  const PC_EVENTS = Object.keys(STATE_OF);
  const isConnected = (states) => Object.entries(CONNECTED).some(([name, values]) => values.includes(states[name]));
  const pcIds = new WeakMap();
  const recorders = new Map(); // id -> {pc, initial, backlog (until ready), everConnected, watched}

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
    return safely(() => typeof value.getStats === "function" && typeof value.addEventListener === "function" &&
      "iceConnectionState" in value);
  }

  function pcId(pc) {
    let id = pcIds.get(pc);
    if (id !== undefined) return id;
    id = recorders.size;
    pcIds.set(pc, id);
    const rec = { pc, initial: statesOf(pc), backlog: [], watched: false, sdp: { local: null, remote: null } };
    recorders.set(id, rec);
    const record = (kind, value, t = now()) => {
      const event = { t, kind, state: value };
      if (kind === "signalingstatechange") Object.assign(event, descriptionsOf(rec));
      if (CONNECTED[STATE_OF[kind]] && CONNECTED[STATE_OF[kind]].includes(value)) {
        rec.everConnected = true;
        const fabric = state.fabrics.get(id);
        if (fabric) fabric.connected = true;
      }
      if (kind === "connectionstatechange" && value === "closed") state.fabrics.delete(id); // Python ends it
      if (!link.ready) rec.backlog.push(event);
      post({ t: "pcEvent", id, event });
    };
    // seen since its creation: its first states and what it did since; else from now
    const seen = observer.adopt(pc, record);
    const before = seen ? seen.events : [];
    if (seen) rec.initial = seen.initial;
    Object.assign(rec.initial, descriptionsOf(rec));
    rec.everConnected = isConnected(rec.initial) ||
      before.some((e) => CONNECTED[STATE_OF[e.kind]] && CONNECTED[STATE_OF[e.kind]].includes(e.state));
    if (!link.ready) rec.backlog.push(...before);
    post({ t: "pc", id, initial: rec.initial, created: seen ? seen.created : null, backlog: before });
    if (!seen) for (const kind of PC_EVENTS) pc.addEventListener(kind, () => record(kind, pc[STATE_OF[kind]]));
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

  // ---- page functions: Python names them by number ----
  const handleIds = new WeakMap();
  const handleFns = new Map();
  function handleOf(fn) {
    let id = handleIds.get(fn);
    if (id === undefined) {
      id = handleFns.size;
      handleIds.set(fn, id);
      handleFns.set(id, fn);
    }
    return id;
  }

  // ---- the JSON projection of JS arguments (what the pydantic models validate), bounded ----
  // Whatever a page passes (window, DOM nodes, a framework's state tree, cycles, throwing
  // getters, a 10 MB string), the copy of each argument stops at these bounds; what was left out
  // is said.
  const BOUNDS = { depth: 8, values: 1000, chars: 100000 };

  function projectArgs(names, rawArgs) {
    const args = {};
    const handles = {};
    const cuts = [];
    names.forEach((name, i) => {
      const raw = rawArgs[i];
      const budget = { values: BOUNDS.values, chars: BOUNDS.chars }; // each its own: a cut names its argument
      const why = [];
      const value = project(raw, 0, budget, new Set(), why);
      if (value !== undefined) args[name] = value;
      if (typeof raw === "function") handles[name] = handleOf(raw);
      if (why.length) cuts.push(say("cut", { arg: name, why: why[0] }));
    });
    return { args, handles, cuts };
  }

  function project(value, depth, budget, path, why) {
    if (value === undefined) return undefined;
    if (--budget.values < 0) return cut(why, `more than ${BOUNDS.values} values`);
    if (value === null || typeof value === "boolean") return value;
    if (typeof value === "string") return text(value, budget, why);
    if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
    if (typeof value === "function") return { $js: "function" };
    if (typeof value !== "object") return { $js: typeof value };
    if (depth > BOUNDS.depth) return cut(why, `deeper than ${BOUNDS.depth} levels`, "too deep");
    if (path.has(value)) return cut(why, "it refers to itself", "cycle");
    path.add(value);
    try {
      return projectObject(value, depth, budget, path, why);
    } catch (err) {
      // a proxy whose traps throw, a revoked proxy: even asking what it is can throw
      return cut(why, "reading it threw", "unreadable");
    } finally {
      path.delete(value);
    }
  }

  function projectObject(value, depth, budget, path, why) {
    if (isPc(value)) return { $js: "pc", id: pcId(value) };
    if (value instanceof Error) return errorOf(value, budget, why);
    if (isWindow(value)) return cut(why, "a window is not copied", "window");
    if (typeof Node !== "undefined" && value instanceof Node) return cut(why, "a DOM node is not copied", "element");
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return cut(why, "binary data is not copied", "binary");
    const toJSON = value.toJSON;
    if (typeof toJSON === "function") return project(toJSON.call(value), depth + 1, budget, path, why);
    if (Array.isArray(value)) return projectList(value, depth, budget, path, why);
    const out = {};
    for (const key of Object.keys(value)) {
      if (budget.values <= 0) {
        cut(why, `more than ${BOUNDS.values} values`);
        break;
      }
      const v = project(member(value, key, why), depth + 1, budget, path, why);
      if (v !== undefined) out[text(key, budget, why)] = v;
    }
    return out;
  }

  function projectList(list, depth, budget, path, why) {
    const out = [];
    const length = list.length;
    for (let i = 0; i < length; i++) {
      if (budget.values <= 0) {
        cut(why, `more than ${BOUNDS.values} values`);
        break;
      }
      const v = project(member(list, i, why), depth + 1, budget, path, why);
      out.push(v === undefined ? null : v);
    }
    return out;
  }

  // One member of an object: a getter that throws leaves a named hole, not a failed call.
  function member(value, key, why) {
    try {
      return value[key];
    } catch (err) {
      return cut(why, "reading it threw", "unreadable");
    }
  }

  function text(value, budget, why) {
    const room = Math.max(0, budget.chars);
    budget.chars -= value.length;
    if (value.length <= room) return value;
    cut(why, `more than ${BOUNDS.chars} characters`);
    return value.slice(0, room);
  }

  // Say why a value was left out; what stands in its place names it.
  function cut(why, reason, name = "cut") {
    if (!why.includes(reason)) why.push(reason);
    return { $js: name };
  }

  function isWindow(value) {
    return value === window || safely(() => value.window === value) === true;
  }

  function errorOf(err, budget, why) {
    const field = (key) => text(String(err[key] || ""), budget, why);
    const out = { name: field("name"), message: field("message"), stack: field("stack") };
    if (err.constraintName !== undefined) out.constraintName = field("constraintName");
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
    const shown = typeof value === "string" ? value : JSON.stringify(value);
    return shown.length <= SHOWN ? shown : shown.slice(0, SHOWN - 3) + "...";
  }

  // The deepest error, ties to the earliest argument, then to a wrong value over a missing one:
  // the rule pyclient.answers.describe uses.
  function describe(method, errors, args, argNames) {
    let best = null;
    // pydantic refuses a too-long list at once, without looking at its items: so does this
    const tooLong = errors.filter((err) => err.keyword === "maxItems").map((err) => err.instancePath + "/");
    for (const err of errors.filter((e) => !tooLong.some((path) => e.instancePath.startsWith(path)))) {
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

  // ---- the rules of a call: pyclient.api's _check_order and each method's answer ----
  function refusal(method, spec, args) {
    const validate = VALIDATE[method];
    if (!validate(args)) return describe(method, validate.errors, args, spec.args);
    if (spec.needsInit && !state.initialized) return say("notInitialized", { method });
    if (method === "setProxyConfig" && state.initialized) return say("proxyAfterInit", {});
    const pc = args.pc;
    if (!spec.pcRule || (spec.pcRule === "added_if_given" && pc === null)) return null;
    const fabric = state.fabrics.get(pc.id);
    if (spec.pcRule === "adds") {
      return fabric && fabric.conferenceID !== args.conferenceID
        ? say("pcOtherConference", { method, conferenceID: fabric.conferenceID })
        : null;
    }
    if (!fabric || fabric.conferenceID !== args.conferenceID) {
      return say("pcNotAdded", { method, conferenceID: args.conferenceID });
    }
    return null;
  }

  // A good call: what it changes here, and its answer (before Python is ready: queued).
  function accept(method, args) {
    const ready = link.ready;
    const queued = ready ? null : say("queuedUntilReady", { method });
    switch (method) {
      case "initialize": {
        const again = state.initialized;
        state.initialized = true;
        state.noGoodbye = !!(args.configParams && args.configParams.disableBeforeUnloadHandler);
        return queued || say(again ? "alreadyInitialized" : "authenticating", {});
      }
      case "addNewFabric": {
        if (state.fabrics.has(args.pc.id)) return queued || say("alreadyMonitored", {});
        const rec = recorders.get(args.pc.id);
        // as Python's Fabric.start sees it: a pc watched before gets no backlog, only its first states
        const connected = rec.watched ? isConnected(rec.initial) : rec.everConnected;
        rec.watched = true;
        state.fabrics.set(args.pc.id, { conferenceID: args.conferenceID, connected });
        setTimeout(() => stopProbe("callStarted"), 0); // a pre-call test stops as a call starts
        return queued || say("monitoring", {});
      }
      case "reportError": {
        const log = META.logOnly.includes(args.webRTCFunction) ||
          (args.pc && state.fabrics.get(args.pc.id).connected);
        return queued || say(log ? "sentAsLog" : "sentAsSetupFailed", {});
      }
      case "sendFabricEvent":
        if (args.fabricEvent === "fabricTerminated") state.fabrics.delete(args.pc.id);
        return queued || say("eventQueued", { event: args.fabricEvent });
      case "setProxyConfig":
        state.proxy = args.config;
        return queued || say("done", { method });
      case "setIdentifiers":
      case "stopPrecallTests":
      case "attachWifiStatsHandler":
      case "resetWifiStatsHandler":
        return queued || say("done", { method });
      case "on":
        return queued || say("listening", { event: args.event });
      default:
        return queued || say("queued", { method });
    }
  }

  function invoke(method, rawArgs) {
    const spec = META.methods[method];
    const at = now();
    const { args, handles, cuts } = projectArgs(spec.args, rawArgs);
    const note = cuts.length ? ` (${cuts.join("; ")})` : "";
    const refused = refusal(method, spec, args);
    if (refused) {
      // Python checks it too, in order, changing nothing: its rules are the loader's (host.mjs says so if not)
      post({ t: "call", method, args: JSON.stringify(args), at, told: answer("failure", refused), refused: true });
      return answer("failure", refused + note);
    }
    if (method === "associateMstWithUserID" && typeof args.associatedVideoTag === "string") {
      firstFrame.watch(args.associatedVideoTag); // from now, even while Python starts
    }
    const ready = link.ready;
    const first = method === "initialize" && !state.initialized;
    const msg = accept(method, args);
    if (method === "attachWifiStatsHandler") attachWifi(rawArgs[0]);
    if (method === "resetWifiStatsHandler") resetWifi();
    const json = JSON.stringify(args);
    if (!ready) early.calls.push({ method, args: json, at });
    const shaking = first && !ready && firstHandshake(args, rawArgs);
    post({ t: "call", method, args: json, handles, at, told: answer("success", msg), queued: !ready,
           handshake: shaking });
    return answer("success", msg + note);
  }

  // The first handshake, here and now while Python starts: csInitCallback hears its outcome as
  // soon as the deployed client's would, and Python gets the answer to adopt (pyclient.handshake).
  // False where this page cannot sign (no WebCrypto): Python makes it then.
  function firstHandshake(args, rawArgs) {
    if (!canSign()) return false;
    const [, secret, , onInit] = rawArgs;
    const base = (script && script.dataset.collector) || BASE.origin;
    const user = args.localUserID;
    handshake({
      authURL: state.proxy.authServiceURL || (base.endsWith("/") ? base : base + "/"),
      appId: String(args.AppID), userId: typeof user === "string" ? user : user.aliasName,
      secret: typeof secret === "function" ? null : secret, grantType: META.handshake.grantType,
      tokenFrom: (forceNew) => new Promise((resolve, reject) =>
        secret(forceNew, (err, token) => (err ? reject(new Error(String(err))) : resolve(token)))),
    }).then((result) => {
      if (result && typeof onInit === "function") {
        const [status, message] = outcome(result, META.handshake.messages);
        try {
          onInit(status, message);
        } catch (err) {
          console.error("callstats: a page callback threw", err);
        }
      }
      post({ t: "handshake", result });
    }, (err) => post({ t: "handshake", result: null }));
    return true;
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

  // ---- time to first frame on a video element (associateMstWithUserID's associatedVideoTag) ----
  const firstFrame = {
    seen: new Map(), // element id -> {t, already, sinks}
    watch(tagId) {
      if (this.seen.has(tagId)) return this.seen.get(tagId);
      const found = { t: null, already: false, sinks: [] };
      this.seen.set(tagId, found);
      const done = (t, already) => {
        if (found.t !== null) return;
        Object.assign(found, { t, already });
        found.sinks.forEach((sink) => sink({ t, already }));
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
      return found;
    },
    tell(tagId, sink) {
      const found = this.watch(tagId);
      if (found.t !== null) sink({ t: found.t, already: found.already });
      else found.sinks.push(sink);
    },
  };

  // ---- the public object ----
  const instance = {};
  function callstats() {
    return instance; // `new callstats()` gives the one shared instance
  }
  for (const [method, spec] of Object.entries(META.methods)) {
    instance[method] = guarded(method, spec.arity, (args) => invoke(method, args));
  }
  for (const [method, arity] of Object.entries(META.unsupported)) {
    instance[method] = guarded(method, arity, () => {
      const told = answer("failure", say("unsupported", { method }));
      post({ t: "call", method, args: "{}", at: now(), told, refused: true }); // Python says the same
      return told;
    });
  }
  for (const [name, values] of Object.entries(META.enums)) instance[name] = Object.freeze({ ...values });
  instance.version = META.version;
  instance.mode = null; // "worker" or "main" once ready

  let resolveReady, rejectReady;
  instance.ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  instance.ready.catch(() => {}); // a page that never awaits it must not see an unhandled rejection
  // For tests: the loader's own verdict on projected arguments (must match pyclient's).
  instance._explain = (method, args) =>
    VALIDATE[method](args) ? null : describe(method, VALIDATE[method].errors, args, META.methods[method].args);
  // For tests and benchmarks: what Python holds (null before it is ready), as a promise.
  instance._inspect = () => {
    if (!link.ready) return Promise.resolve(null);
    const id = link.next++;
    post({ t: "inspect", id });
    return new Promise((resolve) => link.asked.set(id, resolve));
  };
  Object.assign(callstats, instance);
  Object.setPrototypeOf(instance, callstats.prototype);
  window.callstats = callstats;

  // ---- what Python asks of the page ----
  // Every pc asked: {id: the report's entries (a list), or null where getStats() failed}.
  async function statsOf(ids) {
    const reports = await Promise.all(ids.map(async (id) => {
      try {
        return [...(await recorders.get(id).pc.getStats()).values()];
      } catch (err) {
        return null;
      }
    }));
    return Object.fromEntries(ids.map((id, i) => [id, reports[i]]));
  }

  function settle(id, promise) {
    promise.then((value) => post({ t: "settled", id, failed: false, value }),
                 (err) => post({ t: "settled", id, failed: true, value: String((err && err.message) || err) }));
  }

  let pollTimer = null;
  const fromPython = {
    hello() {
      link.listening = true;
      link.port.postMessage(initMessage());
      link.outbox.splice(0).forEach((message) => link.port.postMessage(message));
    },
    ready({ mode }) {
      link.ready = true;
      early.calls = [];
      recorders.forEach((rec) => { rec.backlog = []; });
      instance.mode = callstats.mode = mode;
      resolveReady(instance);
    },
    failed({ error }) {
      console.error("callstats: could not start: " + error);
      rejectReady(new Error(error));
    },
    log({ level, text }) {
      (console[level] || console.log).call(console, "callstats: " + text);
    },
    callback({ handle, args }) {
      try {
        handleFns.get(handle)(...JSON.parse(args));
      } catch (err) {
        console.error("callstats: a page callback threw", err);
      }
    },
    // Python's poll clock: every ms, the listed pcs' getStats(), then one message with them all.
    pollEvery({ gen, ms, ids }) {
      clearInterval(pollTimer);
      pollTimer = null;
      if (!ms || !ids.length) return;
      const timer = setInterval(async () => {
        const at = now();
        const reports = await statsOf(ids);
        if (pollTimer === timer) post({ t: "poll", gen, reports, at, device: deviceStatus() });
      }, ms);
      pollTimer = timer;
    },
    stats({ id, ids }) {
      settle(id, statsOf(ids));
    },
    // the pre-call test (web/precall.js): its pcs live here, Python says what to measure. Never
    // during a call: a probe asked for once the page handed over a pc (Python may not know yet)
    // does not start, as one under way stops when a fabric is added (accept()).
    probe({ id, options }) {
      settle(id, state.fabrics.size ? Promise.resolve({ connected: false, stopped: "callStarted" })
        : probe(options, observer.native));
    },
    stopProbe({ reason }) {
      stopProbe(reason);
    },
    token({ id, handle, forceNew }) {
      settle(id, new Promise((resolve, reject) => {
        handleFns.get(handle)(forceNew, (err, token) => (err ? reject(new Error(String(err))) : resolve(String(token))));
      }));
    },
    firstFrame({ tagId, sink }) {
      firstFrame.tell(tagId, (value) => post({ t: "frame", sink, value }));
    },
    store({ key, value }) {
      store(key, value);
    },
    farewell({ text }) {
      link.farewell = text;
    },
    settled({ id, value }) {
      link.asked.get(id)(value);
      link.asked.delete(id);
    },
  };

  function fromHost(event) {
    try {
      fromPython[event.data.t](event.data);
    } catch (err) {
      console.warn("callstats: " + event.data.t + " failed", err);
    }
  }

  function initMessage() {
    return { t: "init", assets: ASSETS, packages: META.packages,
             collector: (script && script.dataset.collector) || BASE.origin,
             bufferBytes: (script && Number(script.dataset.bufferBytes)) || undefined,
             deviceId: deviceId(), endpointInfo: endpointInfo(), stored: stored(META.storage.prefix) };
  }

  function deviceId() {
    const key = META.storage.deviceID;
    try {
      const known = localStorage.getItem(key);
      if (known) return known;
      const made = crypto.randomUUID();
      localStorage.setItem(key, made);
      return made;
    } catch (err) {
      return crypto.randomUUID(); // storage blocked: a new id per page
    }
  }

  function endpointInfo() {
    const ua = navigator.userAgent;
    const build = /(Firefox|Edg|OPR|Chrome|Safari)\/([\d.]+)/.exec(ua) || [null, "unknown", ""];
    const os = /(Windows NT|Mac OS X|Android|iPhone OS|CrOS|Linux)[ ]?([\d._]*)/.exec(ua) || [null, "unknown", ""];
    return JSON.stringify({ type: "browser", buildName: build[1], buildVersion: build[2], os: os[1],
                            osVersion: os[2], userAgent: ua });
  }

  // What a page could not send is kept for the next page of this origin (pyclient.handover).
  function stored(prefix) {
    const found = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (key && key.startsWith(prefix)) found.push([key, localStorage.getItem(key)]);
      }
    } catch (err) {
      // storage blocked: nothing kept
    }
    return found;
  }

  function store(key, value) {
    try {
      if (value === null || value === undefined) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (err) {
      console.warn("callstats: could not keep unsent items for the next page", err);
    }
  }

  // ---- the goodbye: final stats, fabricTerminated and user/left, sent with keepalive ----
  // Listeners, never the page's own onbeforeunload/onpagehide properties; pagehide also covers
  // mobile and the back/forward cache. The farewell is sent once; Python ends there too.
  function goodbye() {
    if (!link.ready) {
      keepEarly();
      return;
    }
    if (link.farewell === null) return; // nothing changed since the last goodbye
    const farewell = JSON.parse(link.farewell);
    link.farewell = null;
    sendGoodbye(farewell, store);
    if (!state.noGoodbye) state.fabrics.clear();
    post({ t: "goodbye" });
  }
  // Closed before Python was ready: keep the calls (secrets and functions left out) and what each
  // pc did, for the next page of this origin to replay (pyclient/replay.py).
  function keepEarly() {
    const init = early.calls.find((item) => item.method === "initialize");
    if (!init || early.kept) return;
    early.kept = true;
    const { AppID, localUserID } = JSON.parse(init.args);
    const calls = early.calls.map(({ method, args, at }) =>
      ({ method, at, args: method === "initialize" ? JSON.stringify({ ...JSON.parse(args), AppSecret: "-" }) : args }));
    const pcs = {};
    recorders.forEach((rec, id) => { pcs[id] = { initial: rec.initial, backlog: rec.backlog }; });
    store(`${META.storage.early}${AppID}.${crypto.randomUUID()}`,
          JSON.stringify({ app: String(AppID), user: localUserID, closedAt: now(), calls, pcs }));
  }
  window.addEventListener("beforeunload", goodbye);
  window.addEventListener("pagehide", goodbye);

  // ---- start Python: in a dedicated worker, or here where the page forbids one ----
  const HOST = ASSETS + "host.mjs";

  function startWorker() {
    // A worker of the collector's origin cannot be started from the page's: a blob: worker of the
    // page's origin imports host.mjs from the collector (CORS), and host.mjs loads Pyodide there.
    let worker;
    try {
      const code = `import { serve } from ${JSON.stringify(HOST)}; serve(self, "worker");`;
      const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
      worker = new Worker(url, { type: "module", name: "callstats" });
    } catch (err) {
      startHere();
      return;
    }
    link.port = worker;
    worker.onmessage = fromHost;
    worker.onerror = (event) => {
      if (link.listening) return; // Python's own errors arrive as messages
      event.preventDefault();
      worker.terminate();
      startHere(); // refused (the page's CSP) or could not load: run here instead
    };
  }

  function startHere() {
    const channel = new MessageChannel();
    link.port = channel.port1;
    channel.port1.onmessage = fromHost;
    import(HOST).then(({ serve }) => serve(channel.port2, "main"),
                      (err) => fromPython.failed({ error: String(err) }));
  }

  if (typeof Worker === "function") startWorker();
  else startHere();
})();
