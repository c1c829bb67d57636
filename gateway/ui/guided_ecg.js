// Guide: 12-lead-style ECG placement for the 8-channel recorder (I, II, V1–V6). Electrode
// placement in words and a simple figure, then each lead's state from the engine's per-lead
// check (derived signal_quality per channel: lead_off_or_flat, rail_saturation, too_short),
// the heart rate from the primary leads, and done when every lead has been on with a usable
// signal for STABLE_S seconds.

import { currentLang, gatewayNowS } from "./bus.js";
import { ecgFigure } from "./guided_figure.js";
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

const LEADS = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"];
const STABLE_S = 10;
const FRESH_S = 5; // a lead not judged for this long counts as unknown

const TEXTS = {
  nb: {
    title: "EKG",
    summary: "Elektroder på bryst, armer og ben",
    "step.place": "Elektroder",
    "step.check": "Signal",
    "step.done": "Klar",
    "place.0": "Pasienten ligger på ryggen, avslappet, med armene langs siden. Huden skal være tørr.",
    "place.1": "Armelektroder: høyre og venstre underarm eller håndledd (RA, LA).",
    "place.2": "Benelektroder: høyre og venstre legg eller ankel (RL, LL).",
    "place.3": "V1: 4. mellomrom mellom ribbeina, rett til høyre for brystbeinet.",
    "place.4": "V2: 4. mellomrom mellom ribbeina, rett til venstre for brystbeinet.",
    "place.5": "V4: 5. mellomrom mellom ribbeina, i linje rett ned fra midten av venstre kragebein.",
    "place.6": "V3: midt mellom V2 og V4.",
    "place.7": "V5: fremre armhulelinje, samme høyde som V4. V6: midtre armhulelinje, samme høyde.",
    "place.ready": "Elektrodene er på",
    leads: "Avledninger",
    "lead.on": "OK",
    "lead.off": "Løs / flat",
    "lead.rail": "Overstyrt",
    "lead.questionable": "Usikker",
    "lead.waiting": "Venter",
    hr: "Hjertefrekvens",
    quality: "Signalkvalitet",
    "stable.progress": "Alle avledninger gode: {n} av {total} s",
    "stable.off": "Sjekk elektroden for: {leads}. Trykk den godt fast.",
    "stable.wait": "Venter på signal fra EKG-en …",
    "done.text": "Alle avledninger er på og signalet er godt. Klar for registrering.",
    again: "Sjekk på nytt",
    too_short: "For kort signal ennå",
    not_finite: "Ugyldige målinger",
    lead_off_or_flat: "Elektrode løs eller flat linje",
    rail_saturation: "Signalet er overstyrt",
    detector_disagreement: "Usikker QRS-gjenkjenning",
    low_kurtosis: "Uklare QRS-komplekser",
    qrs_power_out_of_range: "Mye støy i signalet",
    baseline_wander: "Urolig grunnlinje (pust eller bevegelse)",
    too_few_beats: "For få hjerteslag",
    implausible_heart_rate: "Usannsynlig hjertefrekvens",
    short_rhythm_window: "For kort til rytmevurdering",
  },
  en: {
    title: "ECG",
    summary: "Electrodes on chest, arms and legs",
    "step.place": "Electrodes",
    "step.check": "Signal",
    "step.done": "Ready",
    "place.0": "The patient lies on the back, relaxed, arms along the sides. The skin must be dry.",
    "place.1": "Arm electrodes: right and left forearm or wrist (RA, LA).",
    "place.2": "Leg electrodes: right and left calf or ankle (RL, LL).",
    "place.3": "V1: 4th intercostal space, just right of the sternum.",
    "place.4": "V2: 4th intercostal space, just left of the sternum.",
    "place.5": "V4: 5th intercostal space, left midclavicular line.",
    "place.6": "V3: halfway between V2 and V4.",
    "place.7": "V5: anterior axillary line, level with V4. V6: mid-axillary line, same level.",
    "place.ready": "The electrodes are on",
    leads: "Leads",
    "lead.on": "OK",
    "lead.off": "Off / flat",
    "lead.rail": "Saturated",
    "lead.questionable": "Questionable",
    "lead.waiting": "Waiting",
    hr: "Heart rate",
    quality: "Signal quality",
    "stable.progress": "All leads good: {n} of {total} s",
    "stable.off": "Check the electrode for: {leads}. Press it on firmly.",
    "stable.wait": "Waiting for a signal from the ECG …",
    "done.text": "All leads are on and the signal is good. Ready to record.",
    again: "Check again",
    too_short: "Signal still too short",
    not_finite: "Invalid samples",
    lead_off_or_flat: "Electrode off or flat line",
    rail_saturation: "The signal is saturated",
    detector_disagreement: "Uncertain QRS detection",
    low_kurtosis: "Indistinct QRS complexes",
    qrs_power_out_of_range: "Much noise in the signal",
    baseline_wander: "Wandering baseline (breathing or movement)",
    too_few_beats: "Too few heart beats",
    implausible_heart_rate: "Implausible heart rate",
    short_rhythm_window: "Too short to judge the rhythm",
  },
};

export const ecgGuide = {
  kind: "ecg",
  texts: TEXTS,
  fits: (device) => device.kind === "openbci-cyton",
  create,
};

function leadState(msg) {
  if (!msg || gatewayNowS() - msg.received_s > FRESH_S) return "waiting";
  if (msg.verdict === "valid") return "on";
  if (msg.verdict === "questionable") return "questionable";
  const reasons = msg.reasons ?? [];
  if (reasons.includes("lead_off_or_flat")) return "off";
  if (reasons.includes("rail_saturation")) return "rail";
  return "waiting";
}

