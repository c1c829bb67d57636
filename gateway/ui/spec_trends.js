// Trends of the open session: SpO2, pulse and blood pressure as small charts. The history comes
// from GET /api/v1/session/measurements; new values arrive live on the vitals channel. A value
// the gateway judged invalid is drawn as a grey cross and never gets a traffic-light colour.

import { api, currentLang, isGone, onLang, onLive, pick } from "./bus.js";

const TEXT = {
  nb: {
    spo2: "SpO₂", pulse: "Puls", bp: "Blodtrykk", none: "Ingen verdier ennå",
    noSession: "Ingen åpen konsultasjon: ingen trender.", failed: "Kunne ikke hente trender: {e}",
    last: "Siste {v} {u}, {time}", invalid: "ugyldig",
  },
  en: {
    spo2: "SpO₂", pulse: "Pulse", bp: "Blood pressure", none: "No values yet",
    noSession: "No open consultation: no trends.", failed: "Could not load trends: {e}",
    last: "Last {v} {u}, {time}", invalid: "invalid",
  },
};
// chart -> its quantities (series) and the y range it starts with (widened to fit)
const CHARTS = {
  spo2: { series: ["spo2"], lo: 85, hi: 100, unit: "%" },
  pulse: { series: ["pulse_rate"], lo: 40, hi: 120, unit: "/min" },
  bp: { series: ["bp_systolic", "bp_diastolic"], lo: 50, hi: 180, unit: "mmHg" },
};
const QUANTITIES = Object.values(CHARTS).flatMap((c) => c.series);
const LIGHT = { green: "#2e7d32", yellow: "#c28a00", red: "#c62828" };
const SERIES_INK = { bp_diastolic: "#6a7f94" };
const MIN_SPAN_S = 600; // the time axis shows at least 10 minutes

