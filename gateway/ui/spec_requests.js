// Ask the nurse for a measurement (a `measure` control request, forwarded to the kiosk) and
// watch it happen: the nurse's answer (`request_update`), the cuff pressure rising while the
// cuff inflates (`cuff_pressure` measurements), a blow in progress (`airway_flow`), the result.

import { currentLang, onLang, onLive, pick } from "./bus.js";

const TEXT = {
  nb: {
    ask: "Be sykepleieren om en måling", bp: "Blodtrykk", spo2: "Oksygenmetning",
    spiro: "Spirometri", ecg: "EKG",
    sent: "{what}: sendt til sykepleieren {time}", accepted: "{what}: sykepleieren starter nå",
    declined: "{what}: sykepleieren kan ikke nå", refused: "{what}: ikke sendt ({e})",
    offline: "Ikke tilkoblet ennå", watch: "Måling pågår",
    idle: "Ingen måling pågår.", cuff: "Mansjettrykk {p} mmHg", blowing: "Blåsing pågår …",
    bpResult: "Blodtrykk {s}/{d} mmHg", invalid: "ugyldig", light: { green: "grønt",
      yellow: "gult", red: "rødt" }, verdict: { valid: "pålitelig", questionable: "usikker",
      invalid: "kan ikke brukes", null: "ikke vurdert" },
  },
  en: {
    ask: "Ask the nurse for a measurement", bp: "Blood pressure", spo2: "Oxygen saturation",
    spiro: "Spirometry", ecg: "ECG",
    sent: "{what}: sent to the nurse {time}", accepted: "{what}: the nurse is starting it",
    declined: "{what}: the nurse cannot now", refused: "{what}: not sent ({e})",
    offline: "Not connected yet", watch: "Measurement in progress",
    idle: "No measurement in progress.", cuff: "Cuff pressure {p} mmHg",
    blowing: "Blow in progress …", bpResult: "Blood pressure {s}/{d} mmHg", invalid: "invalid",
    light: { green: "green", yellow: "yellow", red: "red" },
    verdict: { valid: "reliable", questionable: "questionable", invalid: "cannot be used",
      null: "not judged" },
  },
};
const KINDS = ["bp", "spo2", "spiro", "ecg"];
const CUFF_IDLE_S = 4; // no cuff pressure for this long: the inflation is over
const CUFF_MAX_MMHG = 300;

