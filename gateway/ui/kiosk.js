// The nurse's kiosk page: live SpO2 and pulse with their age and quality, the pleth trace,
// the devices and the link to the gateway. Messages: docs/api.md (schema 1).

import { emitLang, emitLive, onUnlocked, setClockOffset } from "./bus.js";
import { Sweep } from "./pleth.js";
import { renderLight, renderVerdict } from "./verdict.js";
import {
  DEFAULT_LANGUAGE,
  QUALITY_LEVEL,
  formatAge,
  formatCount,
  knownLanguage,
  qualityText,
  tagsOf,
  t,
} from "./i18n.js";

const LANG_STORAGE_KEY = "helserom.kiosk.language";
const LIVE_PATH = "/api/v1/live";
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 10000;
const TICK_MS = 250;
const LOCKED_CODE = 4423; // the gateway closes the live stream while the kiosk is locked
const LOCKED_RETRY_MS = 60000; // …and the page waits for the unlock (or this long)
const BANNER_GRACE_MS = 1500; // a first connect that takes longer than this shows the banner
const STALE_S = 10; // a numeric older than this is not shown as current
const TILES = { spo2: "spo2", pulse_rate: "pulse" }; // quantity -> tile id prefix

const LOADED_MS = performance.now();
const $ = (id) => document.getElementById(id);

const state = {
  lang: DEFAULT_LANGUAGE,
  userChoseLanguage: false,
  link: "connecting", // connecting | connected | disconnected | refused
  everConnected: false,
  retryAtMs: 0,
  offsetS: null, // gateway clock minus this browser's clock
  site: "",
  room: "",
  devices: new Map(), // id -> device status (plus label)
  numerics: new Map(), // tile -> last measurement message
};

// ---------------------------------------------------------------- language

function readStoredLanguage() {
  try {
    return knownLanguage(window.localStorage.getItem(LANG_STORAGE_KEY));
  } catch {
    return null; // storage disabled: the choice lasts until reload
  }
}

function storeLanguage(lang) {
  try {
    window.localStorage.setItem(LANG_STORAGE_KEY, lang);
  } catch {
    // nothing to do: see readStoredLanguage
  }
}

function setLanguage(lang) {
  state.lang = knownLanguage(lang) ?? DEFAULT_LANGUAGE;
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(state.lang, el.dataset.i18n);
  }
  document.title = t(state.lang, "page.title");
  const toggle = $("lang-toggle");
  toggle.textContent = t(state.lang, "lang.toggle");
  toggle.lang = t(state.lang, "lang.toggle.lang");
  for (const li of $("device-list").children) li.dataset.built = "";
  renderLink();
  renderAll();
  emitLang(state.lang);
}

// ---------------------------------------------------------------- clock

function nowGatewayS() {
  return Date.now() / 1000 + (state.offsetS ?? 0);
}

function trackClock(sentS) {
  if (typeof sentS !== "number") return;
  const sample = sentS - Date.now() / 1000;
  // Smooth the network jitter; jump when the clocks really moved apart.
  if (state.offsetS === null || Math.abs(sample - state.offsetS) > 2) state.offsetS = sample;
  else state.offsetS += (sample - state.offsetS) * 0.1;
  setClockOffset(state.offsetS);
}

// ---------------------------------------------------------------- live link

class LiveLink {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.ws = null;
    this.attempts = 0;
    this.timer = null;
    this.leaving = false;
    // Close cleanly when the page goes (reload, or into the back/forward cache); come back
    // when it is shown again.
    window.addEventListener("pagehide", () => {
      this.leaving = true;
      window.clearTimeout(this.timer);
      this.ws?.close(1000, "page closed");
    });
    window.addEventListener("pageshow", (event) => {
      this.leaving = false;
      if (event.persisted && this.ws === null) this.connect();
    });
  }

  connect() {
    this.timer = null;
    setLink("connecting");
    const url = new URL(LIVE_PATH, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    let greeted = false;
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return; // not ours to show; the gateway only sends JSON
      }
      if (msg.type === "hello") {
        greeted = true;
        this.attempts = 0;
        setLink("connected");
      }
      if (greeted) this.onMessage(msg);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.leaving) return;
      if (event.code === LOCKED_CODE) {
        this.waitForUnlock();
        return;
      }
      if (!greeted) this.checkLogin();
      this.retry();
    });
  }

  // Locked: no patient data flows until the PIN is entered (lock.js covers the page). Come
  // back right after the unlock, not by polling: each refused try would be audited.
  waitForUnlock() {
    this.attempts = 0;
    setLink("locked");
    this.timer = window.setTimeout(() => this.connect(), LOCKED_RETRY_MS);
  }

  unlocked() {
    if (state.link !== "locked" || this.ws !== null) return;
    window.clearTimeout(this.timer);
    this.connect();
  }

  retry() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** this.attempts);
    const delay = base * (0.75 + 0.5 * Math.random()); // jitter: kiosks restart together
    this.attempts += 1;
    state.retryAtMs = Date.now() + delay;
    if (state.link !== "refused") setLink("disconnected");
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  // A refused WebSocket looks like any failed one; the REST API says whether we are logged in.
  async checkLogin() {
    try {
      const response = await fetch("/api/v1/devices", { credentials: "same-origin" });
      if (response.status === 401) setLink("refused");
    } catch {
      // gateway down: the banner already says so
    }
  }
}