function create(ctx) {
  const { tr, label } = textsOf(TEXTS, "ecg");
  const s = { step: "place", device: null, leads: new Map(), hr: null, quality: null, goodSince: null };

  const chips = new Map(
    LEADS.map((lead) => {
      const chip = el(
        "li",
        { class: "lead", testid: `lead-${lead}`, "data-state": "waiting" },
        el("span", { class: "lead-name", text: lead }),
        el("span", { class: "lead-state" }),
      );
      return [lead, chip];
    }),
  );
  const hr = valueTile(label, "hr", "/min", "ecg-hr");
  const qualityVerdict = el("p", { class: "verdict", testid: "ecg-quality-verdict", hidden: "" });
  const qualityFlags = el("ul", { class: "flags", testid: "ecg-quality-flags" });
  const stable = bar("ecg-stable-bar");
  const progress = el("p", { class: "guide-note", testid: "ecg-progress" });
  const doneText = label(el("p", { class: "guide-prompt guide-done", testid: "ecg-done" }), "done.text");
  const again = button(label, "again", "ecg-again", () => {
    s.goodSince = null;
    go("check");
  });
  const node = el(
    "div",
    { class: "guide-body" },
    el(
      "div",
      { class: "guide-part guide-ecg-place", "data-part": "place" },
      ecgFigure(),
      instructions(label, ["place.0", "place.1", "place.2", "place.3", "place.4", "place.5", "place.6", "place.7"]),
      button(label, "place.ready", "ecg-placed", () => go("check")),
    ),
    el(
      "div",
      { class: "guide-part guide-live", "data-part": "check" },
      label(el("span", { class: "guide-value-label" }), "leads"),
      el("ul", { class: "leads", testid: "ecg-leads" }, ...chips.values()),
      el(
        "div",
        { class: "guide-values" },
        hr,
        el(
          "div",
          { class: "guide-value" },
          label(el("span", { class: "guide-value-label" }), "quality"),
          qualityVerdict,
          qualityFlags,
        ),
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
    const part = step === "place" ? "place" : "check";
    for (const child of node.children) child.hidden = child.dataset.part !== part;
    doneText.hidden = step !== "done";
    again.hidden = step !== "done";
    render();
  }

  function render() {
    const states = new Map(LEADS.map((lead) => [lead, leadState(s.leads.get(lead))]));
    for (const [lead, chip] of chips) {
      const state = states.get(lead);
      chip.dataset.state = state;
      setText(chip.querySelector(".lead-state"), tr(`lead.${state}`));
    }
    const fresh = (m) => m && gatewayNowS() - m.received_s <= FRESH_S;
    showOnTile(hr, fresh(s.hr) ? s.hr : null);
    renderVerdict(qualityVerdict, fresh(s.quality) ? s.quality.verdict : "", currentLang());
    // why a lead is not simply good, lead by lead ("V5: Urolig grunnlinje …")
    const tags = [];
    const words = {};
    for (const [lead, m] of s.leads) {
      if (!fresh(m) || m.verdict === "valid") continue;
      for (const reason of m.reasons ?? []) {
        if (reason === "too_short") continue;
        tags.push(`${lead}:${reason}`);
        words[`${lead}:${reason}`] = `${lead}: ${tr(reason)}`;
      }
    }
    renderTags(qualityFlags, tags, { [currentLang()]: words });
    const allGood = [...states.values()].every((x) => x === "on" || x === "questionable")
      && fresh(s.quality) && s.quality.verdict !== "invalid";
    if (!allGood) s.goodSince = null;
    else if (s.goodSince === null) s.goodSince = gatewayNowS();
    const heldS = s.goodSince === null ? 0 : Math.min(STABLE_S, gatewayNowS() - s.goodSince);
    const off = LEADS.filter((lead) => ["off", "rail"].includes(states.get(lead)));
    let text;
    if (s.step === "done") text = tr("stable.progress", { n: STABLE_S, total: STABLE_S });
    else if (off.length) text = tr("stable.off", { leads: off.join(", ") });
    else if (s.leads.size === 0) text = tr("stable.wait");
    else text = tr("stable.progress", { n: Math.floor(heldS), total: STABLE_S });
    setText(progress, text);
    progress.dataset.alert = String(off.length > 0 && s.step !== "done");
    setBar(stable.fill, s.step === "done" ? 1 : heldS / STABLE_S);
    if (s.step === "check" && heldS >= STABLE_S) go("done");
  }

  function live(msg) {
    if (msg.type !== "derived" || msg.source !== "ecg") return;
    const ids = new Set(ctx.devices().filter((d) => d.connected).map((d) => d.id));
    if (!ids.has(msg.device_id)) return;
    if (s.device === null || !ids.has(s.device)) s.device = msg.device_id;
    if (s.device !== msg.device_id) return;
    if (msg.key === "signal_quality") {
      s.leads.set(msg.channel, msg);
      // the primary leads' full quality (not the per-lead check) is the recording's quality
      if (msg.detail && !msg.detail.lead_check) {
        if (msg.channel === "II" || !s.quality || s.quality.channel === msg.channel) s.quality = msg;
      }
    } else if (msg.key === "heart_rate") {
      if (msg.channel === "II" || !s.hr || s.hr.channel === msg.channel) s.hr = msg;
    }
  }

  return {
    node,
    steps: ["place", "check", "done"].map((id) => ({ id, key: `step.${id}` })),
    start: () => go("place"),
    live,
    tick: render,
    relabel: render,
  };
}
