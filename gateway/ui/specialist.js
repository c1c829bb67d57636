// The specialist's page: the gateway's cameras (WHEP), live numerics with their age, one live
// waveform, and snapshots; all from the gateway's own peer connection (docs/webrtc.md).

import { knownLanguage, DEFAULT_LANGUAGE } from "./i18n.js";
import { Sweep } from "./pleth.js";
import { joinMedia, Control } from "./whep.js";

const STRINGS = {
  nb: {
    "page.title": "Helserom – spesialist", "lang.toggle": "English", "lang.other": "en",
    "cameras.title": "Kamera i helserommet", "numerics.title": "Målinger",
    "numerics.waiting": "Venter på målinger …", "wave.title": "Pulskurve",
    "snap.title": "Stillbilde", "snap.none": "Ingen stillbilder ennå.", "snap.take": "Ta stillbilde",
    "snap.taken": "Stillbilde {w}×{h} fra {cam}", "snap.failed": "Stillbilde feilet: {e}",
    "state.connecting": "Kobler til …", "state.connected": "Tilkoblet",
    "state.failed": "Forbindelsen brøt – kobler til på nytt …",
    "age.now": "akkurat nå", "age.s": "{n} s siden", "age.min": "{n} min siden",
    "lag": "forsinkelse {n} ms", "auth": "Du er ikke med i konsultasjonen. Åpne lenken på nytt.",
    "q.spo2": "Oksygenmetning (SpO₂)", "q.pulse_rate": "Puls", "q.heart_rate": "Hjertefrekvens",
    "q.respiratory_rate": "Respirasjonsfrekvens", "q.body_temperature": "Temperatur",
    "q.systolic_bp": "Systolisk BT", "q.diastolic_bp": "Diastolisk BT", "q.body_weight": "Vekt",
  },
  en: {
    "page.title": "Health room – specialist", "lang.toggle": "Norsk", "lang.other": "nb",
    "cameras.title": "Health room cameras", "numerics.title": "Measurements",
    "numerics.waiting": "Waiting for measurements …", "wave.title": "Pulse wave",
    "snap.title": "Still image", "snap.none": "No still images yet.", "snap.take": "Take still",
    "snap.taken": "Still {w}×{h} from {cam}", "snap.failed": "Still image failed: {e}",
    "state.connecting": "Connecting …", "state.connected": "Connected",
    "state.failed": "Connection lost – reconnecting …",
    "age.now": "just now", "age.s": "{n} s ago", "age.min": "{n} min ago",
    "lag": "delay {n} ms", "auth": "You have not joined the consultation. Open the link again.",
    "q.spo2": "Oxygen saturation (SpO₂)", "q.pulse_rate": "Pulse", "q.heart_rate": "Heart rate",
    "q.respiratory_rate": "Respiratory rate", "q.body_temperature": "Temperature",
    "q.systolic_bp": "Systolic BP", "q.diastolic_bp": "Diastolic BP", "q.body_weight": "Weight",
  },
};
const STALE_S = 30;
const RETRY_MS = 3000;
const LEAVE_AFTER_MS = 2500; // removed or ended: time to read the message before the page
const LATENCY_KEEP = 2000;

const $ = (id) => document.getElementById(id);
const state = { lang: knownLanguage(localStorage.getItem("lang")) ?? DEFAULT_LANGUAGE,
                values: new Map(), media: null, control: null, cameras: [] };
// Figures the tests and bench/bench_webrtc.py read (all times in ms, same machine clock).
const stats = window.helseromMedia = { vitals: 0, schema: null, vitalsLatencyMs: [],
                                       videoLatencyMs: [], hello: null, joins: 0 };

const s = (key, vars = {}) =>
  (STRINGS[state.lang][key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const wallMs = () => performance.timeOrigin + performance.now();

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-s]").forEach((el) => { el.textContent = s(el.dataset.s); });
  const toggle = $("lang-toggle");
  toggle.textContent = s("lang.toggle");
  toggle.lang = s("lang.other");
  document.querySelectorAll(".snap-btn").forEach((b) => { b.textContent = s("snap.take"); });
  document.querySelectorAll(".lag").forEach((el) => { el.textContent = ""; }); // refilled in 1 s
  setLink($("link-state").dataset.state);
}

