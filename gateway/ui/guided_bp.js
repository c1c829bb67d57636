// Guide: blood pressure with a Bluetooth cuff. ESH 2023 office measurement: the patient
// sits quietly for 3–5 min first (a countdown the nurse may skip), cuff on the bare upper
// arm at heart height, back supported, feet flat, no talking; then the patient (or nurse)
// presses start on the cuff. The live cuff pressure (cuff_pressure, BLE Intermediate Cuff
// Pressure) shows inflation and deflation; the reading (bp_systolic, bp_diastolic, bp_mean,
// pulse_rate with one received_s) shows with the engine's verdict and the care plan's light.

import { currentLang } from "./bus.js";
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
import { renderLight, renderVerdict } from "./verdict.js";

const REST_S = 300; // ESH 2023: 3–5 min seated rest before measuring
const GAUGE_MAX_MMHG = 300;
const PARTS = ["bp_systolic", "bp_diastolic", "bp_mean", "pulse_rate"];

const TEXTS = {
  nb: {
    title: "Blodtrykk",
    summary: "Blodtrykksmåler med mansjett",
    "step.rest": "Hvile",
    "step.cuff": "Mansjett",
    "step.measure": "Måling",
    "step.result": "Resultat",
    "rest.1": "Pasienten sitter godt på en stol med ryggstøtte.",
    "rest.2": "Begge føttene flatt i gulvet, bena ikke i kryss.",
    "rest.3": "Sitt stille og ikke snakk i 5 minutter før målingen.",
    "rest.left": "Hvile: {m}:{s} igjen",
    "rest.done": "Hvilen er ferdig.",
    "rest.skip": "Hopp over hvilen",
    "cuff.1": "Sett mansjetten på bar overarm, nedre kant 2–3 cm over albuebøyen.",
    "cuff.2": "Slangen skal gå midt over armen, mansjetten skal sitte stramt men ikke trykke.",
    "cuff.3": "Armen hviler på bordet med mansjetten i hjertehøyde, håndflaten opp.",
    "cuff.4": "Ikke snakk og ikke beveg deg under målingen.",
    "cuff.start": "Trykk START på blodtrykksmåleren.",
    "measure.inflating": "Mansjetten pumpes opp …",
    "measure.deflating": "Slipper ut luft … sitt helt stille.",
    "measure.pressure": "Trykk i mansjetten",
    systolic: "Systolisk",
    diastolic: "Diastolisk",
    pulse: "Puls",
    "result.again": "Mål på nytt",
    "result.reading": "Blodtrykk",
    movement: "Pasienten beveget seg under målingen",
    cuff_fit: "Mansjetten sitter for løst eller feil",
    irregular_pulse: "Uregelmessig puls under målingen",
    artifact: "Pasienten beveget seg under målingen",
    "status.none": "Måleren meldte ingen problemer.",
    esh: "ESH-kategori: {category}",
    "esh.note": "Én måling. Diagnose krever gjentatte målinger.",
    "esh.optimal": "optimalt",
    "esh.normal": "normalt",
    "esh.high_normal": "høyt normalt",
    "esh.grade_1": "hypertensjon grad 1",
    "esh.grade_2": "hypertensjon grad 2",
    "esh.grade_3": "hypertensjon grad 3",
    "esh.isolated_systolic": "isolert systolisk hypertensjon grad {n}",
  },
  en: {
    title: "Blood pressure",
    summary: "Blood pressure monitor with cuff",
    "step.rest": "Rest",
    "step.cuff": "Cuff",
    "step.measure": "Measuring",
    "step.result": "Result",
    "rest.1": "The patient sits comfortably on a chair with a back rest.",
    "rest.2": "Both feet flat on the floor, legs not crossed.",
    "rest.3": "Sit still and do not talk for 5 minutes before the measurement.",
    "rest.left": "Rest: {m}:{s} left",
    "rest.done": "The rest is over.",
    "rest.skip": "Skip the rest",
    "cuff.1": "Put the cuff on the bare upper arm, lower edge 2–3 cm above the elbow crease.",
    "cuff.2": "The tube runs over the middle of the arm; the cuff is snug but does not press.",
    "cuff.3": "The arm rests on the table with the cuff at heart height, palm up.",
    "cuff.4": "No talking and no moving during the measurement.",
    "cuff.start": "Press START on the blood pressure monitor.",
    "measure.inflating": "The cuff is inflating …",
    "measure.deflating": "Releasing air … sit completely still.",
    "measure.pressure": "Cuff pressure",
    systolic: "Systolic",
    diastolic: "Diastolic",
    pulse: "Pulse",
    "result.again": "Measure again",
    "result.reading": "Blood pressure",
    movement: "The patient moved during the measurement",
    cuff_fit: "The cuff is too loose or badly placed",
    irregular_pulse: "Irregular pulse during the measurement",
    artifact: "The patient moved during the measurement",
    "status.none": "The monitor reported no problems.",
    esh: "ESH category: {category}",
    "esh.note": "One reading. A diagnosis needs repeated measurements.",
    "esh.optimal": "optimal",
    "esh.normal": "normal",
    "esh.high_normal": "high normal",
    "esh.grade_1": "grade 1 hypertension",
    "esh.grade_2": "grade 2 hypertension",
    "esh.grade_3": "grade 3 hypertension",
    "esh.isolated_systolic": "isolated systolic hypertension, grade {n}",
  },
};

