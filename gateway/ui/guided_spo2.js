// Guide: oxygen saturation with a finger probe. Finger in the probe, hand still and warm;
// the signal quality comes from the engine's pleth check (derived signal_quality) and the
// oximeter's flags; the reading is done when SpO2 has been usable (valid or questionable,
// never invalid) and steady (within STEADY_PCT) for STABLE_S seconds. The verdict stays on
// show: a steady but questionable value says so, with its reasons.

import { currentLang, gatewayNowS } from "./bus.js";
import {
  bar,
  button,
  el,
  instructions,
  renderTags,
  setBar,
  setText,
  showOnTile,
  textsOf,
  valueTile,
} from "./guided_ui.js";
import { renderVerdict } from "./verdict.js";

const STABLE_S = 10; // usable, steady SpO2 this long in a row: a stable reading
const STEADY_PCT = 2; // largest spread of SpO2 (percentage points) over STABLE_S
const FRESH_S = 5; // a value older than this does not count as current

const TEXTS = {
  nb: {
    title: "Oksygenmetning",
    summary: "Pulsoksymeter på fingeren",
    "step.probe": "Sensor på",
    "step.measure": "Måling",
    "step.done": "Ferdig",
    "probe.1": "Sett sensoren på lang- eller ringfingeren, neglen opp.",
    "probe.2": "Fjern neglelakk eller kunstige negler på den fingeren.",
    "probe.3": "Hånden hviler på bordet i hjertehøyde og holdes helt i ro.",
    "probe.4": "Er hånden kald, varm den først (gni hendene eller bruk varmt vann).",
    "probe.wait": "Venter på signal fra oksymeteret …",
    spo2: "Oksygenmetning",
    pulse: "Puls",
    quality: "Signalkvalitet",
    "stable.progress": "Stabil måling: {n} av {total} s",
    "stable.lost": "Signalet er ikke stabilt. Hold hånden i ro og sjekk sensoren.",
    "done.text": "Stabil måling registrert.",
    again: "Mål på nytt",
    motion: "Bevegelse",
    perfusion_low: "Svak puls i fingeren",
  },
  en: {
    title: "Oxygen saturation",
    summary: "Pulse oximeter on the finger",
    "step.probe": "Probe on",
    "step.measure": "Measuring",
    "step.done": "Done",
    "probe.1": "Put the probe on the middle or ring finger, nail up.",
    "probe.2": "Remove nail polish or artificial nails from that finger.",
    "probe.3": "The hand rests on the table at heart height and is kept completely still.",
    "probe.4": "If the hand is cold, warm it first (rub the hands or use warm water).",
    "probe.wait": "Waiting for a signal from the oximeter …",
    spo2: "Oxygen saturation",
    pulse: "Pulse",
    quality: "Signal quality",
    "stable.progress": "Stable reading: {n} of {total} s",
    "stable.lost": "The signal is not stable. Keep the hand still and check the probe.",
    "done.text": "Stable reading recorded.",
    again: "Measure again",
    motion: "Motion",
    perfusion_low: "Weak pulse in the finger",
  },
};

export const spo2Guide = {
  kind: "spo2",
  texts: TEXTS,
  fits: (device) => typeof device.kind === "string" && device.kind.endsWith("-oximeter"),
  create,
};

