// The specialist's page: the gateway's cameras (WHEP), live numerics with their age, verdict
// and traffic light; all from the gateway's own peer connection (docs/webrtc.md). The panels
// (waves, trends, requests, gallery, notes) are modules that hear the vitals through bus.js.

import { emitLang, emitLive, setGone } from "./bus.js";
import { knownLanguage, DEFAULT_LANGUAGE } from "./i18n.js";
import { mountGallery, mountNotes } from "./spec_gallery.js";
import { mountRequests } from "./spec_requests.js";
import { mountTrends } from "./spec_trends.js";
import { mountWaves } from "./spec_waves.js";
import { joinMedia, Control } from "./whep.js";

const STRINGS = {
  nb: {
    "page.title": "Helserom – spesialist", "lang.toggle": "English", "lang.other": "en",
    "cameras.title": "Kamera i helserommet", "numerics.title": "Målinger",
    "numerics.waiting": "Venter på målinger …", "wave.title": "Kurver",
    "trends.title": "Trender i konsultasjonen", "request.title": "Be om måling",
    "snap.take": "Ta stillbilde",
    "state.connecting": "Kobler til …", "state.connected": "Tilkoblet",
    "state.failed": "Forbindelsen brøt – kobler til på nytt …", "state.left": "Frakoblet",
    "leave": "Forlat", "left": "Du har forlatt konsultasjonen. Last siden på nytt for å bli med igjen.",
    "v.valid": "pålitelig", "v.questionable": "usikker verdi", "v.invalid": "kan ikke brukes",
    "v.null": "ikke vurdert", "l.green": "grønt", "l.yellow": "gult", "l.red": "rødt",
    "age.now": "akkurat nå", "age.s": "{n} s siden", "age.min": "{n} min siden",
    "lag": "forsinkelse {n} ms", "auth": "Du er ikke med i konsultasjonen. Åpne lenken på nytt.",
    "q.spo2": "Oksygenmetning (SpO₂)", "q.pulse_rate": "Puls", "q.heart_rate": "Hjertefrekvens",
    "q.respiratory_rate": "Respirasjonsfrekvens", "q.body_temperature": "Temperatur",
    "q.bp_systolic": "Systolisk BT", "q.bp_diastolic": "Diastolisk BT",
    "q.bp_mean": "Middel-BT", "q.body_weight": "Vekt",
  },
  en: {
    "page.title": "Health room – specialist", "lang.toggle": "Norsk", "lang.other": "nb",
    "cameras.title": "Health room cameras", "numerics.title": "Measurements",
    "numerics.waiting": "Waiting for measurements …", "wave.title": "Waveforms",
    "trends.title": "Trends in this consultation", "request.title": "Ask for a measurement",
    "snap.take": "Take still",
    "state.connecting": "Connecting …", "state.connected": "Connected",
    "state.failed": "Connection lost – reconnecting …", "state.left": "Disconnected",
    "leave": "Leave", "left": "You have left the consultation. Reload the page to join again.",
    "v.valid": "reliable", "v.questionable": "questionable value", "v.invalid": "cannot be used",
    "v.null": "not judged", "l.green": "green", "l.yellow": "yellow", "l.red": "red",
    "age.now": "just now", "age.s": "{n} s ago", "age.min": "{n} min ago",
    "lag": "delay {n} ms", "auth": "You have not joined the consultation. Open the link again.",
    "q.spo2": "Oxygen saturation (SpO₂)", "q.pulse_rate": "Pulse", "q.heart_rate": "Heart rate",
    "q.respiratory_rate": "Respiratory rate", "q.body_temperature": "Temperature",
    "q.bp_systolic": "Systolic BP", "q.bp_diastolic": "Diastolic BP",
    "q.bp_mean": "Mean BP", "q.body_weight": "Weight",
  },
};
const STALE_S = 30;
const UNIT_SHOWN = { "mm[Hg]": "mmHg", Cel: "°C", "{beats}/min": "/min", "[lb_av]": "lb" };
const RETRY_MS = 3000;
const LEAVE_AFTER_MS = 2500; // removed or ended: time to read the message before the page
const LATENCY_KEEP = 2000;

const $ = (id) => document.getElementById(id);
const state = { lang: knownLanguage(localStorage.getItem("lang")) ?? DEFAULT_LANGUAGE,
                values: new Map(), media: null, control: null, cameras: [], left: false };
