// NEWS2 on the Overvåking screen: a compact panel (score, risk in colour and words, what is
// missing) and a dialog where the nurse enters respiration rate, ACVPU, air or oxygen and,
// when no thermometer gave one, the temperature. API: docs/api.md "NEWS2".

import { ApiError, api, onLang, onLive, onScreen, pick } from "./bus.js";

// Every read of NEWS2 is audited (patient data): refresh when a value arrives rather than on
// a fast timer. Spot values refresh at once; streamed SpO2/pulse at most every 30 s; the poll
// catches values growing too old.
const POLL_MS = 30_000;
const STREAMED_REFRESH_MS = 30_000;
const STREAMED_QUANTITIES = new Set(["spo2", "pulse_rate"]);
const RR_START = 16;
const TEMP_START_C = 37.0;
const RR_LIMITS = [2, 80]; // as the API checks them (care-plan plausibility limits)
const TEMP_LIMITS = [30, 45];
// spot values that change the score at once (SpO2 and pulse stream: the poll follows them)
const SPOT_QUANTITIES = new Set([
  "bp_systolic", "body_temperature", "respiration_rate", "consciousness_acvpu",
  "supplemental_oxygen",
]);

const TEXT = {
  nb: {
    title: "NEWS2",
    enter: "Registrer observasjoner",
    enterShort: "Registrer",
    risk: { low: "Lav risiko", low_medium: "Lav–middels risiko", medium: "Middels risiko",
      high: "Høy risiko" },
    refused: "Ingen NEWS2 ennå",
    missingLead: "Mangler",
    questionable: "usikker verdi inngår",
    noSession: "Start en konsultasjon for å regne ut NEWS2.",
    offline: "Får ikke kontakt med gatewayen.",
    param: { respiration_rate: "respirasjonsfrekvens", spo2: "SpO₂", air_or_oxygen: "luft/oksygen",
      systolic_bp: "systolisk blodtrykk", pulse: "puls", consciousness: "bevissthet (ACVPU)",
      temperature: "temperatur" },
    status: { missing: "ikke målt", invalid: "kan ikke brukes", too_old: "for gammel" },
    dialog: "Observasjoner til NEWS2",
    rr: "Respirasjonsfrekvens (/min)",
    acvpu: "Bevissthet (ACVPU)",
    acvpuWords: { A: "Våken", C: "Ny forvirring", V: "Reagerer på tiltale", P: "Reagerer på smerte",
      U: "Reagerer ikke" },
    o2: "Luft eller oksygen?",
    air: "Luft",
    oxygen: "Tilført oksygen",
    temp: "Temperatur (°C)",
    tempAdd: "Legg til temperatur",
    tempRemove: "Uten temperatur",
    tempNote: "Bare når termometeret ikke har gitt en verdi.",
    less: "Mindre",
    more: "Mer",
    save: "Lagre",
    cancel: "Avbryt",
    needAll: "Velg bevissthet (ACVPU) og luft eller oksygen.",
    err409: "Ingen åpen konsultasjon. Start en konsultasjon først.",
    err422: "Verdien ble ikke godtatt: {detail}",
    errNet: "Får ikke kontakt med gatewayen. Prøv igjen.",
    errOther: "Noe gikk galt ({status}): {detail}",
    saved: "Lagret",
  },
  en: {
    title: "NEWS2",
    enter: "Enter observations",
    enterShort: "Enter",
    risk: { low: "Low risk", low_medium: "Low–medium risk", medium: "Medium risk",
      high: "High risk" },
    refused: "No NEWS2 yet",
    missingLead: "Missing",
    questionable: "includes a questionable value",
    noSession: "Start a consultation to compute NEWS2.",
    offline: "Cannot reach the gateway.",
    param: { respiration_rate: "respiration rate", spo2: "SpO₂", air_or_oxygen: "air/oxygen",
      systolic_bp: "systolic blood pressure", pulse: "pulse", consciousness: "consciousness (ACVPU)",
      temperature: "temperature" },
    status: { missing: "not measured", invalid: "cannot be used", too_old: "too old" },
    dialog: "Observations for NEWS2",
    rr: "Respiration rate (/min)",
    acvpu: "Consciousness (ACVPU)",
    acvpuWords: { A: "Alert", C: "New confusion", V: "Responds to voice", P: "Responds to pain",
      U: "Unresponsive" },
    o2: "Air or oxygen?",
    air: "Air",
    oxygen: "Supplemental oxygen",
    temp: "Temperature (°C)",
    tempAdd: "Add temperature",
    tempRemove: "No temperature",
    tempNote: "Only when the thermometer has not given one.",
    less: "Less",
    more: "More",
    save: "Save",
    cancel: "Cancel",
    needAll: "Choose consciousness (ACVPU) and air or oxygen.",
    err409: "No open consultation. Start a consultation first.",
    err422: "The value was not accepted: {detail}",
    errNet: "Cannot reach the gateway. Try again.",
    errOther: "Something went wrong ({status}): {detail}",
    saved: "Saved",
  },
};