function setLink(link) {
  if (link === "connecting" && state.link === "refused") return;
  state.link = link;
  if (link === "connected") state.everConnected = true;
  renderLink();
  renderAll();
}

// ---------------------------------------------------------------- messages

function handle(msg) {
  trackClock(msg.sent_s);
  switch (msg.type) {
    case "hello":
      state.site = msg.site ?? "";
      state.room = msg.room ?? "";
      state.devices = new Map((msg.devices ?? []).map((d) => [d.id, { ...d }]));
      $("device-list").replaceChildren();
      if (!state.userChoseLanguage && knownLanguage(msg.language)) setLanguage(msg.language);
      renderAll();
      break;
    case "measurement": {
      noteSeen(msg.device_id, msg.received_s);
      const tile = TILES[msg.quantity];
      if (tile && showsOnTile(tile, msg)) {
        state.numerics.set(tile, msg);
        renderNumeric(tile);
      }
      break;
    }
    case "waveform":
      noteSeen(msg.device_id, msg.received_s);
      if (msg.quantity === "pleth") sweep.push(msg, performance.now() / 1000);
      break;
    case "status": {
      const d = msg.device;
      if (!d || typeof d.id !== "string") break;
      const known = state.devices.get(d.id);
      const lastSeen = Math.max(known?.last_seen_s ?? 0, d.last_seen_s ?? 0) || null;
      state.devices.set(d.id, { ...known, ...d, last_seen_s: lastSeen });
      renderDevices();
      renderNumerics();
      break;
    }
    case "device_removed":
      state.devices.delete(msg.device_id);
      renderDevices();
      break;
    default:
      break; // newer schema additions: ignore
  }
  emitLive(msg); // to the other modules (bus.js)
}

// A room may have two oximeters (serial and Bluetooth): a tile follows one device — the
// first that reported — and moves to another only when that one is disconnected, so the
// nurse never sees values from two probes alternate.
function showsOnTile(tile, msg) {
  const current = state.numerics.get(tile);
  if (!current || current.device_id === msg.device_id) return true;
  return !state.devices.get(current.device_id)?.connected;
}

function noteSeen(deviceId, receivedS) {
  const d = state.devices.get(deviceId);
  if (d && typeof receivedS === "number") d.last_seen_s = Math.max(d.last_seen_s ?? 0, receivedS);
}

// ---------------------------------------------------------------- rendering

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function renderAll() {
  setText($("room"), [state.site, state.room].filter(Boolean).join(" · "));
  renderNumerics();
  renderDevices();
  renderBanner();
}

function renderLink() {
  const el = document.querySelector("[data-testid=ws-state]");
  const shown = { refused: "disconnected", locked: "connecting" }[state.link] ?? state.link;
  el.dataset.state = shown;
  setText($("ws-text"), t(state.lang, `ws.${shown}`));
  document.body.dataset.link = state.link;
}

function renderBanner() {
  const banner = $("banner");
  let text = "";
  if (state.link === "refused") {
    text = t(state.lang, "banner.auth");
  } else if (state.link === "disconnected") {
    const s = Math.max(1, Math.ceil((state.retryAtMs - Date.now()) / 1000));
    text = t(state.lang, "banner.retry", { n: s });
  } else if (state.link === "connecting") {
    const slow = performance.now() - LOADED_MS > BANNER_GRACE_MS;
    if (state.everConnected || slow) text = t(state.lang, "banner.connecting");
  }
  banner.hidden = text === "";
  setText(banner, text);
}

function renderNumerics() {
  for (const tile of Object.values(TILES)) renderNumeric(tile);
}