function create(ctx) {
  const { tr, label } = textsOf(TEXTS, "spo2");
  const s = {
    step: "probe",
    device: null,
    spo2: null,
    pulse: null,
    quality: null,
    validSince: null,
    recent: [], // [received_s, value] of usable SpO2 over the last STABLE_S
  };

  const wait = label(el("p", { class: "guide-prompt", testid: "spo2-wait" }), "probe.wait");
  const spo2 = valueTile(label, "spo2", "%", "guide-spo2");
  const pulse = valueTile(label, "pulse", "/min", "guide-pulse");
  const qualityVerdict = el("p", { class: "verdict", testid: "spo2-quality-verdict", hidden: "" });
  const qualityFlags = el("ul", { class: "flags", testid: "spo2-quality-flags" });
  const stable = bar("spo2-stable-bar");
  const progress = el("p", { class: "guide-note", testid: "spo2-progress" });
  const doneText = label(el("p", { class: "guide-prompt guide-done", testid: "spo2-done" }), "done.text");
  const again = button(label, "again", "spo2-again", () => {
    s.validSince = null;
    go("measure");
  });
  const node = el(
    "div",
    { class: "guide-body" },
    el(
      "div",
      { class: "guide-part", "data-part": "probe" },
      instructions(label, ["probe.1", "probe.2", "probe.3", "probe.4"]),
      wait,
    ),
    el(
      "div",
      { class: "guide-part guide-live", "data-part": "measure" },
      el("div", { class: "guide-values" }, spo2, pulse),
      el(
        "div",
        { class: "guide-quality" },
        label(el("span", { class: "guide-value-label" }), "quality"),
        qualityVerdict,
        qualityFlags,
      ),
      stable.node,
      progress,
      doneText,
      again,
    ),
  );

  function go(step) {
    s.step = step;
    ctx.setStep(step);
    const part = step === "probe" ? "probe" : "measure";
    for (const child of node.children) child.hidden = child.dataset.part !== part;
    doneText.hidden = step !== "done";
    again.hidden = step !== "done";
    render();
  }

  function fresh(msg) {
    return msg && gatewayNowS() - msg.received_s < FRESH_S;
  }

  function render() {
    showOnTile(spo2, fresh(s.spo2) ? s.spo2 : null);
    showOnTile(pulse, fresh(s.pulse) ? s.pulse : null);
    const q = fresh(s.quality) ? s.quality : null;
    renderVerdict(qualityVerdict, q?.verdict ?? "", currentLang());
    const detail = q?.detail ?? {};
    const tags = [...(q?.reasons ?? []), ...(s.spo2?.quality ?? [])];
    if (detail.motion) tags.push("motion");
    renderTags(qualityFlags, tags, TEXTS);
    const heldS = s.validSince === null ? 0 : Math.min(STABLE_S, gatewayNowS() - s.validSince);
    if (s.step !== "done") {
      setBar(stable.fill, heldS / STABLE_S);
      const lost = s.spo2 && s.validSince === null;
      setText(progress, lost ? tr("stable.lost") : tr("stable.progress", {
        n: Math.floor(heldS),
        total: STABLE_S,
      }));
    } else {
      setBar(stable.fill, 1);
      setText(progress, tr("stable.progress", { n: STABLE_S, total: STABLE_S }));
    }
    if (s.step === "measure" && heldS >= STABLE_S) go("done");
  }

  function follows(msg) {
    // One probe at a time: the first oximeter that reports, until it goes away.
    const ids = new Set(ctx.devices().filter((d) => d.connected).map((d) => d.id));
    if (!ids.has(msg.device_id)) return false;
    if (s.device === null || !ids.has(s.device)) s.device = msg.device_id;
    return s.device === msg.device_id;
  }

  function live(msg) {
    if (!("device_id" in msg) || !follows(msg)) return;
    if (msg.type === "measurement" && msg.quantity === "spo2") {
      s.spo2 = msg;
      const usable = msg.verdict !== "invalid" && typeof msg.value === "number";
      s.recent = usable
        ? [...s.recent, [msg.received_s, msg.value]].filter(([t]) => msg.received_s - t <= STABLE_S)
        : [];
      const values = s.recent.map(([, v]) => v);
      if (!usable) s.validSince = null;
      else if (Math.max(...values) - Math.min(...values) > STEADY_PCT) {
        s.recent = [[msg.received_s, msg.value]];
        s.validSince = msg.received_s;
      } else if (s.validSince === null) s.validSince = msg.received_s;
      if (s.step === "probe") go("measure");
    } else if (msg.type === "measurement" && msg.quantity === "pulse_rate") {
      s.pulse = msg;
    } else if (msg.type === "derived" && msg.source === "pleth" && msg.key === "signal_quality") {
      s.quality = msg;
      if (msg.verdict === "invalid") s.validSince = null;
    } else {
      return;
    }
    render();
  }

  return {
    node,
    steps: ["probe", "measure", "done"].map((id) => ({ id, key: `step.${id}` })),
    start: () => go("probe"),
    live,
    tick: render,
    relabel: render,
  };
}
