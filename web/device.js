// What the deployed callstats.js sends with each stats upload besides getStats(): the battery
// (navigator.getBattery(), where the browser has it: Chromium) and the Wi-Fi figures an Electron
// app gives through attachWifiStatsHandler(handler): handler() returns a promise of a JSON string;
// it is asked at once and then 10 s after each answer, and the newest parsed answer goes with
// every upload. resetWifiStatsHandler() stops asking.

const WIFI_EVERY_MS = 10000;
const WIFI_MAX_CHARS = 10000; // a bigger answer is not Wi-Fi figures: ignored rather than parsed

let battery = null;
const wifi = { handler: null, latest: null, timer: null, generation: 0 };

export function watchBattery() {
  try {
    if (typeof navigator.getBattery !== "function") return;
    navigator.getBattery().then((manager) => { battery = manager; }, () => {});
  } catch (err) {
    // no battery API here
  }
}

export function attachWifi(handler) {
  resetWifi();
  wifi.handler = handler;
  ask(wifi.generation);
}

export function resetWifi() {
  wifi.generation++;
  clearTimeout(wifi.timer);
  wifi.handler = null;
  wifi.latest = null;
}

function ask(generation) {
  let answer;
  try {
    answer = Promise.resolve(wifi.handler());
  } catch (err) {
    answer = Promise.reject(err);
  }
  answer.then((text) => {
    if (generation !== wifi.generation || typeof text !== "string" || text.length > WIFI_MAX_CHARS) return;
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") wifi.latest = parsed;
  }).catch(() => {}).then(() => {
    if (generation === wifi.generation) wifi.timer = setTimeout(() => ask(generation), WIFI_EVERY_MS);
  });
}

// {batteryStatus?, wifiStats?}: what goes with the next upload (absent what the page has not).
export function deviceStatus() {
  const status = {};
  if (battery && typeof battery.level === "number") {
    status.batteryStatus = { batteryLevel: battery.level, isBatteryCharging: !!battery.charging };
  }
  if (wifi.latest !== null) status.wifiStats = wifi.latest;
  return status;
}
