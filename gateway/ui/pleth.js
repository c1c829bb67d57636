// The pleth trace: a monitor-style sweep on a <canvas>, placed by sample index.

import { QUALITY_LEVEL } from "./i18n.js";

const PLETH_WINDOW_S = 5;
const PLETH_DELAY_S = 0.6; // blocks arrive every 1/3 s: play the trace a bit behind the newest
const PLETH_ERASE_S = 0.25; // blank band ahead of the sweep
const PLETH_MIN_SPAN = 16; // raw units; stops the auto-scale from blowing up noise
const PLETH_SWITCH_S = 3; // follow another device's pleth only after the current one is silent

// ---------------------------------------------------------------- pleth sweep

// A monitor-style sweep: samples are placed by index (x = index mod window), so a jump in
// first_index leaves a gap, and the trace is played out at fs_hz a little behind real time.
export class Sweep {
  // waitingText(): the text shown before the first block (in the page's language).
  // options: channel (index into msg.data, e.g. an ECG lead), minSpan (in the block's unit).
  constructor(canvas, waitingText, { channel = 0, minSpan = PLETH_MIN_SPAN } = {}) {
    this.canvas = canvas;
    this.waitingText = waitingText;
    this.channel = channel;
    this.minSpan = minSpan;
    this.ctx = canvas.getContext("2d");
    this.colors = {};
    this.reset(null, null);
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
    this.resize();
    const frame = () => {
      this.draw(performance.now() / 1000);
      window.requestAnimationFrame(frame);
    };
    window.requestAnimationFrame(frame);
  }

  reset(fs, deviceId) {
    this.fs = fs;
    this.deviceId = deviceId;
    this.anchor = null; // {index, t}: sample index due at local time t (s)
    this.lastEnd = -Infinity;
    this.lastPushS = -Infinity;
    this.lo = null;
    this.hi = null;
    const size = fs ? Math.ceil(fs * PLETH_WINDOW_S * 2) : 1;
    this.idx = new Float64Array(size).fill(-1);
    this.val = new Float32Array(size);
    this.poor = new Uint8Array(size);
  }

  /** Follow another channel of the same stream (starts the trace over). */
  setChannel(channel) {
    this.channel = channel;
    this.reset(this.fs, this.deviceId);
  }

  push(msg, nowS) {
    const data = msg.data?.[this.channel];
    const fs = msg.fs_hz;
    const first = msg.first_index;
    if (!Array.isArray(data) || !(fs > 0) || !Number.isInteger(first)) return;
    if (msg.device_id !== this.deviceId && nowS - this.lastPushS < PLETH_SWITCH_S) return;
    // A new device, a new rate, or an index that went back (gateway restarted): start over.
    const wentBack = first + data.length < this.lastEnd - fs;
    if (msg.device_id !== this.deviceId || fs !== this.fs || wentBack) {
      this.reset(fs, msg.device_id);
    }
    const poor = (msg.quality ?? []).some((f) => QUALITY_LEVEL[f] && QUALITY_LEVEL[f] !== "info");
    const size = this.idx.length;
    data.forEach((v, k) => {
      const i = first + k;
      const slot = i % size;
      this.idx[slot] = typeof v === "number" ? i : -1;
      this.val[slot] = v;
      this.poor[slot] = poor ? 1 : 0;
    });
    const end = first + data.length;
    this.lastEnd = Math.max(this.lastEnd, end);
    this.lastPushS = nowS;
    // Keep the playhead PLETH_DELAY_S behind the newest sample: nudge it, or jump when far off.
    const target = end - PLETH_DELAY_S * fs;
    if (this.anchor === null) {
      this.anchor = { index: target, t: nowS };
    } else {
      const predicted = this.anchor.index + (nowS - this.anchor.t) * fs;
      const error = target - predicted;
      this.anchor = { index: Math.abs(error) > fs ? target : predicted + error * 0.05, t: nowS };
    }
  }

  has(i) {
    return i >= 0 && this.idx[i % this.idx.length] === i;
  }

  resize() {
    const box = this.canvas.parentElement;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(box.clientWidth * dpr));
    const h = Math.max(1, Math.round(box.clientHeight * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const css = getComputedStyle(this.canvas);
    for (const name of ["trace", "poor", "grid", "muted"]) {
      this.colors[name] = css.getPropertyValue(`--pleth-${name}`).trim() || "#888";
    }
    this.font = css.fontFamily;
  }

  draw(nowS) {
    const { ctx, canvas } = this;
    const W = canvas.width;
    const H = canvas.height;
    const dpr = window.devicePixelRatio || 1;
    ctx.clearRect(0, 0, W, H);
    ctx.lineWidth = dpr;
    ctx.strokeStyle = this.colors.grid;
    ctx.beginPath();
    for (let s = 1; s < PLETH_WINDOW_S; s += 1) {
      const x = Math.round((s / PLETH_WINDOW_S) * W) + 0.5;
      ctx.moveTo(x, 0);
      ctx.lineTo(x, H);
    }
    ctx.stroke();
    if (!this.anchor) return this.waiting();
    const fs = this.fs;
    const n = Math.round(fs * PLETH_WINDOW_S);
    const head = Math.floor(this.anchor.index + (nowS - this.anchor.t) * fs);
    const start = head - n + Math.round(fs * PLETH_ERASE_S);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = start; i <= head; i += 1) {
      if (!this.has(i)) continue;
      const v = this.val[i % this.idx.length];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo > hi) return this.waiting();
    if (hi - lo < this.minSpan) {
      const mid = (hi + lo) / 2;
      lo = mid - this.minSpan / 2;
      hi = mid + this.minSpan / 2;
    }
    // Auto-gain like a monitor: widen at once, narrow slowly so the trace does not breathe.
    this.lo = this.lo === null || lo < this.lo ? lo : this.lo + (lo - this.lo) * 0.05;
    this.hi = this.hi === null || hi > this.hi ? hi : this.hi + (hi - this.hi) * 0.05;
    const pad = H * 0.08;
    const y = (v) => H - pad - ((v - this.lo) / (this.hi - this.lo)) * (H - 2 * pad);
    ctx.lineWidth = 2.5 * dpr;
    ctx.lineJoin = "round";
    for (const poorPass of [0, 1]) {
      ctx.strokeStyle = poorPass ? this.colors.poor : this.colors.trace;
      ctx.beginPath();
      let prevX = null;
      for (let i = start; i <= head; i += 1) {
        const slot = i % this.idx.length;
        if (!this.has(i) || this.poor[slot] !== poorPass) {
          prevX = null;
          continue;
        }
        const x = (((i % n) + n) % n) / n * W;
        const yy = y(this.val[slot]);
        if (prevX === null || x < prevX) ctx.moveTo(x, yy);
        else ctx.lineTo(x, yy);
        prevX = x;
      }
      ctx.stroke();
    }
    return undefined;
  }

  waiting() {
    const { ctx, canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.fillStyle = this.colors.muted;
    ctx.font = `${Math.round(18 * dpr)}px ${this.font}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(this.waitingText(), canvas.width / 2, canvas.height / 2);
  }
}