function renderNumeric(tile) {
  const m = state.numerics.get(tile);
  const device = m ? state.devices.get(m.device_id) : undefined;
  let value = "--";
  let note;
  let shown;
  let flags = tagsOf(m?.quality, m?.reasons);
  let verdict = m?.verdict ?? "";
  let light = null;
  if (state.link !== "connected") {
    shown = "nolink";
    note = t(state.lang, "value.noLink");
    flags = [];
    verdict = "";
  } else if (!m && state.devices.size > 0 && !anyDeviceConnected()) {
    shown = "down";
    note = t(state.lang, "value.deviceDown");
  } else if (!m) {
    shown = "waiting";
    note = t(state.lang, "value.waiting");
  } else if (device && !device.connected) {
    shown = "down";
    note = t(state.lang, "value.deviceDown");
    flags = [];
    verdict = "";
  } else {
    const age = formatAge(state.lang, nowGatewayS() - m.received_s);
    if (nowGatewayS() - m.received_s > STALE_S) {
      shown = "stale";
      note = `${t(state.lang, "value.stale")} (${age})`;
      verdict = "";
    } else if (m.value === null || typeof m.value !== "number") {
      shown = "missing";
      note = `${t(state.lang, "value.missing")} (${age})`;
    } else {
      shown = "ok";
      value = String(Math.round(m.value));
      note = age;
      light = m.traffic_light ?? null;
    }
  }
  const section = $(`tile-${tile}`);
  section.dataset.state = shown;
  setText($(`${tile}-value`), value);
  setText($(`${tile}-note`), note);
  renderVerdict($(`${tile}-verdict`), verdict, state.lang);
  renderLight($(`${tile}-light`), light, state.lang);
  renderFlags($(`${tile}-flags`), flags);
}

function anyDeviceConnected() {
  return [...state.devices.values()].some((d) => d.connected);
}

function renderFlags(ul, flags) {
  const key = `${state.lang}:${flags.join(",")}`;
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.replaceChildren(...flags.map((flag) => {
    const li = document.createElement("li");
    li.className = `flag ${QUALITY_LEVEL[flag] ?? "info"}`;
    li.dataset.flag = flag;
    li.textContent = qualityText(state.lang, flag);
    return li;
  }));
}

function deviceName(d) {
  const key = `kind.${d.kind}`;
  const kind = t(state.lang, key);
  return d.label || (kind !== key ? kind : d.id);
}

// One line per device under the monitor (the detail is on the Utstyr screen, devices.js).
function buildDevice(li) {
  li.replaceChildren();
  li.className = "device";
  const head = document.createElement("div");
  head.className = "device-head";
  head.append(span("device-name"), span("chip"));
  const facts = document.createElement("dl");
  facts.className = "device-facts";
  for (const key of ["framesOk"]) {
    const item = document.createElement("div");
    item.dataset.fact = key;
    const dt = document.createElement("dt");
    dt.textContent = t(state.lang, `device.${key}`);
    item.append(dt, document.createElement("dd"));
    facts.append(item);
  }
  li.append(head, facts);
  li.dataset.built = state.lang;
}

function span(className) {
  const el = document.createElement("span");
  el.className = className;
  return el;
}

function renderDevices() {
  const list = $("device-list");
  $("devices-none").hidden = state.devices.size > 0;
  for (const [id, d] of state.devices) {
    let li = list.querySelector(`[data-device="${CSS.escape(id)}"]`);
    if (!li) {
      li = document.createElement("li");
      li.dataset.device = id;
      li.dataset.testid = `device-${id}`;
      list.append(li);
    }
    if (li.dataset.built !== state.lang) buildDevice(li);
    renderDevice(li, d);
  }
  for (const li of [...list.children]) {
    if (!state.devices.has(li.dataset.device)) li.remove();
  }
}

function renderDevice(li, d) {
  const lang = state.lang;
  li.dataset.connected = String(Boolean(d.connected));
  setText(li.querySelector(".device-name"), deviceName(d));
  const chip = d.connected ? "device.connected" : "device.disconnected";
  setText(li.querySelector(".chip"), t(lang, chip));
  const fact = (key, text) => {
    const item = li.querySelector(`[data-fact=${key}]`);
    item.hidden = text === null;
    if (text !== null) setText(item.querySelector("dd"), text);
  };
  fact("framesOk", formatCount(lang, d.frames_ok ?? 0));
}

// ---------------------------------------------------------------- start

const sweep = new Sweep($("pleth-canvas"), () => t(state.lang, "pleth.waiting"));
const stored = readStoredLanguage();
state.userChoseLanguage = stored !== null;
$("lang-toggle").addEventListener("click", () => {
  const next = state.lang === "nb" ? "en" : "nb";
  state.userChoseLanguage = true;
  storeLanguage(next);
  setLanguage(next);
});
setLanguage(stored ?? DEFAULT_LANGUAGE);
renderLink();
window.setInterval(() => renderAll(), TICK_MS);
const live = new LiveLink(handle);
onUnlocked(() => live.unlocked());
live.connect();
