// Guide: spirometry (forced expiration), coached per ATS/ERS 2019. The page follows the flow
// to coach ("pust helt inn", "blås!", "fortsett … helt tom") and draws the flow–volume loop
// (guided_loop.js); after each blow the engine's judgement arrives as derived values of source
// airway_flow (fev1, fvc, fev1_fvc, pef, fef25_75; verdict valid = acceptable, questionable =
// usable, invalid = neither; reasons; detail.manoeuvre, grade_fev1, grade_fvc): shown per blow,
// with the session grade as it builds. Up to 8 blows.

import { currentLang } from "./bus.js";
import { FlowVolumeLoop } from "./guided_loop.js";
import { button, el, instructions, setText, textsOf } from "./guided_ui.js";
import { renderVerdict } from "./verdict.js";

const MAX_BLOWS = 8; // ATS/ERS 2019: usually no more than 8 attempts
const KEYS = ["fev1", "fvc", "fev1_fvc", "pef", "fef25_75"];
const FIRST_SECONDS = 1.0; // "blås!" this long, then "fortsett"

const TEXTS = {
  nb: {
    title: "Spirometri",
    summary: "Lungefunksjon: blås hardt og lenge",
    "step.prepare": "Forberedelse",
    "step.blow": "Blåsing",
    "prep.1": "Pasienten sitter rett opp, begge føttene i gulvet. Løsne trange klær.",
    "prep.2": "Sett på neseklypen.",
    "prep.3": "Munnstykket inn i munnen, leppene tett rundt, tungen under.",
    "prep.4": "Vis først hvordan det gjøres. Si at det skal være så hardt og fort som mulig.",
    "prep.ready": "Start blåsingen",
    "coach.rest": "Pust rolig gjennom munnstykket.",
    "coach.inspire": "Pust helt inn – fyll lungene helt!",
    "coach.blow": "Blås så hardt og fort du kan!",
    "coach.keep": "Fortsett å blåse … helt tom! ({s} s)",
    "coach.after": "Pust helt inn igjen, og slapp av.",
    "coach.max": "Åtte blåsinger er nok for denne gangen.",
    blows: "Blåsinger: {n} av høyst {max}",
    loop: "Flow–volum-kurve",
    "axis.volume": "Volum (L)",
    "axis.flow": "Flow (L/s)",
    "axis.waiting": "Venter på blåsing …",
    "col.n": "Nr.",
    "col.fev1": "FEV1",
    "col.fvc": "FVC",
    "col.ratio": "FEV1/FVC",
    "col.pef": "PEF",
    "col.judgement": "Vurdering",
    "judge.fev1": "FEV1",
    "judge.fvc": "FVC",
    acceptable: "godkjent",
    usable: "brukbar",
    unusable: "ikke brukbar",
    "latest.good": "Godkjent blåsing.",
    "latest.usable": "Blåsingen kan brukes delvis.",
    "latest.bad": "Blåsingen kan ikke brukes. Prøv igjen.",
    grade: "Kvalitetsgrad (ATS/ERS): FEV1 {fev1}, FVC {fvc}",
    "grade.A": "A: minst 3 godkjente, like blåsinger",
    "grade.B": "B: 2 godkjente, like blåsinger",
    "grade.C": "C: minst 2 godkjente, nesten like",
    "grade.D": "D: minst 2 godkjente, noe ulike",
    "grade.E": "E: 1 godkjent, eller for ulike – blås igjen",
    "grade.U": "U: ingen godkjente, men brukbare",
    "grade.F": "F: ingen brukbare blåsinger",
    again: "Ny serie",
    not_finite: "Ugyldige målinger",
    too_short: "For kort blåsing",
    no_forced_expiration: "Ikke en kraftig utblåsing",
    bev_too_large: "Treg start (for stort tilbakeekstrapolert volum, BEV)",
    cough_first_second: "Hoste i første sekund",
    expiration_under_1s: "Blåsingen stoppet før 1 sekund",
    no_eofe: "Stoppet for tidlig – ikke blåst helt tom",
    incomplete_inspiration: "Pustet ikke helt inn før blåsingen",
    hesitation: "Nølte før blåsingen",
    slow_rise_to_pef: "Langsom økning til toppstrøm",
  },
  en: {
    title: "Spirometry",
    summary: "Lung function: blow hard and long",
    "step.prepare": "Preparation",
    "step.blow": "Blowing",
    "prep.1": "The patient sits upright, both feet on the floor. Loosen tight clothing.",
    "prep.2": "Put on the nose clip.",
    "prep.3": "Mouthpiece in the mouth, lips sealed around it, tongue underneath.",
    "prep.4": "Show how it is done first. Say it must be as hard and fast as possible.",
    "prep.ready": "Start blowing",
    "coach.rest": "Breathe calmly through the mouthpiece.",
    "coach.inspire": "Breathe all the way in – fill the lungs completely!",
    "coach.blow": "Blow as hard and fast as you can!",
    "coach.keep": "Keep blowing … all the way out! ({s} s)",
    "coach.after": "Breathe all the way in again, and relax.",
    "coach.max": "Eight blows are enough for now.",
    blows: "Blows: {n} of at most {max}",
    loop: "Flow–volume loop",
    "axis.volume": "Volume (L)",
    "axis.flow": "Flow (L/s)",
    "axis.waiting": "Waiting for a blow …",
    "col.n": "No.",
    "col.fev1": "FEV1",
    "col.fvc": "FVC",
    "col.ratio": "FEV1/FVC",
    "col.pef": "PEF",
    "col.judgement": "Judgement",
    "judge.fev1": "FEV1",
    "judge.fvc": "FVC",
    acceptable: "acceptable",
    usable: "usable",
    unusable: "not usable",
    "latest.good": "Acceptable blow.",
    "latest.usable": "The blow is partly usable.",
    "latest.bad": "The blow cannot be used. Try again.",
    grade: "Quality grade (ATS/ERS): FEV1 {fev1}, FVC {fvc}",
    "grade.A": "A: at least 3 acceptable, repeatable blows",
    "grade.B": "B: 2 acceptable, repeatable blows",
    "grade.C": "C: at least 2 acceptable, nearly repeatable",
    "grade.D": "D: at least 2 acceptable, less repeatable",
    "grade.E": "E: 1 acceptable, or not repeatable – blow again",
    "grade.U": "U: none acceptable, but usable",
    "grade.F": "F: no usable blows",
    again: "New series",
    not_finite: "Invalid samples",
    too_short: "Blow too short",
    no_forced_expiration: "Not a forced expiration",
    bev_too_large: "Slow start (back-extrapolated volume too large, BEV)",
    cough_first_second: "Cough in the first second",
    expiration_under_1s: "The blow stopped before 1 second",
    no_eofe: "Stopped too early – not blown all the way out",
    incomplete_inspiration: "Did not breathe all the way in before the blow",
    hesitation: "Hesitated before the blow",
    slow_rise_to_pef: "Slow rise to peak flow",
  },
};

