// host.mjs: where Python runs. In a dedicated worker by default; on the page's main thread only
// where the page forbids the worker (its CSP), behind the same messages (a MessageChannel).
//
// It starts Pyodide and pyclient, and gives pyclient.browser its `bridge`: what Python needs of
// the page, answered here (clocks, fetch, timers, the pcs' recorded events as the loader sent
// them) or asked of the loader by message (getStats(), a page callback or token generator,
// localStorage, the first frame of a video element). It keeps the loader's farewell up to date:
// what the goodbye would send now, which the loader sends at pagehide without waiting for us.
import { sendGoodbye } from "./goodbye.js";

const now = () => performance.timeOrigin + performance.now();
const START_TRIES = 3;

export function serve(channel, mode) {
  const post = (message) => channel.postMessage(message);
  const recorders = new Map(); // pc id -> {initial, backlog, sink}
  const asked = new Map(); // request id -> {resolve, reject}
  const frameSinks = new Map(); // id -> sink
  const stored = new Map(); // this origin's callstats.* localStorage, as the loader sent it at start
  let nextId = 0;
  let init = null;
  let entry = null; // pyclient.browser.Entry once Python is ready
  let pyodide = null;
  let bootTimes = null;
  const calls = []; // the page's calls until then
  let poll = { gen: 0, sink: null };
  let early = null; // the loader's first handshake: a promise of its result, until Python takes it
  let earlyDone = null; // and its resolver, until the loader sends the result
  let farewell = { timer: null, due: 0, at: -Infinity, text: null };

  function ask(message) {
    const id = nextId++;
    post({ ...message, id });
    return new Promise((resolve, reject) => asked.set(id, { resolve, reject }));
  }

  const bridge = {
    now,
    clock: () => performance.now(),
    get collector() {
      return init.collector;
    },
    get bufferBytes() {
      return init.bufferBytes;
    },
    handoverChanged: () => farewellSoon(true), // a token or a join: the goodbye can say more now
    log(level, text) {
      post({ t: "log", level, text });
    },
    callSoon(handle, args) {
      post({ t: "callback", handle, args });
    },
    watch(id, sink) {
      const rec = recorders.get(id) || { initial: {}, backlog: [], created: null };
      const backlog = rec.backlog;
      rec.backlog = [];
      rec.sink = sink;
      return JSON.stringify({ initial: rec.initial, backlog, created: rec.created });
    },
    // the loader's first handshake's answer (JSON), once; null when it ran none
    earlyHandshake() {
      const found = early;
      early = null;
      return found ? found.then((result) => result && JSON.stringify(result)) : null;
    },
    firstFrame(tagId, sink) {
      const id = nextId++;
      frameSinks.set(id, sink);
      post({ t: "firstFrame", tagId, sink: id });
    },
    // pyclient.runner: bridge[name](...args), then resume(failed, value) once its promise settles
    // (no name: resume on the next microtask). Python's background coroutines move on from here.
    settle(name, resume, ...args) {
      new Promise((resolve) => resolve(name ? bridge[name](...args) : undefined))
        .then((value) => resume(false, value), (err) => resume(true, String((err && err.message) || err)))
        .finally(() => farewellSoon(false));
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    stats: (idsJson) => ask({ t: "stats", ids: JSON.parse(idsJson) }).then(reportsJson),
    // Python's poll clock runs in the loader (it needs the pcs): every ms, getStats() of these
    // pcs, then one message; the sink is called with it. A replaced clock's late polls are dropped.
    // Each poll also brings what goes with the uploads: {batteryStatus?, wifiStats?} (web/device.js).
    pollEvery(ms, idsJson, sink) {
      poll = { gen: poll.gen + 1, sink: ms ? sink : null };
      post({ t: "pollEvery", gen: poll.gen, ms: ms || 0, ids: JSON.parse(idsJson) });
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
    token: (handle, forceNew) => ask({ t: "token", handle, forceNew }),
    // the pre-call test's measurements, made by the loader (its pcs must be on the main thread)
    probe: (optionsJson) => ask({ t: "probe", options: JSON.parse(optionsJson) }).then(JSON.stringify),
    stopProbe(reason) {
      post({ t: "stopProbe", reason });
    },
    deviceId: () => init.deviceId,
    endpointInfo: () => init.endpointInfo,
    stored(prefix) {
      return JSON.stringify([...stored].filter(([key]) => key.startsWith(prefix)));
    },
    store(key, value) {
      if (value === null || value === undefined) stored.delete(key);
      else stored.set(key, value);
      post({ t: "store", key, value: value === undefined ? null : value });
    },
  };

  // ---- the farewell: after anything that may change what leaving would send ----
  // At once after news from the page (a call, a pc's event, a poll's reports); after Python's own
  // background steps (token, upload, acknowledgement: many a poll) at most once a FAREWELL_MS, as
  // each farewell is Python encoding everything queued. What those add is acked items dropped
  // (stored once anyway: itemIDs) or a renewed token; at pagehide a pending refresh goes from here.
  const FAREWELL_MS = 1000;
  function farewellSoon(news) {
    if (!entry) return;
    const due = news ? performance.now() : Math.max(performance.now(), farewell.at + FAREWELL_MS);
    if (farewell.timer !== null && farewell.due <= due) return;
    clearTimeout(farewell.timer);
    farewell.due = due;
    farewell.timer = setTimeout(refreshFarewell, due - performance.now());
  }

  function refreshFarewell() {
    farewell.timer = null;
    farewell.at = performance.now();
    const text = entry.goodbye(true);
    if (text === farewell.text) return;
    farewell.text = text;
    post({ t: "farewell", text });
  }

  // The loader sent the last farewell at pagehide: end here too (the page may live on, e.g. a
  // cancelled beforeunload). Whatever changed since that farewell goes from here.
  function goodbye() {
    const changed = farewell.timer !== null;
    clearTimeout(farewell.timer);
    farewell.timer = null;
    const text = entry.goodbye(false);
    farewell.text = null;
    if (changed) sendGoodbye(JSON.parse(text), bridge.store);
  }

  // ---- messages from the loader ----
  // A call the loader answered already (`told`): Python's answer must agree, as both follow
  // pyclient's rules. A refused call is only checked; one answered while Python was starting was
  // told it is queued, so only its status can agree.
  const answered = { compared: 0, disagreements: [] };
  function call({ method, args, handles, at, told, queued, refused }) {
    const answer = refused ? entry.check(method, args) : entry.call(method, args, handles, at);
    answered.compared++;
    if (answer.status === told.status && (queued || answer.msg === told.msg)) return;
    if (answered.disagreements.length < 20) answered.disagreements.push({ method, told, python: answer });
    bridge.log("warn", `${method}: Python answered "${answer.msg}" where the page was told "${told.msg}"`);
  }

  const handlers = {
    init: (message) => {
      init = message;
      message.stored.forEach(([key, value]) => stored.set(key, value));
      start().catch((err) => post({ t: "failed", error: String((err && err.stack) || err) }));
    },
    pc: ({ id, initial, created, backlog }) => recorders.set(id, { initial, created, backlog, sink: null }),
    pcEvent: ({ id, event }) => {
      const rec = recorders.get(id);
      if (rec.sink) rec.sink(JSON.stringify(event));
      else rec.backlog.push(event);
    },
    call: (message) => {
      if (message.handshake) early = new Promise((resolve) => { earlyDone = resolve; });
      return entry ? call(message) : calls.push(message);
    },
    handshake: ({ result }) => {
      if (earlyDone) earlyDone(result);
      earlyDone = null;
    },
    poll: ({ gen, reports, at, device }) =>
      gen === poll.gen && poll.sink && poll.sink(reportsJson(reports), at, JSON.stringify(device || {})),
    settled: ({ id, failed, value }) => {
      const waiting = asked.get(id);
      asked.delete(id);
      if (failed) waiting.reject(new Error(value));
      else waiting.resolve(value);
    },
    frame: ({ sink, value }) => frameSinks.get(sink)(JSON.stringify(value)),
    goodbye: () => entry && goodbye(),
    inspect: ({ id }) => post({ t: "settled", id, value: entry ? inspect() : null }),
  };

  // Pyodide's start never settles when instantiating its wasm fails: it only warns "wasm
  // instantiation failed!" (seen in Firefox, a fetch of the wasm aborted under load). That warning
  // is the only sign, so it is watched for while Pyodide starts, and the start is tried again
  // (a fresh fetch, a fresh module), up to START_TRIES times, before the page is told it failed.
  async function startPyodide(loadPyodide) {
    // a fresh object each time: loadPyodide writes into the one it is given
    const options = () => ({ indexURL: init.assets, lockFileURL: init.assets + "pyodide-lock.json",
                             packageBaseUrl: init.assets, packages: init.packages, checkAPIVersion: true });
    const warn = console.warn;
    for (let tries = 1; ; tries++) {
      let failed;
      const instantiation = new Promise((_, reject) => { failed = reject; });
      console.warn = (...args) => {
        if (args[0] === "wasm instantiation failed!") failed(new Error("Pyodide's wasm did not instantiate"));
        warn.apply(console, args);
      };
      try {
        return await Promise.race([loadPyodide(options()), instantiation]);
      } catch (err) {
        if (tries >= START_TRIES) throw err;
        bridge.log("warn", `starting Python failed (${err.message}); trying again`);
      } finally {
        console.warn = warn;
      }
    }
  }

  // A wheel whose download the browser aborted (seen in Firefox under load: "The operation was
  // aborted" while loading pydantic-core) only logs an error; the import then fails. The whole
  // start is tried again then, up to START_TRIES times, as for a wasm that did not instantiate.
  async function importClient(loadPyodide) {
    for (let tries = 1; ; tries++) {
      pyodide = await startPyodide(loadPyodide);
      try {
        return pyodide.pyimport("pyclient.browser");
      } catch (err) {
        if (tries >= START_TRIES) throw err;
        bridge.log("warn", `starting Python failed (importing the client: ${String(err).slice(-200)}); trying again`);
      }
    }
  }

  function inspect() {
    // wasmBytes: the linear memory Python lives in (bench/client_overhead.py)
    return { ...JSON.parse(entry.inspect()), mode, bootTimes, wasmBytes: pyodide._module.HEAPU8.byteLength,
             answers: answered };
  }

  channel.onmessage = (event) => {
    try {
      handlers[event.data.t](event.data);
    } catch (err) {
      bridge.log("error", `${event.data.t} failed: ${(err && err.stack) || err}`);
    }
    farewellSoon(event.data.t !== "inspect");
  };

  async function start() {
    const marks = { start: performance.now() };
    const { loadPyodide } = await import(init.assets + "pyodide.mjs");
    const client = await importClient(loadPyodide);
    marks.pyodide = performance.now();
    const started = client.start(bridge);
    marks.python = performance.now();
    bootTimes = marks;
    entry = started;
    calls.splice(0).forEach(call);
    post({ t: "ready", mode });
    farewellSoon(true);
  }

  post({ t: "hello" });
}


// The loader's {pc id: the report's entries, or null}, as pyclient.browser reads it: the JSON of
// {pc id: the entries' JSON}. Made here, off the page's main thread.
function reportsJson(reports) {
  const texts = {};
  for (const [id, entries] of Object.entries(reports)) texts[id] = entries && JSON.stringify(entries);
  return JSON.stringify(texts);
}