const t = (key, vars = {}) =>
  (pick(TEXT)[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const clock = (s) => new Date(s * 1000).toLocaleTimeString(
  currentLang() === "nb" ? "nb-NO" : "en-GB", { hour: "2-digit", minute: "2-digit" });

/** Build the request panel in `root`; `control()` is the current Control (or null). */
export function mountRequests(root, { control, loop }) {
  root.innerHTML = `
    <p class="ask-title" data-r="ask"></p>
    <div class="ask-buttons">${KINDS.map((k) => `<button type="button" class="ask" data-kind="${k}"
      data-testid="request-${k}" data-r="${k}"></button>`).join("")}</div>
    <ul class="request-list" data-testid="requests" aria-live="polite"></ul>
    <div class="watch" data-testid="watch">
      <p class="watch-title" data-r="watch"></p>
      <div class="cuff-bar" aria-hidden="true"><div class="cuff-fill"></div></div>
      <p class="watch-state" data-testid="watch-state"></p>
      <p class="bp-result" data-testid="bp-result" hidden></p>
    </div>`;
  const list = root.querySelector(".request-list");
  const fill = root.querySelector(".cuff-fill");
  const watchState = root.querySelector(".watch-state");
  const bpResult = root.querySelector(".bp-result");
  const requests = new Map(); // request_id -> {kind, state, time, error, li}
  const all = []; // every request shown, also those refused before forwarding
  const watch = { cuffMmHg: null, cuffS: 0, cuffMax: 0, systolic: null, diastolic: null,
                  bpMsg: null };
  const seen = window.helseromRequests = { acks: [], updates: [], cuffPeak: 0, bp: null };

  function renderRequest(r) {
    const what = t(r.kind);
    r.li.dataset.state = r.state;
    r.li.textContent = r.state === "refused" ? t("refused", { what, e: r.error })
      : t(r.state, { what, time: clock(r.time) });
  }

  async function ask(kind) {
    const ctl = control();
    const r = { kind, state: "sent", time: Date.now() / 1000, error: null,
                li: document.createElement("li") };
    list.prepend(r.li);
    all.push(r);
    renderRequest(r);
    if (!ctl) {
      Object.assign(r, { state: "refused", error: t("offline") });
    } else {
      const ack = await ctl.request("measure", { kind });
      seen.acks.push(ack);
      if (ack.ok) requests.set(ack.request_id, r);
      else Object.assign(r, { state: "refused", error: ack.error });
    }
    renderRequest(r);
  }
  root.querySelectorAll("button.ask").forEach((b) => {
    b.addEventListener("click", () => ask(b.dataset.kind));
  });

  function renderWatch() {
    const nowS = Date.now() / 1000;
    const inflating = watch.cuffMmHg !== null && nowS - watch.cuffS < CUFF_IDLE_S;
    root.querySelector(".watch").dataset.active = String(inflating || loop.blowing);
    fill.style.width = inflating ? `${Math.min(100, (100 * watch.cuffMmHg) / CUFF_MAX_MMHG)}%` : "0";
    if (inflating) watchState.textContent = t("cuff", { p: Math.round(watch.cuffMmHg) });
    else if (loop.blowing) watchState.textContent = t("blowing");
    else watchState.textContent = t("idle");
    if (watch.bpMsg) {
      const m = watch.bpMsg, txt = pick(TEXT);
      const usable = m.value !== null && m.verdict !== "invalid";
      const sys = watch.systolic, dia = watch.diastolic;
      const parts = [t("bpResult", { s: sys === null ? "–" : Math.round(sys),
                                     d: dia === null ? "–" : Math.round(dia) }),
                     txt.verdict[String(m.verdict)] ?? ""];
      const light = usable && m.traffic_light ? m.traffic_light.colour : null; // never for invalid
      if (light) parts.push(txt.light[light]);
      bpResult.textContent = parts.filter(Boolean).join(" · ");
      bpResult.dataset.light = light ?? "";
      bpResult.hidden = false;
    }
  }

  onLive((msg) => {
    if (msg.type === "request_update") {
      seen.updates.push(msg);
      const r = requests.get(msg.request_id);
      if (r) { r.state = msg.state; renderRequest(r); }
    } else if (msg.type === "measurement" && msg.quantity === "cuff_pressure") {
      if (msg.value === null) return;
      if (Date.now() / 1000 - watch.cuffS > CUFF_IDLE_S) watch.cuffMax = 0; // a new inflation
      watch.cuffMmHg = msg.value;
      watch.cuffS = Date.now() / 1000;
      watch.cuffMax = Math.max(watch.cuffMax, msg.value);
      seen.cuffPeak = Math.max(seen.cuffPeak, msg.value);
      renderWatch();
    } else if (msg.type === "measurement" && msg.quantity === "bp_systolic") {
      watch.systolic = msg.value;
      watch.bpMsg = msg;
      watch.cuffMmHg = null;
      renderWatch();
    } else if (msg.type === "measurement" && msg.quantity === "bp_diastolic") {
      watch.diastolic = msg.value;
      seen.bp = { systolic: watch.systolic, diastolic: msg.value };
      renderWatch();
    }
  });
  loop.onChange(renderWatch);
  onLang(() => {
    root.querySelectorAll("[data-r]").forEach((el) => { el.textContent = t(el.dataset.r); });
    all.forEach(renderRequest);
    renderWatch();
  });
  setInterval(renderWatch, 1000);
}
