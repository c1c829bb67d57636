// The engine's verdict and the care plan's traffic light as every kiosk screen shows them
// (the Overvåking tiles and the guided measurements): words as well as colour.

import { t } from "./i18n.js";

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** The engine's judgement of a value: reliable / questionable / cannot be used. */
export function renderVerdict(el, verdict, lang) {
  const known = ["valid", "questionable", "invalid"].includes(verdict);
  el.hidden = !known;
  el.dataset.verdict = known ? verdict : "";
  setText(el, known ? t(lang, `verdict.${verdict}`) : "");
}

/** The care plan's traffic light, in words as well as colour (never for an unusable value:
 *  the gateway sends none then). */
export function renderLight(el, light, lang) {
  const known = light && ["green", "yellow", "red"].includes(light.colour);
  el.hidden = !known;
  el.dataset.light = known ? light.colour : "";
  if (!known) {
    setText(el, "");
    return;
  }
  const label = lang === "en" ? light.label_en : light.label_nb;
  const unsure = light.questionable ? ` (${t(lang, "light.questionable")})` : "";
  setText(el, `${t(lang, `light.${light.colour}`)}${unsure}: ${label}`);
}