const t = (key, vars = {}) =>
  (pick(TEXT)[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const clock = (s) => new Date(s * 1000).toLocaleTimeString(
  currentLang() === "nb" ? "nb-NO" : "en-GB", { hour: "2-digit", minute: "2-digit" });

function point(m) {
  // a colour only for a judged, usable value with a light from the care plan
  const usable = m.value !== null && (m.verdict === "valid" || m.verdict === "questionable");
  const light = usable && m.traffic_light ? m.traffic_light.colour : null;
  return { t: m.received_s, v: m.value, q: m.quantity, usable, light,
           questionable: m.verdict === "questionable" };
}

class TrendChart {
  constructor(root, key) {
    this.key = key;
    this.spec = CHARTS[key];
    this.points = new Map(this.spec.series.map((q) => [q, []]));
    root.insertAdjacentHTML("beforeend", `
      <figure class="trend" data-testid="trend-${key}" data-points="0">
        <figcaption><span class="trend-name"></span><span class="trend-last"></span></figcaption>
        <div class="trend-box"><canvas></canvas></div></figure>`);
    this.fig = root.lastElementChild;
    this.canvas = this.fig.querySelector("canvas");
    this.ctx = this.canvas.getContext("2d");
    this.dirty = true;
    new ResizeObserver(() => { this.dirty = true; }).observe(this.canvas.parentElement);
  }

  add(m) {
    const list = this.points.get(m.quantity);
    const last = list[list.length - 1];
    if (last && m.received_s <= last.t) return; // history and live overlap: keep one
    list.push(point(m));
    this.dirty = true;
  }

  count() { return [...this.points.values()].reduce((n, l) => n + l.length, 0); }

  label() {
    this.fig.querySelector(".trend-name").textContent = t(this.key);
    const lists = this.spec.series.map((q) => this.points.get(q));
    const lastPts = lists.map((l) => l[l.length - 1]).filter(Boolean);
    const el = this.fig.querySelector(".trend-last");
    this.fig.dataset.points = String(this.count());
    if (!lastPts.length) { el.textContent = t("none"); el.dataset.light = ""; return; }
    const value = lastPts.map((p) => (p.usable ? Math.round(p.v) : t("invalid"))).join("/");
    el.textContent = t("last", { v: value, u: this.spec.unit, time: clock(lastPts[0].t) });
    el.dataset.light = lastPts[0].light ?? ""; // never set for an invalid value
  }

  draw(nowS) {
    if (!this.dirty && nowS - (this.drawnS ?? 0) < 5) return;
    this.dirty = false;
    this.drawnS = nowS;
    this.label();
    const { canvas, ctx } = this;
    const box = canvas.parentElement;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(1, Math.round(box.clientWidth * dpr));
    const H = Math.max(1, Math.round(box.clientHeight * dpr));
    if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
    ctx.clearRect(0, 0, W, H);
    const all = [...this.points.values()].flat();
    const usable = all.filter((p) => p.usable);
    let lo = this.spec.lo, hi = this.spec.hi;
    for (const p of usable) { lo = Math.min(lo, p.v - 2); hi = Math.max(hi, p.v + 2); }
    const t1 = Math.max(nowS, ...all.map((p) => p.t));
    const t0 = Math.min(t1 - MIN_SPAN_S, ...all.map((p) => p.t));
    const padL = 30 * dpr, pad = 6 * dpr;
    const x = (s) => padL + ((s - t0) / (t1 - t0)) * (W - padL - pad);
    const y = (v) => pad + ((hi - v) / (hi - lo)) * (H - 2 * pad);
    ctx.font = `${Math.round(11 * dpr)}px sans-serif`;
    ctx.fillStyle = "#5b6875";
    ctx.strokeStyle = "#e1e6eb";
    ctx.lineWidth = dpr;
    ctx.textAlign = "right";
    for (const v of [lo, (lo + hi) / 2, hi]) {
      ctx.beginPath(); ctx.moveTo(padL, y(v)); ctx.lineTo(W - pad, y(v)); ctx.stroke();
      ctx.fillText(String(Math.round(v)), padL - 4 * dpr, y(v) + 4 * dpr);
    }
    for (const [q, list] of this.points) {
      ctx.strokeStyle = SERIES_INK[q] ?? "#17212b";
      ctx.lineWidth = 1.5 * dpr;
      ctx.beginPath();
      let open = false;
      for (const p of list) {
        if (!p.usable) { open = false; continue; } // an invalid value breaks the line
        if (open) ctx.lineTo(x(p.t), y(p.v)); else ctx.moveTo(x(p.t), y(p.v));
        open = true;
      }
      ctx.stroke();
      const r = 3.5 * dpr;
      for (const p of list.length > 120 ? list.slice(-120) : list) {
        if (!p.usable) { // grey cross at the bottom: a value the gateway cannot stand behind
          ctx.strokeStyle = "#8a96a3";
          const cx = x(p.t), cy = p.v === null ? H - pad - r : y(Math.min(hi, Math.max(lo, p.v)));
          ctx.beginPath();
          ctx.moveTo(cx - r, cy - r); ctx.lineTo(cx + r, cy + r);
          ctx.moveTo(cx + r, cy - r); ctx.lineTo(cx - r, cy + r);
          ctx.stroke();
          continue;
        }
        ctx.beginPath();
        ctx.arc(x(p.t), y(p.v), r, 0, 2 * Math.PI);
        ctx.fillStyle = p.light ? LIGHT[p.light] : (SERIES_INK[q] ?? "#17212b");
        if (p.questionable) { ctx.strokeStyle = ctx.fillStyle; ctx.stroke(); } else ctx.fill();
      }
    }
  }
}

/** Build the trends panel inside `root`; returns the charts (the tests read their counts). */
export function mountTrends(root, status) {
  const charts = Object.fromEntries(Object.keys(CHARTS).map((k) => [k, new TrendChart(root, k)]));
  const chartOf = Object.fromEntries(
    Object.entries(CHARTS).flatMap(([k, c]) => c.series.map((q) => [q, charts[k]])));
  let statusKey = null, statusVars = {};
  const say = (key, vars = {}) => {
    statusKey = key; statusVars = vars;
    status.textContent = key ? t(key, vars) : "";
    status.hidden = !key;
  };

  async function load() {
    if (isGone()) return;
    const query = QUANTITIES.map((q) => `quantity=${q}`).join("&");
    try {
      const body = await api(`/api/v1/session/measurements?${query}`);
      body.measurements.forEach((m) => chartOf[m.quantity]?.add(m));
      say(body.session_id === null ? "noSession" : null);
    } catch (err) {
      say("failed", { e: err.message });
    }
  }

  onLive((msg) => {
    if (msg.type === "hello") load(); // (re)joined: fill what was missed
    else if (msg.type === "measurement" && chartOf[msg.quantity]) chartOf[msg.quantity].add(msg);
  });
  onLang(() => {
    if (statusKey) say(statusKey, statusVars);
    Object.values(charts).forEach((c) => { c.dirty = true; });
  });
  const frame = () => {
    Object.values(charts).forEach((c) => c.draw(Date.now() / 1000));
    window.requestAnimationFrame(frame);
  };
  window.requestAnimationFrame(frame);
  return charts;
}
