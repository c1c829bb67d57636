// The spirometry guide's live flow–volume loop: the page integrates the airway_flow blocks
// itself (volume = Σ flow·dt from the start of each forced expiration), x = volume (L),
// y = flow (L/s), expiration up. The blow is found as the gateway's FlowChannel finds it
// (gateway/signals/channels.py): flow above 1 L/s after rest starts it; 1.5 s without flow
// or 0.3 s of inspiration ends it; the inspiration after it closes the loop.

const START_LPS = 1.0;
const QUIET_LPS = 0.015;
const QUIET_S = 1.5;
const INSPIRE_LPS = -0.3;
const INSPIRE_S = 0.3;
const RAMP_LPS = 0.05; // samples before the start above this belong to the blow (its rise)
const LOOKBACK_S = 0.5;
const AFTER_S = 4.0; // at most this much inspiration is drawn after a blow
const MAX_LOOPS = 8;

const COLOURS = {
  grid: "#223046",
  axis: "#5a6b84",
  text: "#a3b1c4",
  old: "#4a5d78",
  current: "#5fd2ff",
};

export class FlowVolumeLoop {
  /** canvas: the <canvas>; axisLabels(): {volume, flow, waiting} in the page's language. */
  constructor(canvas, axisLabels) {
    this.canvas = canvas;
    this.axisLabels = axisLabels;
    this.loops = []; // finished: arrays of [volume_l, flow_lps]
    this.current = null; // the loop being drawn
    this.phase = "rest"; // rest | blow | after
    this.armed = false;
    this.volume = 0;
    this.quiet = 0;
    this.inspiring = 0;
    this.afterN = 0;
    this.inspired = false;
    this.recent = []; // the last LOOKBACK_S of flow, for the rise before the start
    this.blowS = 0;
    this.flowLps = 0;
    this.nextIndex = null;
    this.dirty = true;
    new ResizeObserver(() => this.markDirty()).observe(canvas);
    this.markDirty();
  }

  /** A waveform message of quantity airway_flow (one channel, L/s). */
  push(msg) {
    const fs = msg.fs_hz;
    const data = msg.data?.[0] ?? [];
    if (this.nextIndex !== null && msg.first_index !== this.nextIndex && this.phase !== "rest") {
      this.finish(); // samples lost: this loop cannot be completed
    }
    this.nextIndex = msg.first_index + data.length;
    for (const sample of data) this.step(sample ?? 0, 1 / fs, fs);
    this.markDirty();
  }

  step(flow, dt, fs) {
    this.flowLps = flow;
    this.recent.push(flow);
    if (this.recent.length > LOOKBACK_S * fs) this.recent.shift();
    if (this.phase !== "blow" && this.armed && flow > START_LPS) {
      this.finish();
      this.startBlow(dt);
      return;
    }
    if (this.phase === "rest") {
      if (Math.abs(flow) < QUIET_LPS || flow < INSPIRE_LPS) this.armed = true;
      return;
    }
    this.volume += flow * dt;
    this.current.push([this.volume, flow]);
    if (this.phase === "blow") {
      this.blowS += dt;
      this.quiet = Math.abs(flow) < QUIET_LPS ? this.quiet + 1 : 0;
      this.inspiring = flow < INSPIRE_LPS ? this.inspiring + 1 : 0;
      if (this.quiet >= QUIET_S * fs || this.inspiring >= INSPIRE_S * fs) {
        this.phase = "after";
        this.afterN = 0;
        this.inspired = flow < INSPIRE_LPS;
        this.armed = true;
      }
    } else {
      this.afterN += 1;
      if (flow < INSPIRE_LPS) this.inspired = true;
      const closed = this.volume <= 0 || (this.inspired && flow > -QUIET_LPS);
      if (closed || this.afterN >= AFTER_S * fs) this.finish();
    }
  }

