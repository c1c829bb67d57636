// The specialist's waveforms: one ECG lead (II by default, switchable), the pleth, and the
// spirometer's flow–volume loop, volume integrated from the `airway_flow` blocks (flow in L/s,
// expiration positive). Drawn on <canvas> with requestAnimationFrame; no library.

import { currentLang, onLang, onLive, pick } from "./bus.js";
import { Sweep } from "./pleth.js";

const TEXT = {
  nb: {
    ecg: "EKG", lead: "Avledning", pleth: "Pulskurve", loop: "Flow–volum-kurve",
    waiting: "Venter på kurve …", noBlow: "Ingen blåsing ennå",
    blowing: "Blåsing pågår …", blown: "Siste blåsing: {v} L ut, topp {p} L/s",
    volume: "Volum (L)", flow: "Flow (L/s)",
  },
  en: {
    ecg: "ECG", lead: "Lead", pleth: "Pulse wave", loop: "Flow–volume loop",
    waiting: "Waiting for a trace …", noBlow: "No blow yet",
    blowing: "Blow in progress …", blown: "Last blow: {v} L out, peak {p} L/s",
    volume: "Volume (L)", flow: "Flow (L/s)",
  },
};
const ECG_MIN_SPAN_UV = 1000; // 1 mV: a flat lead stays flat instead of amplified noise
const START_LPS = 0.15; // |flow| above this after a quiet spell starts a manoeuvre
const QUIET_LPS = 0.05;
const QUIET_END_S = 1.5; // this long below QUIET_LPS ends it
const MAX_POINTS = 6000; // 60 s at 100 Hz: a manoeuvre is ≤ 15 s of blast plus inspiration

const t = (key, vars = {}) =>
  (pick(TEXT)[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const fmt = (x, d = 1) =>
  x.toLocaleString(currentLang() === "nb" ? "nb-NO" : "en-GB",
                   { minimumFractionDigits: d, maximumFractionDigits: d });

/** The flow–volume loop of the current (or last) manoeuvre. */
export class FlowVolume {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.current = null; // {points: [[volume, flow]], volume, quietS, peak}
    this.last = null;
    this.blows = 0;
    this.listeners = [];
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
    this.resize();
    const frame = () => { this.draw(); window.requestAnimationFrame(frame); };
    window.requestAnimationFrame(frame);
  }

  onChange(fn) { this.listeners.push(fn); }

  get blowing() { return this.current !== null; }

  push(msg) {
    const data = msg.data?.[0];
    const fs = msg.fs_hz;
    if (!Array.isArray(data) || !(fs > 0)) return;
    const before = this.blowing;
    for (const f of data) {
      if (typeof f !== "number") continue; // a sample the device marked invalid
      if (this.current === null) {
        if (Math.abs(f) < START_LPS) continue;
        this.current = { points: [[0, 0]], volume: 0, quietS: 0, peak: 0 };
      }
      const c = this.current;
      c.volume += f / fs;
      c.peak = Math.max(c.peak, f);
      if (c.points.length < MAX_POINTS) c.points.push([c.volume, f]);
      c.quietS = Math.abs(f) < QUIET_LPS ? c.quietS + 1 / fs : 0;
      if (c.quietS >= QUIET_END_S) this.finish();
    }
    if (before !== this.blowing) this.listeners.forEach((fn) => fn(this));
  }

  finish() {
    const c = this.current;
    this.current = null;
    const vols = c.points.map((p) => p[0]);
    const exhaled = Math.max(...vols) - Math.min(...vols);
    if (c.peak > 0.5) { // a forced expiration, not a breath (gateway/signals MIN_PEF_LPS)
      this.last = { ...c, exhaled };
      this.blows += 1;
    }
  }

  status() {
    if (this.current) return t("blowing");
    if (this.last) return t("blown", { v: fmt(this.last.exhaled, 2), p: fmt(this.last.peak, 1) });
    return t("noBlow");
  }

  resize() {
    const box = this.canvas.parentElement;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(box.clientWidth * dpr));
    this.canvas.height = Math.max(1, Math.round(box.clientHeight * dpr));
    const css = getComputedStyle(this.canvas);
    this.colors = {
      trace: css.getPropertyValue("--loop-trace").trim() || "#1f5fa8",
      old: css.getPropertyValue("--loop-old").trim() || "#9aa7b4",
      grid: css.getPropertyValue("--loop-grid").trim() || "#d6dde4",
      text: css.getPropertyValue("--loop-text").trim() || "#5b6875",
    };
  }

  draw() {
    const { ctx, canvas } = this;
    const W = canvas.width, H = canvas.height;
    const dpr = window.devicePixelRatio || 1;
    ctx.clearRect(0, 0, W, H);
    const loops = [this.last, this.current].filter(Boolean);
    let vMax = 4, fMax = 6, fMin = -4;
    for (const l of loops) {
      const lo = Math.min(...l.points.map((p) => p[0]));
      for (const [v, f] of l.points) {
        vMax = Math.max(vMax, v - lo);
        fMax = Math.max(fMax, f);
        fMin = Math.min(fMin, f);
      }
    }
    const pad = 28 * dpr;
    const x = (v) => pad + (v / vMax) * (W - 1.5 * pad);
    const y = (f) => pad * 0.5 + ((fMax - f) / (fMax - fMin)) * (H - 1.5 * pad);
    ctx.strokeStyle = this.colors.grid;
    ctx.lineWidth = dpr;
    ctx.beginPath();
    ctx.moveTo(x(0), y(0)); ctx.lineTo(x(vMax), y(0)); // zero flow
    ctx.moveTo(x(0), y(fMin)); ctx.lineTo(x(0), y(fMax));
    ctx.stroke();
    ctx.fillStyle = this.colors.text;
    ctx.font = `${Math.round(12 * dpr)}px sans-serif`;
    ctx.textAlign = "right";
    ctx.fillText(t("volume"), W - 4 * dpr, y(0) - 4 * dpr);
    ctx.textAlign = "left";
    ctx.fillText(t("flow"), x(0) + 4 * dpr, y(fMax) + 12 * dpr);
    for (const l of loops) {
      const lo = Math.min(...l.points.map((p) => p[0]));
      ctx.strokeStyle = l === this.current ? this.colors.trace : this.colors.old;
      if (loops.length === 1) ctx.strokeStyle = this.colors.trace;
      ctx.lineWidth = 2.5 * dpr;
      ctx.beginPath();
      l.points.forEach(([v, f], i) => (i ? ctx.lineTo(x(v - lo), y(f)) : ctx.moveTo(x(v - lo), y(f))));
      ctx.stroke();
    }
  }
}