function setLink(which) {
  const el = $("link-state");
  el.dataset.state = which;
  el.textContent = s(`state.${which}`);
}

function keep(list, value) {
  list.push(value);
  if (list.length > LATENCY_KEEP) list.splice(0, list.length - LATENCY_KEEP);
}

// ---------------------------------------------------------------- capture-time stamp
// hwsim's synthetic camera writes its capture time into 2 rows of 24 blocks (42 bits of epoch
// ms + a 6-bit checksum; hardware-sim/hwsim/camera.py). Real cameras carry none: no figure.
const STAMP_COLS = 24, STAMP_ROWS = 2, STAMP_BITS = 48, CHECK = 64;
const stampCanvas = document.createElement("canvas");
stampCanvas.width = STAMP_COLS * 8;
stampCanvas.height = STAMP_ROWS * 8;
const stampCtx = stampCanvas.getContext("2d", { willReadFrequently: true });

function readStamp(video) {
  const vw = video.videoWidth, vh = video.videoHeight;
  if (!vw || !vh) return null;
  const bw = Math.floor(vw / STAMP_COLS), bh = Math.floor(vh / 20);
  stampCtx.drawImage(video, 0, 0, bw * STAMP_COLS, bh * STAMP_ROWS, 0, 0,
                     stampCanvas.width, stampCanvas.height);
  const px = stampCtx.getImageData(0, 0, stampCanvas.width, stampCanvas.height).data;
  let word = 0;
  for (let i = 0; i < STAMP_BITS; i++) {
    const row = Math.floor(i / STAMP_COLS), col = i % STAMP_COLS;
    const o = ((row * 8 + 4) * stampCanvas.width + col * 8 + 4) * 4;
    word = word * 2 + ((px[o] + px[o + 1] + px[o + 2]) / 3 >= 128 ? 1 : 0);
  }
  const ms = Math.floor(word / CHECK), check = word % CHECK;
  let sum = 0;
  for (let i = 0, v = ms; i < 7; i++, v = Math.floor(v / CHECK)) sum += v % CHECK;
  return sum % CHECK === check ? ms : null;
}