export const bpGuide = {
  kind: "bp",
  texts: TEXTS,
  fits: (device) => device.kind === "ble-bp-cuff",
  create,
};

function create(ctx) {
  const { tr, label } = textsOf(TEXTS, "bp");
  const words = { nb: TEXTS.nb, en: TEXTS.en }; // device status bits and reasons in words
  const mine = () => new Set(ctx.devices().map((d) => d.id));
  const s = { step: "rest", restEndsMs: performance.now() + REST_S * 1000, pressures: [], reading: {} };

  // rest
  const restLeft = el("p", { class: "guide-countdown", testid: "bp-rest-left" });
  const rest = el(
    "div",
    { class: "guide-part", "data-part": "rest" },
    instructions(label, ["rest.1", "rest.2", "rest.3"]),
    restLeft,
    button(label, "rest.skip", "bp-skip-rest", () => go("cuff")),
  );
  // cuff on, press start
  const cuff = el(
    "div",
    { class: "guide-part", "data-part": "cuff" },
    instructions(label, ["cuff.1", "cuff.2", "cuff.3", "cuff.4"]),
    label(el("p", { class: "guide-prompt", testid: "bp-press-start" }), "cuff.start"),
  );
  // live cuff pressure
  const gauge = bar("bp-gauge");
  const pressure = el("span", { class: "value", testid: "bp-cuff-pressure", text: "--" });
  const phase = el("p", { class: "guide-prompt", testid: "bp-phase" });
  const measure = el(
    "div",
    { class: "guide-part", "data-part": "measure" },
    phase,
    label(el("span", { class: "guide-value-label" }), "measure.pressure"),
    el("p", { class: "reading" }, pressure, el("span", { class: "unit", text: "mmHg" })),
    gauge.node,
  );
  // result
  const reading = el("span", { class: "value", testid: "bp-reading", text: "--/--" });
  const verdict = el("p", { class: "verdict", testid: "bp-verdict", hidden: "" });
  const light = el("p", { class: "light", testid: "bp-light", hidden: "" });
  const esh = el("p", { class: "guide-esh", testid: "bp-esh", hidden: "" });
  const eshNote = label(el("p", { class: "guide-note", testid: "bp-esh-note", hidden: "" }), "esh.note");
  const status = el("ul", { class: "flags", testid: "bp-status" });
  const statusNone = label(el("p", { class: "guide-note", testid: "bp-status-none" }), "status.none");
  const pulse = valueTile(label, "pulse", "/min", "bp-pulse");
  const result = el(
    "div",
    { class: "guide-part", "data-part": "result", testid: "bp-result" },
    el(
      "div",
      { class: "guide-values" },
      el(
        "div",
        { class: "guide-value", testid: "bp-pressure" },
        label(el("span", { class: "guide-value-label" }), "result.reading"),
        el("p", { class: "reading" }, reading, el("span", { class: "unit", text: "mmHg" })),
        verdict,
        light,
        esh,
        eshNote,
      ),
      pulse,
    ),
    status,
    statusNone,
    button(label, "result.again", "bp-again", () => go("cuff")),
  );
  const node = el("div", { class: "guide-body" }, rest, cuff, measure, result);

  function go(step) {
    s.step = step;
    ctx.setStep(step);
    for (const part of node.children) part.hidden = part.dataset.part !== step;
    if (step === "cuff") s.pressures = [];
    render();
  }

  function render() {
    const left = Math.max(0, Math.ceil((s.restEndsMs - performance.now()) / 1000));
    const text = left > 0
      ? tr("rest.left", { m: Math.floor(left / 60), s: String(left % 60).padStart(2, "0") })
      : tr("rest.done");
    setText(restLeft, text);
    if (s.step === "rest" && left === 0) go("cuff");
    const last = s.pressures.at(-1);
    if (last !== undefined) {
      setText(pressure, String(Math.round(last)));
      setBar(gauge.fill, last / GAUGE_MAX_MMHG);
      const peak = Math.max(...s.pressures);
      setText(phase, tr(last < peak ? "measure.deflating" : "measure.inflating"));
    }
    renderResult();
  }

  function renderResult() {
    const r = s.reading;
    const sys = r.bp_systolic;
    const dia = r.bp_diastolic;
    if (!sys || !dia) return;
    const usable = (m) => typeof m.value === "number" && m.verdict !== "invalid";
    const shown = (m) => (usable(m) ? String(Math.round(m.value)) : "--");
    setText(reading, `${shown(sys)}/${shown(dia)}`);
    const order = ["valid", "questionable", "invalid"];
    const worst = order[Math.max(order.indexOf(sys.verdict), order.indexOf(dia.verdict))];
    renderVerdict(verdict, worst ?? "", currentLang());
    // The care plan bands the systolic; never a light when either value cannot be used.
    renderLight(light, usable(sys) && usable(dia) ? sys.traffic_light : null, currentLang());
    // ESH 2023 office category: the gateway sends it only for a usable reading
    const cls = usable(sys) && usable(dia) ? sys.bp_category ?? dia.bp_category : null;
    esh.hidden = eshNote.hidden = !cls;
    esh.dataset.category = cls?.category ?? "";
    if (cls) {
      const category = tr(`esh.${cls.category}`, { n: cls.hypertension_grade ?? "" });
      setText(esh, tr("esh", { category }));
    }
    if (r.pulse_rate) showOnTile(pulse, r.pulse_rate, { words });
    const tags = new Set();
    for (const m of [sys, dia, r.bp_mean, r.pulse_rate]) {
      for (const tag of [...(m?.quality ?? []), ...(m?.reasons ?? [])]) tags.add(tag);
    }
    renderTags(status, [...tags], words);
    statusNone.hidden = status.children.length > 0;
  }

  function live(msg) {
    if (msg.type !== "measurement" || !mine().has(msg.device_id)) return;
    if (msg.quantity === "cuff_pressure" && typeof msg.value === "number") {
      if (s.step !== "measure") {
        s.pressures = [];
        go("measure");
      }
      s.pressures.push(msg.value);
      render();
    } else if (PARTS.includes(msg.quantity)) {
      if (s.reading.received_s !== msg.received_s) s.reading = { received_s: msg.received_s };
      s.reading[msg.quantity] = msg;
      if (s.reading.bp_systolic && s.reading.bp_diastolic && s.step !== "result") go("result");
      render();
    }
  }

  return {
    node,
    steps: ["rest", "cuff", "measure", "result"].map((id) => ({ id, key: `step.${id}` })),
    start: () => go("rest"),
    live,
    tick: render,
    relabel: render,
  };
}