/** Build the waves panel inside `root`; returns {ecg, pleth, loop} for the tests. */
export function mountWaves(root) {
  root.innerHTML = `
    <div class="wave-head"><h3 data-w="ecg"></h3>
      <label class="lead-pick"><span data-w="lead"></span>
        <select id="ecg-lead" data-testid="ecg-lead"></select></label></div>
    <div class="wave-box"><canvas id="ecg-wave" data-testid="ecg-wave"></canvas></div>
    <h3 data-w="pleth"></h3>
    <div class="wave-box"><canvas id="wave" data-testid="wave"></canvas></div>
    <div class="wave-head"><h3 data-w="loop"></h3>
      <span id="loop-state" class="muted" data-testid="loop-state" role="status"></span></div>
    <div class="loop-box"><canvas id="loop" data-testid="flow-volume"></canvas></div>`;
  const ecg = new Sweep(root.querySelector("#ecg-wave"), () => t("waiting"),
                        { minSpan: ECG_MIN_SPAN_UV });
  const pleth = new Sweep(root.querySelector("#wave"), () => t("waiting"));
  const loop = new FlowVolume(root.querySelector("#loop"));
  const select = root.querySelector("#ecg-lead");
  const loopState = root.querySelector("#loop-state");
  const waves = { ecg, pleth, loop, lead: null, ecgBlocks: 0, plethBlocks: 0, flowBlocks: 0 };
  let leads = [];

  select.addEventListener("change", () => {
    waves.lead = select.value;
    ecg.setChannel(Math.max(0, leads.indexOf(select.value)));
  });
  const setLeads = (channels) => {
    if (channels.join() === leads.join()) return;
    leads = channels;
    select.replaceChildren(...channels.map((c) => new Option(c, c)));
    const keep = channels.includes(waves.lead) ? waves.lead : channels.includes("II") ? "II" : channels[0];
    select.value = keep;
    waves.lead = keep;
    ecg.setChannel(channels.indexOf(keep));
  };
  const showLoop = () => { loopState.textContent = loop.status(); };
  loop.onChange(showLoop);

  onLive((msg) => {
    if (msg.type !== "waveform") return;
    const now = performance.now() / 1000;
    if (msg.quantity === "ecg" && Array.isArray(msg.channels)) {
      setLeads(msg.channels);
      ecg.push(msg, now);
      waves.ecgBlocks += 1;
    } else if (msg.quantity === "pleth") {
      pleth.push(msg, now);
      waves.plethBlocks += 1;
    } else if (msg.quantity === "airway_flow") {
      loop.push(msg);
      waves.flowBlocks += 1;
    }
  });
  onLang(() => {
    root.querySelectorAll("[data-w]").forEach((el) => { el.textContent = t(el.dataset.w); });
    showLoop();
  });
  return waves;
}