function watchLatency(video, lagEl) {
  if (!("requestVideoFrameCallback" in video)) return;
  let shown = 0;
  const onFrame = () => {
    const stamp = readStamp(video);
    if (stamp !== null) {
      const lag = wallMs() - stamp;
      keep(stats.videoLatencyMs, lag);
      if (performance.now() - shown > 1000) {
        lagEl.textContent = s("lag", { n: Math.round(lag) });
        shown = performance.now();
      }
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

// ---------------------------------------------------------------- tiles
function buildTiles(cameras, streams) {
  const tiles = $("tiles");
  tiles.replaceChildren();
  cameras.forEach((cam, i) => {
    const fig = document.createElement("figure");
    fig.className = "tile";
    const video = document.createElement("video");
    Object.assign(video, { autoplay: true, muted: true, playsInline: true });
    video.dataset.camera = cam.id;
    video.dataset.testid = "camera-video";
    video.srcObject = streams[i];
    const cap = document.createElement("figcaption");
    const label = document.createElement("span");
    label.textContent = cam.label || cam.id;
    const lag = document.createElement("span");
    lag.className = "lag";
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "snap-btn";
    btn.textContent = s("snap.take");
    btn.addEventListener("click", () => snapshot(cam));
    cap.append(label, lag, btn);
    fig.append(video, cap);
    tiles.append(fig);
    watchLatency(video, lag);
  });
}

async function snapshot(cam) {
  if (!state.control) return null;
  const ack = await state.control.request("snapshot", { camera_id: cam.id });
  const img = $("snap");
  if (ack.ok) {
    img.src = ack.url;
    img.alt = s("snap.taken", { w: ack.width, h: ack.height, cam: cam.label || cam.id });
    img.hidden = false;
    $("snap-state").textContent = img.alt;
  } else {
    $("snap-state").textContent = s("snap.failed", { e: ack.error });
  }
  return ack;
}
window.helseromSnapshot = (i = 0) => snapshot(state.cameras[i]);

// ---------------------------------------------------------------- vitals
const sweep = new Sweep($("wave"), () => s("numerics.waiting"));

function onVitals(ev) {
  const receivedMs = wallMs();
  let msg;
  try { msg = JSON.parse(ev.data); } catch { return; }
  stats.vitals += 1;
  stats.schema = msg.schema;
  if (typeof msg.sent_at_ms === "number") keep(stats.vitalsLatencyMs, receivedMs - msg.sent_at_ms);
  if (msg.type === "hello") {
    stats.hello = msg;
    $("room").textContent = `${msg.site} · ${msg.room}`;
  } else if (msg.type === "measurement" || msg.type === "derived") {
    const key = `${msg.device_id}/${msg.quantity ?? msg.source + "." + msg.key}`;
    if (msg.type === "derived" && msg.key !== "heart_rate") return; // keep the list short
    state.values.set(key, msg);
    renderNumerics();
  } else if (msg.type === "waveform" && msg.quantity === "pleth") {
    sweep.push(msg, performance.now() / 1000);
  }
}

function age(receivedS) {
  const a = Math.max(0, Date.now() / 1000 - receivedS);
  if (a < 1.5) return s("age.now");
  if (a < 120) return s("age.s", { n: Math.round(a) });
  return s("age.min", { n: Math.round(a / 60) });
}

function renderNumerics() {
  const list = $("numerics");
  const items = [...state.values.entries()].sort(([a], [b]) => a.localeCompare(b));
  $("numerics-empty").hidden = items.length > 0;
  list.replaceChildren(...items.map(([key, m]) => {
    const li = document.createElement("li");
    li.className = "numeric";
    li.dataset.key = key;
    li.dataset.verdict = String(m.verdict);
    li.dataset.stale = String(Date.now() / 1000 - m.received_s > STALE_S);
    const name = document.createElement("span");
    const q = m.quantity ?? m.key;
    const label = s(`q.${q}`);
    name.textContent = `${label === `q.${q}` ? q.replace(/_/g, " ") : label} · ${m.device_id}`;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = m.value === null ? "–" : `${Math.round(m.value * 10) / 10} ${m.unit}`;
    const ageEl = document.createElement("span");
    ageEl.className = "age";
    ageEl.textContent = age(m.received_s);
    li.append(name, value, ageEl);
    return li;
  }));
}
setInterval(renderNumerics, 1000);

// ---------------------------------------------------------------- join / rejoin
async function join() {
  setLink("connecting");
  const response = await fetch("/api/v1/cameras", { credentials: "same-origin" });
  if (response.status === 401) {
    // not (or no longer) admitted: the waiting room says why (waiting, removed, ended)
    window.location.replace("/waiting/");
    $("banner").textContent = s("auth");
    $("banner").hidden = false;
    return;
  }
  state.cameras = await response.json();
  const media = await joinMedia({ cameras: state.cameras });
  stats.joins += 1;
  state.media = media;
  state.control = new Control(media.control);
  media.vitals.addEventListener("message", onVitals);
  buildTiles(state.cameras, media.videos);
  media.pc.addEventListener("connectionstatechange", () => {
    const cs = media.pc.connectionState;
    if (cs === "connected") setLink("connected");
    if (cs === "failed" || cs === "disconnected") {
      setLink("failed");
      if (state.media === media) {
        state.media = null;
        media.leave();
        setTimeout(() => join().catch(retry), RETRY_MS); // aiortc cannot ICE-restart: rejoin
      }
    }
  });
}

function retry() {
  setLink("failed");
  setTimeout(() => join().catch(retry), RETRY_MS);
}

// Removed by the nurse, or the session ended (the conversation's socket closes with 4403 or
// 4410 and says so in #conversation): after a moment to read it, the waiting room's page
// says the same for good (docs/ui.md).
const conversationRoot = document.getElementById("conversation");
if (conversationRoot !== null) {
  new MutationObserver(() => {
    if (["removed", "ended"].includes(conversationRoot.dataset.state)) {
      setTimeout(() => window.location.replace("/waiting/"), LEAVE_AFTER_MS);
    }
  }).observe(conversationRoot, { attributes: true, attributeFilter: ["data-state"] });
}

window.addEventListener("pagehide", () => { state.media?.leave(); });
$("lang-toggle").addEventListener("click", () => {
  state.lang = state.lang === "nb" ? "en" : "nb";
  localStorage.setItem("lang", state.lang);
  applyLanguage();
  renderNumerics();
});
applyLanguage();
join().catch(retry);