  startBlow(dt) {
    // the rise before flow crossed the start threshold is part of the blow
    const rise = [];
    for (let i = this.recent.length - 2; i >= 0 && this.recent[i] > RAMP_LPS; i -= 1) {
      rise.unshift(this.recent[i]);
    }
    this.phase = "blow";
    this.volume = 0;
    this.blowS = 0;
    this.quiet = 0;
    this.inspiring = 0;
    this.current = [[0, 0]];
    for (const flow of [...rise, this.recent.at(-1)]) {
      this.volume += flow * dt;
      this.current.push([this.volume, flow]);
    }
  }

  finish() {
    if (this.current && this.current.length > 1) {
      this.loops.push(this.current);
      if (this.loops.length > MAX_LOOPS) this.loops.shift();
    }
    this.current = null;
    this.phase = "rest";
  }

  /** What the patient is doing now: rest | inspire | blow | after; and blow time (s). */
  coaching() {
    if (this.phase === "blow") return { phase: "blow", seconds: this.blowS };
    if (this.phase === "after") return { phase: "after", seconds: this.blowS };
    return { phase: this.flowLps < INSPIRE_LPS ? "inspire" : "rest", seconds: 0 };
  }

  /** Forget the loops (a new patient or a new session). */
  clear() {
    this.loops = [];
    this.current = null;
    this.phase = "rest";
    this.markDirty();
  }

  markDirty() {
    if (this.dirty && this.frame) return;
    this.dirty = true;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  draw() {
    this.dirty = false;
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, w, h);
    const all = [...this.loops, ...(this.current ? [this.current] : [])];
    let vMax = 4;
    let fMax = 5;
    let fMin = -3;
    for (const loop of all) {
      for (const [v, f] of loop) {
        vMax = Math.max(vMax, v * 1.1);
        fMax = Math.max(fMax, f * 1.1);
        fMin = Math.min(fMin, f * 1.1);
      }
    }
    const pad = { left: 34 * dpr, right: 8 * dpr, top: 8 * dpr, bottom: 22 * dpr };
    const x = (v) => pad.left + (v / vMax) * (w - pad.left - pad.right);
    const y = (f) => pad.top + ((fMax - f) / (fMax - fMin)) * (h - pad.top - pad.bottom);
    const labels = this.axisLabels();
    g.font = `${12 * dpr}px system-ui, sans-serif`;
    g.lineWidth = 1;
    g.strokeStyle = COLOURS.grid;
    g.fillStyle = COLOURS.text;
    for (let v = 1; v < vMax; v += 1) line(g, x(v), y(fMax), x(v), y(fMin));
    for (let f = Math.ceil(fMin); f < fMax; f += 1) {
      if (f !== 0) line(g, x(0), y(f), x(vMax), y(f));
      if (f % 2 === 0) g.fillText(String(f), 4 * dpr, y(f) + 4 * dpr);
    }
    g.strokeStyle = COLOURS.axis;
    line(g, x(0), y(0), x(vMax), y(0));
    line(g, x(0), y(fMax), x(0), y(fMin));
    g.fillText(labels.volume, w - pad.right - g.measureText(labels.volume).width, h - 6 * dpr);
    g.fillText(labels.flow, pad.left + 6 * dpr, pad.top + 12 * dpr);
    if (!all.length) {
      g.fillText(labels.waiting, x(vMax * 0.3), y((fMax + fMin) / 2));
      return;
    }
    g.lineWidth = 2 * dpr;
    g.lineJoin = "round";
    for (const loop of all) {
      g.strokeStyle = loop === this.current || loop === this.loops.at(-1) && !this.current
        ? COLOURS.current
        : COLOURS.old;
      g.beginPath();
      loop.forEach(([v, f], i) => (i ? g.lineTo(x(v), y(f)) : g.moveTo(x(v), y(f))));
      g.stroke();
    }
  }
}

function line(g, x1, y1, x2, y2) {
  g.beginPath();
  g.moveTo(x1, y1);
  g.lineTo(x2, y2);
  g.stroke();
}