export const spiroGuide = {
  kind: "spiro",
  texts: TEXTS,
  fits: (device) => typeof device.kind === "string" && device.kind.startsWith("spiro-"),
  create,
};

const level = (verdict) =>
  ({ valid: "acceptable", questionable: "usable" })[verdict] ?? "unusable";

function create(ctx) {
  const { tr, label } = textsOf(TEXTS, "spiro");
  const s = { step: "prepare", blows: new Map(), order: [], grades: null };
  const mine = () => new Set(ctx.devices().map((d) => d.id));

  const canvas = el("canvas", { class: "guide-loop", testid: "spiro-loop", role: "img" });
  const loop = new FlowVolumeLoop(canvas, () => ({
    volume: tr("axis.volume"),
    flow: tr("axis.flow"),
    waiting: tr("axis.waiting"),
  }));
  const coach = el("p", { class: "guide-prompt guide-coach", testid: "spiro-coach", role: "status" });
  const count = el("p", { class: "guide-note", testid: "spiro-count" });
  const latest = el("div", { class: "guide-latest", testid: "spiro-latest", hidden: "" });
  const grade = el("p", { class: "guide-grade", testid: "spiro-grade", hidden: "" });
  const gradeHelp = el("p", { class: "guide-note", testid: "spiro-grade-help", hidden: "" });
  const rows = el("tbody");
  const extra = (key) => (["ratio", "pef"].includes(key) ? "guide-col-extra" : null);
  const head = el("tr", {}, ...["n", "fev1", "fvc", "ratio", "pef", "judgement"].map(
    (key) => label(el("th", { scope: "col", class: extra(key) }), `col.${key}`),
  ));
  const table = el("table", { class: "guide-blows", testid: "spiro-blows", hidden: "" }, el("thead", {}, head), rows);
  const node = el(
    "div",
    { class: "guide-body" },
    el(
      "div",
      { class: "guide-part", "data-part": "prepare" },
      instructions(label, ["prep.1", "prep.2", "prep.3", "prep.4"]),
      button(label, "prep.ready", "spiro-ready", () => go("blow")),
    ),
    el(
      "div",
      { class: "guide-part guide-spiro", "data-part": "blow" },
      el("div", { class: "guide-spiro-live" }, coach, count, el("div", { class: "guide-loop-box" }, canvas)),
      el("div", { class: "guide-spiro-results" }, latest, grade, gradeHelp, table,
        button(label, "again", "spiro-again", () => {
          s.blows.clear();
          s.order = [];
          s.grades = null;
          loop.clear();
          go("blow");
        })),
    ),
  );

  function go(step) {
    s.step = step;
    ctx.setStep(step);
    const part = step === "prepare" ? "prepare" : "blow";
    for (const child of node.children) child.hidden = child.dataset.part !== part;
    loop.markDirty();
    render();
  }

  function fmt(msg, digits) {
    if (!msg || typeof msg.value !== "number" || msg.verdict === "invalid") return "--";
    return msg.value.toFixed(digits);
  }

  function reasonsOf(blow) {
    const all = new Set();
    for (const key of KEYS) for (const r of blow[key]?.reasons ?? []) all.add(r);
    return [...all];
  }

  function render() {
    const c = loop.coaching();
    let text;
    if (s.order.length >= MAX_BLOWS) text = tr("coach.max");
    else if (c.phase === "blow" && c.seconds < FIRST_SECONDS) text = tr("coach.blow");
    else if (c.phase === "blow") text = tr("coach.keep", { s: Math.floor(c.seconds) });
    else if (c.phase === "after") text = tr("coach.after");
    else if (c.phase === "inspire") text = tr("coach.inspire");
    else text = tr("coach.inspire");
    coach.dataset.phase = c.phase;
    setText(coach, text);
    setText(count, tr("blows", { n: Math.min(MAX_BLOWS, s.order.length), max: MAX_BLOWS }));
    renderResults();
  }

  function renderResults() {
    const lang = currentLang();
    table.hidden = s.order.length === 0;
    const key = `${lang}:${s.order.map((n) => `${n}.${Object.keys(s.blows.get(n)).length}`)}`;
    if (rows.dataset.key !== key) {
      rows.dataset.key = key;
      rows.replaceChildren(...s.order.map((n, i) => blowRow(i + 1, s.blows.get(n))));
    }
    const last = s.blows.get(s.order.at(-1));
    latest.hidden = !last;
    if (last) {
      const fev1 = last.fev1?.verdict;
      const fvc = last.fvc?.verdict;
      const overall = fev1 === "valid" && fvc === "valid" ? "good"
        : fev1 === "invalid" && fvc === "invalid" ? "bad" : "usable";
      const verdict = el("p", { class: "verdict" });
      renderVerdict(verdict, { good: "valid", usable: "questionable", bad: "invalid" }[overall], lang);
      latest.dataset.latest = overall;
      const reasons = reasonsOf(last).map((r) => el("li", { class: "flag caution", "data-flag": r, text: tr(r) }));
      const key2 = `${lang}:${s.order.at(-1)}:${overall}:${reasons.length}`;
      if (latest.dataset.key !== key2) {
        latest.dataset.key = key2;
        latest.replaceChildren(
          verdict,
          el("p", { class: "guide-prompt", text: tr(`latest.${overall}`) }),
          el("ul", { class: "flags", testid: "spiro-reasons" }, ...reasons),
        );
      }
    }
    grade.hidden = gradeHelp.hidden = !s.grades;
    if (s.grades) {
      grade.dataset.fev1 = s.grades.fev1;
      grade.dataset.fvc = s.grades.fvc;
      setText(grade, tr("grade", { fev1: s.grades.fev1, fvc: s.grades.fvc }));
      setText(gradeHelp, tr(`grade.${s.grades.fev1}`));
    }
  }

  function ratio(msg) {
    return fmt(msg, 2) === "--" ? "--" : `${Math.round(msg.value * 100)} %`;
  }

  function blowRow(n, blow) {
    const judge = (k) => `${tr(`judge.${k}`)}: ${tr(level(blow[k]?.verdict))}`;
    const row = el(
      "tr",
      { "data-blow": String(n) },
      el("td", { text: String(n) }),
      el("td", { text: `${fmt(blow.fev1, 2)} L` }),
      el("td", { text: `${fmt(blow.fvc, 2)} L` }),
      el("td", { class: "guide-col-extra", text: ratio(blow.fev1_fvc) }),
      el("td", { class: "guide-col-extra", text: `${fmt(blow.pef, 1)} L/s` }),
      el("td", { class: "guide-judgement" }, `${judge("fev1")}, ${judge("fvc")}`),
    );
    row.dataset.fev1 = level(blow.fev1?.verdict);
    row.dataset.fvc = level(blow.fvc?.verdict);
    return row;
  }

  function live(msg) {
    if (!mine().has(msg.device_id)) return;
    if (msg.type === "waveform" && msg.quantity === "airway_flow") {
      if (s.step !== "prepare") loop.push(msg);
    } else if (msg.type === "derived" && msg.source === "airway_flow" && KEYS.includes(msg.key)) {
      if (s.step === "prepare") return; // a blow before the guide was ready is not ours
      // The engine numbers blows per session (detail.manoeuvre); received_s tells two apart
      // once it counts no further (8 kept).
      const id = `${msg.detail?.manoeuvre}:${msg.received_s}`;
      if (!s.blows.has(id)) {
        s.blows.set(id, {});
        s.order.push(id);
      }
      s.blows.get(id)[msg.key] = msg;
      if (msg.detail?.grade_fev1) s.grades = { fev1: msg.detail.grade_fev1, fvc: msg.detail.grade_fvc };
      renderResults();
    }
  }

  return {
    node,
    steps: ["prepare", "blow"].map((id) => ({ id, key: `step.${id}` })),
    start: () => go("prepare"),
    live,
    tick: render,
    relabel: () => {
      loop.markDirty();
      rows.dataset.key = "";
      latest.dataset.key = "";
      render();
    },
  };
}