const state = {
  answer: null, // last GET /api/v1/news2
  problem: null, // "noSession" | "offline" | null
  form: { rr: RR_START, acvpu: null, o2: null, temp: null },
  error: "",
  busy: false,
};
let panel = null;
let dialog = null;
let pollTimer = null;
let refreshSoon = null;
let refreshedMs = 0;

const tx = () => pick(TEXT);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

function btn(text, testid, onClick, cls = "btn") {
  const b = el("button", { type: "button", class: cls, "data-testid": testid, text });
  b.addEventListener("click", onClick);
  return b;
}

// ---------------------------------------------------------------- score

async function refresh() {
  refreshedMs = performance.now();
  try {
    state.answer = await api("/api/v1/news2", { background: true }); // polls: not activity
    state.problem = state.answer.session_id === null ? "noSession" : null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 423) return; // locked: lock.js covers all
    state.answer = null;
    state.problem = "offline";
  }
  renderPanel();
}

function schedule() {
  window.clearInterval(pollTimer);
  pollTimer = window.setInterval(refresh, POLL_MS);
  refresh();
}

function renderPanel() {
  const T = tx();
  const a = state.answer;
  const total = panel.querySelector("[data-testid=news2-total]");
  const risk = panel.querySelector("[data-testid=news2-risk]");
  const missing = panel.querySelector("[data-testid=news2-missing]");
  panel.dataset.risk = a?.risk ?? "none";
  total.textContent = a && a.total !== null ? String(a.total) : "–";
  if (state.problem) {
    risk.textContent = T.refused;
    missing.textContent = T[state.problem];
    return;
  }
  if (!a) return;
  if (a.total !== null) {
    const unsure = a.verdict === "questionable" ? ` (${T.questionable})` : "";
    risk.textContent = T.risk[a.risk] + unsure;
  } else {
    risk.textContent = T.refused;
  }
  const lacking = a.parameters.filter((p) => !["ok", "questionable"].includes(p.status));
  missing.textContent = lacking.length
    ? `${T.missingLead}: ${lacking.map((p) => `${T.param[p.parameter]} (${T.status[p.status]})`)
      .join(", ")}`
    : "";
}

function buildPanel() {
  const T = tx();
  panel = el(
    "section",
    { class: "panel news2", "data-testid": "news2-panel", "aria-labelledby": "news2-title",
      "data-risk": "none" },
    el("div", { class: "news2-line" },
      el("h2", { class: "panel-title", id: "news2-title", text: T.title }),
      el("span", { class: "news2-total", "data-testid": "news2-total", text: "–" }),
      el("div", { class: "news2-words" },
        el("p", { class: "news2-risk", "data-testid": "news2-risk", text: "" }),
        el("p", { class: "news2-missing", "data-testid": "news2-missing", text: "" })),
      enterButton()),
  );
  return panel;
}

// the long label where there is room, the short one on small screens (devices.css)
function enterButton() {
  const T = tx();
  const b = btn("", "news2-open", openDialog, "btn primary");
  b.append(el("span", { class: "long", text: T.enter }), el("span", { class: "short",
    text: T.enterShort }));
  b.setAttribute("aria-label", T.enter);
  return b;
}

// ---------------------------------------------------------------- entry dialog

function openDialog() {
  state.form = { rr: state.form.rr ?? RR_START, acvpu: null, o2: null, temp: null };
  state.error = "";
  renderDialog();
  dialog.showModal();
}

function clamp(value, [low, high]) {
  return Math.min(high, Math.max(low, value));
}

function stepper(label, testid, value, text, onStep, step) {
  return el("div", { class: "field" },
    el("span", { class: "field-label", text: label }),
    el("div", { class: "stepper" },
      btn("−", `${testid}-minus`, () => onStep(-step), "btn step"),
      el("output", { class: "step-value", "data-testid": `${testid}-value`, text }),
      btn("+", `${testid}-plus`, () => onStep(step), "btn step")));
}

function choice(testid, text, pressed, onClick) {
  const b = btn(text, testid, onClick, "btn choice");
  b.setAttribute("aria-pressed", String(pressed));
  return b;
}

