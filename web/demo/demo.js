// The demo: a real call between two pcs in this page, monitored by callstats, figures shown live.
// Its AppID and secret come from the collector's demo mode (/demo/app.json).
(async () => {
  const $ = (id) => document.getElementById(id);
  const log = (text) => { const li = document.createElement("li"); li.textContent = text; $("log").prepend(li); };
  const conference = "demo-" + new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  $("conference").textContent = conference;
  window.demo = { figures: [], events: [] };

  const app = await (await fetch("app.json")).json();
  callstats.initialize(app.appID, app.appSecret, "demo-user", (status, msg) => {
    $("status").textContent = status === "success" ? "monitoring." : `collector: ${status} ${msg}`;
    log(`initialize: ${status}`);
  }, showFigures, { applicationVersion: "demo" });

  const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
  window.demo.pcs = [pc1, pc2];
  callstats.addNewFabric(pc1, "peer-2", callstats.fabricUsage.multiplex, conference);
  callstats.addNewFabric(pc2, "peer-1", callstats.fabricUsage.multiplex, conference);
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
  pc2.ontrack = (e) => { $("remote").srcObject = e.streams[0]; };
  pc1.onconnectionstatechange = () => log(`pc1 ${pc1.connectionState}`);
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  $("local").srcObject = media;
  media.getTracks().forEach((t) => pc1.addTrack(t, media));
  const offer = await pc1.createOffer();
  await pc1.setLocalDescription(offer);
  await pc2.setRemoteDescription(offer);
  const answer = await pc2.createAnswer();
  await pc2.setLocalDescription(answer);
  await pc1.setRemoteDescription(answer);

  function toggle(button, on, off, apply) {
    const labels = [button.textContent, button.dataset.pressed];
    button.addEventListener("click", () => {
      const pressed = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(pressed));
      button.textContent = labels[pressed ? 1 : 0];
      const event = pressed ? on : off;
      apply(pressed);
      const result = callstats.sendFabricEvent(pc1, event, conference);
      window.demo.events.push(event);
      log(`${event}: ${result.status}`);
    });
  }
  toggle($("mute"), "audioMute", "audioUnmute", (p) => media.getAudioTracks().forEach((t) => { t.enabled = !p; }));
  toggle($("pause"), "videoPause", "videoResume", (p) => media.getVideoTracks().forEach((t) => { t.enabled = !p; }));
  toggle($("hold"), "fabricHold", "fabricResume", () => {});
  toggle($("share"), "screenShareStart", "screenShareStop", () => {});
  $("hangup").addEventListener("click", () => {
    for (const pc of [pc1, pc2]) {
      const result = callstats.sendFabricEvent(pc, "fabricTerminated", conference);
      log(`fabricTerminated: ${result.status}`);
    }
    window.demo.events.push("fabricTerminated");
    pc1.close(); pc2.close();
    $("status").textContent = "call ended.";
  });

  function showFigures(payload) {
    window.demo.figures.push(payload);
    const rows = payload.mediaStreamTracks.map((s) => {
      const cells = [s.ssrc, s.statsType === "outbound-rtp" ? "sent" : "received", s.mediaType,
        num(s.bitrate, 0), num(s.fractionLoss === null ? null : s.fractionLoss * 100, 1), num(s.jitter, 1),
        num(s.rtt, 1), num(s.mos, 2), num(s.frameRate, 0)];
      return `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}<td class="${s.quality}">${s.quality}</td></tr>`;
    });
    document.querySelector("#figures tbody").innerHTML = rows.join("");
    plot(payload);
  }

  // ---- small live charts (uPlot, served with the demo: no CDN) ----
  const CHARTS = [
    ["bitrate", "kbit/s", (s) => s.bitrate],
    ["mos", "audio MOS", (s) => (s.mediaType === "audio" ? s.mos : null)],
    ["rtt", "rtt ms", (s) => s.rtt],
  ];
  const series = {}; // stream label -> {times, bitrate: [], mos: [], rtt: []}
  const plots = {};
  window.demo.charts = series;

  function slot(key) { // one box per chart, in CHARTS' order, whenever each is (re)made
    let box = $(`chart-${key}`);
    if (!box) {
      CHARTS.forEach(([name]) => $("charts").insertAdjacentHTML("beforeend", `<div id="chart-${name}"></div>`));
      box = $(`chart-${key}`);
    }
    return box;
  }

  function plot(payload) {
    for (const s of payload.mediaStreamTracks) {
      const label = `${s.statsType === "outbound-rtp" ? "sent" : "received"} ${s.mediaType}`;
      const line = series[label] || (series[label] = { times: [], bitrate: [], mos: [], rtt: [] });
      line.times.push(payload.timestamp / 1000);
      for (const [key, , value] of CHARTS) line[key].push(value(s) ?? null);
    }
    const labels = Object.keys(series).sort();
    const times = [...new Set(labels.flatMap((l) => series[l].times))].sort((a, b) => a - b);
    const colors = ["#2563eb", "#dc2626", "#059669", "#d97706"];
    for (const [key, title] of CHARTS) {
      const shown = labels.filter((l) => series[l][key].some((v) => v !== null));
      const data = [times, ...shown.map((l) => times.map((t) => {
        const i = series[l].times.indexOf(t);
        return i < 0 ? null : series[l][key][i];
      }))];
      const opts = { title, width: 350, height: 170, scales: { x: { time: true } }, legend: { live: false },
                     series: [{}, ...shown.map((l, i) => ({ label: l, stroke: colors[i % colors.length], spanGaps: true }))] };
      if (plots[key] && plots[key].series.length !== opts.series.length) { plots[key].destroy(); delete plots[key]; }
      if (plots[key]) plots[key].setData(data);
      else plots[key] = new uPlot(opts, data, slot(key));
    }
  }
  const num = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
})();