// Figures the tests and bench/bench_webrtc.py read (all times in ms, same machine clock).
// everyVideoFrame: read the capture stamp of every frame (the bench's video window); else a
// few times a second, which is all the lag shown on the page needs — reading pixels back on
// every frame costs the page's main thread, where the vitals arrive too.
const stats = window.helseromMedia = { vitals: 0, schema: null, vitalsLatencyMs: [],
                                       videoLatencyMs: [], hello: null, joins: 0,
                                       everyVideoFrame: false };
const STAMP_EVERY_MS = 250;

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
  if (state.left) $("banner").textContent = s("left");
  emitLang(state.lang);
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
  let read = 0;
  const onFrame = () => {
    const now = performance.now();
    const due = stats.everyVideoFrame || now - read >= STAMP_EVERY_MS;
    const stamp = due ? readStamp(video) : null;
    if (due) read = now;
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
  if (!state.control || !cam) return null;
  const ack = await state.control.request("snapshot", { camera_id: cam.id });
  await gallery.load(); // the still is in the store now: show it in the gallery
  return ack;
}
window.helseromSnapshot = (i = 0) => snapshot(state.cameras[i]);

// ---------------------------------------------------------------- panels
const waves = mountWaves($("waves"));
mountTrends($("trends"), $("trends-state"));
mountRequests($("requests"), { control: () => state.control, loop: waves.loop });
const gallery = mountGallery($("gallery"), { snapshot: () => snapshot(state.cameras[0]) });
mountNotes($("notes"));
window.helseromWaves = waves;

// ---------------------------------------------------------------- vitals

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
    // keep the list short: heart rate is the one derived value, cuff pressure is not a result
    const listed = msg.type === "measurement" ? msg.quantity !== "cuff_pressure"
      : msg.key === "heart_rate";
    if (listed) {
      state.values.set(key, msg);
      renderNumerics();
    }
  }
  emitLive(msg); // to the panels (bus.js)
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
    const unit = UNIT_SHOWN[m.unit] ?? m.unit;
    value.textContent = m.value === null ? "–" : `${Math.round(m.value * 10) / 10} ${unit}`;
    const ageEl = document.createElement("span");
    ageEl.className = "age";
    const usable = m.value !== null && m.verdict !== "invalid";
    const light = usable && m.traffic_light ? m.traffic_light.colour : null; // never for invalid
    li.dataset.light = light ?? "";
    const judged = [s(`v.${m.verdict}`)];
    if (light) judged.push(`${s(`l.${light}`)} (${state.lang === "nb"
      ? m.traffic_light.label_nb : m.traffic_light.label_en})`);
    ageEl.textContent = age(m.received_s);
    const judgedEl = document.createElement("span");
    judgedEl.className = "judged";
    judgedEl.textContent = judged.join(" · ");
    const foot = document.createElement("span");
    foot.className = "foot";
    foot.append(ageEl, " · ", judgedEl);
    li.append(name, value, foot);
    return li;
  }));
}
setInterval(renderNumerics, 1000);

// ---------------------------------------------------------------- join / rejoin
async function join() {
  if (state.left) return;
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
    if ((cs === "failed" || cs === "disconnected") && !state.left) {
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
  if (state.left) return;
  setLink("failed");
  setTimeout(() => join().catch(retry), RETRY_MS);
}

async function leave() {
  state.left = true;
  const media = state.media;
  state.media = null;
  state.control = null;
  if (media) await media.leave(); // DELETE of the WHEP resource
  setLink("left");
  $("leave").hidden = true;
  $("banner").textContent = s("left");
  $("banner").dataset.kind = "info";
  $("banner").hidden = false;
}
window.helseromLeave = leave;
$("leave").addEventListener("click", leave);
// Removed by the nurse, or the session ended (the conversation's socket closes with 4403 or
// 4410 and says so in #conversation): after a moment to read it, the waiting room's page
// says the same for good (docs/ui.md).
const conversationRoot = document.getElementById("conversation");
if (conversationRoot !== null) {
  new MutationObserver(() => {
    if (["removed", "ended"].includes(conversationRoot.dataset.state)) {
      setGone(); // no more requests for records the gateway now refuses
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