function renderDialog() {
  const T = tx();
  const f = state.form;
  const rr = stepper(T.rr, "news2-rr", f.rr, String(f.rr), (d) => {
    f.rr = clamp(f.rr + d, RR_LIMITS);
    renderDialog();
  }, 1);
  const acvpu = el("div", { class: "field" },
    el("span", { class: "field-label", text: T.acvpu }),
    el("div", { class: "choices acvpu" }, ...["A", "C", "V", "P", "U"].map((letter) =>
      choice(`news2-acvpu-${letter}`, `${letter} – ${T.acvpuWords[letter]}`, f.acvpu === letter,
        () => { f.acvpu = letter; renderDialog(); }))));
  const o2 = el("div", { class: "field" },
    el("span", { class: "field-label", text: T.o2 }),
    el("div", { class: "choices" },
      choice("news2-o2-air", T.air, f.o2 === false, () => { f.o2 = false; renderDialog(); }),
      choice("news2-o2-oxygen", T.oxygen, f.o2 === true, () => { f.o2 = true; renderDialog(); })));
  const temp = f.temp === null
    ? el("div", { class: "field" },
      el("span", { class: "field-label", text: T.temp }),
      btn(T.tempAdd, "news2-temp-add", () => { f.temp = TEMP_START_C; renderDialog(); }),
      el("span", { class: "field-note", text: T.tempNote }))
    : el("div", { class: "field-row" },
      stepper(T.temp, "news2-temp", f.temp, f.temp.toFixed(1), (d) => {
        f.temp = Math.round(clamp(f.temp + d, TEMP_LIMITS) * 10) / 10;
        renderDialog();
      }, 0.1),
      btn(T.tempRemove, "news2-temp-remove", () => { f.temp = null; renderDialog(); }));
  const error = el("p", { class: "message error", role: "alert", "data-testid": "news2-error",
    text: state.error });
  error.hidden = !state.error;
  const save = btn(T.save, "news2-save", save_, "btn primary");
  save.disabled = state.busy;
  dialog.replaceChildren(
    el("h2", { class: "dialog-title", id: "news2-dialog-title", text: T.dialog }),
    el("div", { class: "dialog-body" }, rr, acvpu, o2, temp),
    error,
    el("div", { class: "row end" }, btn(T.cancel, "news2-cancel", () => dialog.close()), save),
  );
}

async function save_() {
  const T = tx();
  const f = state.form;
  if (f.acvpu === null || f.o2 === null) {
    state.error = T.needAll;
    renderDialog();
    return;
  }
  const body = { respiration_rate_per_min: f.rr, consciousness: f.acvpu, supplemental_oxygen: f.o2 };
  if (f.temp !== null) body.temperature_c = f.temp;
  state.busy = true;
  renderDialog();
  try {
    await api("/api/v1/observations", { method: "POST", body });
    state.busy = false;
    dialog.close();
    await refresh();
  } catch (err) {
    state.busy = false;
    state.error = errorText(err);
    renderDialog();
  }
}

function errorText(err) {
  const T = tx();
  if (!(err instanceof ApiError)) return T.errNet;
  let detail = err.detail;
  if (Array.isArray(detail)) {
    detail = detail.map((d) => `${(d.loc ?? []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  const fill = (s) => s.replace("{detail}", String(detail)).replace("{status}", err.status);
  if (err.status === 409) return T.err409;
  if (err.status === 422) return fill(T.err422);
  return fill(T.errOther);
}

// ---------------------------------------------------------------- start

function start() {
  const main = document.querySelector('main[data-screen="vitals"]');
  main.append(buildPanel());
  dialog = el("dialog", { class: "news2-dialog", "data-testid": "news2-dialog",
    "aria-labelledby": "news2-dialog-title" });
  document.body.append(dialog);
  onLang(() => {
    if (!panel) return;
    panel.querySelector("#news2-title").textContent = tx().title;
    panel.querySelector("[data-testid=news2-open]").replaceWith(enterButton());
    renderPanel();
    if (dialog.open) renderDialog();
  });
  onLive((msg) => {
    if (msg.type === "hello") refresh();
    // a new value of a NEWS2 parameter: refresh soon (once for a burst of them)
    if (msg.type !== "measurement" || panel.closest("main").hidden) return;
    if (SPOT_QUANTITIES.has(msg.quantity) && !refreshSoon) {
      refreshSoon = window.setTimeout(() => { refreshSoon = null; refresh(); }, 1000);
    } else if (STREAMED_QUANTITIES.has(msg.quantity)
      && performance.now() - refreshedMs > STREAMED_REFRESH_MS) {
      refresh();
    }
  });
  onScreen((name) => {
    if (name === "vitals") schedule();
    else window.clearInterval(pollTimer);
  });
}

start();
