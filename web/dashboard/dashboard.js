// The dashboard: plain pages over the collector's read API (GET /v1/apps/{appID}/...), authorised
// by the app's read key. The key is given once (form, or #app=&key= in the URL) and kept in this
// tab's sessionStorage only. Charts are uPlot; window.dashboard.charts exposes what each plots.
const dashboard = (() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.hash.slice(1));
  const creds = {
    app: params.get("app") || sessionStorage.getItem("callstats.app") || "",
    key: params.get("key") || sessionStorage.getItem("callstats.key") || "",
  };
  const charts = {};

  function remember(app, key) {
    Object.assign(creds, { app, key });
    sessionStorage.setItem("callstats.app", app);
    sessionStorage.setItem("callstats.key", key);
  }

  async function api(path, query = {}) {
    const url = new URL(`/v1/apps/${creds.app}/${path}`, location.origin);
    Object.entries(query).forEach(([k, v]) => v !== undefined && url.searchParams.set(k, v));
    const answer = await fetch(url, { headers: { Authorization: `Bearer ${creds.key}` } });
    if (!answer.ok) {
      const body = await answer.json().catch(() => ({}));
      throw new Error(`${answer.status}: ${body.msg || answer.statusText}`);
    }
    return { data: await answer.json(), next: answer.headers.get("x-next-cursor") };
  }

  const time = (ms) => new Date(ms).toLocaleString();
  const duration = (ms) => (ms < 60000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60000)} min`);
  const esc = (text) => String(text ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  const cell = (value, cls = "") => `<td class="${cls}">${esc(value)}</td>`;

  // ---- the list of conferences ----
  async function listPage() {
    const form = $("key");
    form.app.value = creds.app;
    form.key.value = creds.key;
    if (creds.app && creds.key) remember(creds.app, creds.key);  // for the conference pages
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      remember(form.app.value.trim(), form.key.value.trim());
      showList({ q: form.filter.value.trim(), quality: form.quality.value, failed: form.failed.checked });
    });
    if (creds.app && creds.key) await showList({});
  }

  // Filters by ID and quality are the collector's (all conferences); "with failures" narrows the page.
  async function showList({ q = "", quality = "", failed = false }) {
    $("error").textContent = "";
    const started = performance.now();
    try {
      const { data, next } = await api("conferences", { limit: 200, ...(q && { q }), ...(quality && { quality }) });
      const rows = data.filter((c) => !failed || c.failures).map((c) => {
        const link = `conference.html?conference=${encodeURIComponent(c.conferenceID)}`;
        return `<tr><td><a href="${link}">${esc(c.conferenceID)}</a></td>${cell(time(c.start))}` +
          `${cell(duration(c.end - c.start), "n")}${cell(c.participants, "n")}${cell(c.fabrics, "n")}` +
          `${cell(c.failures, c.failures ? "n failed" : "n")}${cell(c.worstQuality || "–", c.worstQuality || "")}</tr>`;
      });
      document.querySelector("#conferences tbody").innerHTML = rows.join("");
      $("more").textContent = next ? "Newest 200 shown." : `${rows.length} conferences.`;
      window.dashboard.listRenderMs = performance.now() - started;
      window.dashboard.listed = data.length;
    } catch (err) {
      $("error").textContent = `Could not read conferences: ${err.message}`;
    }
  }

  // ---- one conference ----
  const METRICS = [
    // [title, unit, the stored field, stream types, value from consecutive points]
    ["Bitrate", "kbit/s", "bytesSent", ["outbound-rtp"], rate(8 / 1000)],
    ["Bitrate", "kbit/s", "bytesReceived", ["inbound-rtp"], rate(8 / 1000)],
    ["Jitter", "ms", "jitter", ["inbound-rtp", "remote-inbound-rtp"], (v) => v * 1000],
    ["Round-trip time", "ms", "roundTripTime", ["remote-inbound-rtp"], (v) => v * 1000],
    ["Packets lost", "packets", "packetsLost", ["inbound-rtp", "remote-inbound-rtp"], (v) => v],
    ["Frame rate", "fps", "framesPerSecond", ["inbound-rtp", "outbound-rtp"], (v) => v],
    ["Audio MOS", "1-5, E-model", "csioMos", ["inbound-rtp", "outbound-rtp"], (v) => v],
  ];

  function rate(scale) {
    return (v, i, values, times) => (i === 0 ? null : ((v - values[i - 1]) * scale) / ((times[i] - times[i - 1]) / 1000));
  }

  async function conferencePage() {
    const conference = new URLSearchParams(location.search).get("conference");
    $("title").textContent = conference;
    if (!creds.app || !creds.key) {
      $("error").innerHTML = 'Give the AppID and read key on the <a href="index.html">conference list</a> first.';
      return;
    }
    const path = `conferences/${encodeURIComponent(conference)}`;
    try {
      const [{ data: detail }, { data: events }] = await Promise.all([api(path), api(`${path}/events`)]);
      showDetail(detail, events);
      showTimeline(detail, events);
      for (const [title, unit, field, types, value] of METRICS) {
        const { data: streams } = await api(`${path}/stats`, { series: field });
        chart(`${title} (${unit}): ${field}`, streams.filter((s) => types.includes(s.type)), value, field);
      }
      window.dashboard.ready = true;
    } catch (err) {
      $("error").textContent = `Could not read the conference: ${err.message}`;
    }
  }

  // A pre-call test's results in a few words (pyclient/precall.py makes them).
  function precallSummary(r) {
    if (!r) return "–";
    if (r.reason) return `failed: ${r.message || r.reason}`;
    const loss = r.fractionalLoss != null ? `${(r.fractionalLoss * 100).toFixed(1)} % loss` : "";
    const parts = [(r.transport || "").toUpperCase(), r.rtt != null ? `rtt ${Math.round(r.rtt)} ms` : "", loss,
                   r.throughput != null ? `${Math.round(r.throughput)} kbit/s` : ""];
    return parts.filter(Boolean).join(" · ");
  }

  // The newest battery and Wi-Fi figures the participant's stats carried (Wi-Fi: whatever the
  // page's attachWifiStatsHandler gave, shown as its fields).
  function deviceSummary(p) {
    const parts = [];
    const battery = p.batteryStatus;
    if (battery && typeof battery.batteryLevel === "number") {
      parts.push(`battery ${Math.round(battery.batteryLevel * 100)} %${battery.isBatteryCharging ? ", charging" : ""}`);
    }
    if (p.wifiStats && typeof p.wifiStats === "object") {
      const fields = Object.entries(p.wifiStats).filter(([, v]) => typeof v !== "object").slice(0, 4);
      parts.push("Wi-Fi " + fields.map(([k, v]) => `${k} ${v}`).join(", "));
    }
    return parts.join(" · ") || "–";
  }

  function showDetail(detail, events) {
    const precall = {}; // ucID -> the latest pre-call results it sent
    for (const e of events) if (e.path === "events/precall" && e.body.results) precall[e.ucID] = e.body.results;
    const s = detail.summary;
    $("summary").textContent = `${time(detail.start)}, ${duration(detail.end - detail.start)}; ` +
      `${s.participants} participants, ${s.fabrics} fabrics, ${s.failures} failures; ` +
      `worst quality ${s.worstQuality || "unknown"}.`;
    const rows = [];
    for (const p of detail.participants) {
      const browser = p.endpointInfo ? `${p.endpointInfo.buildName || ""} ${p.endpointInfo.buildVersion || ""}` : "";
      for (const f of p.fabrics.length ? p.fabrics : [{}]) {
        const tested = precall[p.ucID];
        rows.push(`<tr>${cell(p.localID)}${cell(browser)}${cell(deviceSummary(p))}` +
          `${cell(precallSummary(tested), tested && tested.reason ? "failed" : "")}` +
          `${cell(time(p.joined))}${cell(p.left ? time(p.left) : "–")}` +
          `${cell(f.connectionID || "–")}${cell(f.remoteID || "")}${cell(f.state || "", f.state === "failed" ? "failed" : "")}` +
          `${cell(f.setupDelay != null ? `${Math.round(f.setupDelay)} ms` : "–", "n")}</tr>`);
      }
    }
    document.querySelector("#fabrics tbody").innerHTML = rows.join("");
  }

  function showTimeline(detail, events) {
    $("timeline").innerHTML = events.map((e) => {
      const b = e.body;
      const what = b.changedState ? `${b.changedState}: ${b.prevState} → ${b.newState}` :
        b.delay != null ? `setup delay ${Math.round(b.delay)} ms` : b.results ? precallSummary(b.results) :
        b.reason || b.message || "";
      return `<li data-path="${esc(e.path)}"><b>+${((e.timestamp - detail.start) / 1000).toFixed(1)} s</b> ` +
        `${esc(b.eventType || e.path)} <span class="muted">${esc(e.path)} ${esc(what)}</span></li>`;
    }).join("");
  }

  function chart(title, streams, value, field) {
    if (!streams.length) return;
    const xs = [...new Set(streams.flatMap((s) => s.timestamps))].sort((a, b) => a - b);
    const ys = streams.map((s) => {
      const at = new Map(s.timestamps.map((t, i) => [t, value(s.values[i], i, s.values, s.timestamps)]));
      return xs.map((t) => (at.has(t) ? at.get(t) : null));
    });
    const box = document.createElement("div");
    box.className = "chart";
    box.innerHTML = `<h3>${esc(title)}</h3>`;
    $("charts").append(box);
    const colors = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"];
    const series = [{}, ...streams.map((s, i) => ({
      label: `${s.type.replace("-rtp", "")} ${s.ssrc}`, stroke: colors[i % colors.length], spanGaps: true,
    }))];
    const data = [xs.map((t) => t / 1000), ...ys];
    new uPlot({ width: 540, height: 220, series, scales: { x: { time: true } } }, data, box);
    charts[`${field}`] = {
      title, streams: streams.map((s, i) => ({ ssrc: s.ssrc, type: s.type, stored: s.values.length,
                                              plotted: ys[i].filter((v) => v !== null).length })),
    };
  }

  return { listPage, conferencePage, charts };
})();
window.dashboard = dashboard;
