// Small DOM helpers the guided measurements share: elements with texts in both languages,
// the step list, and a value tile (number, unit, verdict, traffic light, flags in words) that
// looks like the Overvåking tiles.

import { currentLang } from "./bus.js";
import { QUALITY_LEVEL, qualityText, tagsOf } from "./i18n.js";
import { renderLight, renderVerdict } from "./verdict.js";

/** Make an element: el("p", {class: "x", testid: "y"}, child, "text", …). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/**
 * A guide's texts: texts = {nb: {key: "…"}, en: {…}}. tr(key, vars) picks the current
 * language; label(node, key) remembers the key (under data-tx-<ns>, so the frame's texts and
 * a guide's do not mix) so relabel(root) can switch language.
 */
export function textsOf(texts, ns) {
  const attr = `data-tx-${ns}`;
  const tr = (key, vars = {}) => {
    const table = texts[currentLang()] ?? texts.nb;
    const template = table[key] ?? texts.nb[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  };
  const label = (node, key) => {
    node.setAttribute(attr, key);
    node.textContent = tr(key);
    return node;
  };
  const relabel = (root) => {
    for (const node of root.querySelectorAll(`[${attr}]`)) setText(node, tr(node.getAttribute(attr)));
  };
  return { tr, label, relabel };
}

/** An ordered list of instructions (keys into a guide's texts). */
export function instructions(label, keys, testid = null) {
  return el("ol", { class: "guide-instructions", testid }, ...keys.map((key) => label(el("li"), key)));
}

/** A big action button (≥ 48 px). */
export function button(label, key, testid, onClick, extraClass = "") {
  const node = label(el("button", { type: "button", class: `guide-button ${extraClass}`, testid }), key);
  node.addEventListener("click", onClick);
  return node;
}

/** A value tile: label, number with unit, verdict, traffic light and flags. */
export function valueTile(label, key, unit, testid) {
  const value = el("span", { class: "value", testid: `${testid}-value`, text: "--" });
  const tile = el(
    "div",
    { class: "guide-value", testid, "data-state": "waiting" },
    label(el("span", { class: "guide-value-label" }), key),
    el("p", { class: "reading" }, value, el("span", { class: "unit", text: unit })),
    el("p", { class: "verdict", testid: `${testid}-verdict`, hidden: "" }),
    el("p", { class: "light", testid: `${testid}-light`, hidden: "" }),
    el("ul", { class: "flags" }),
  );
  return tile;
}

/**
 * Show a measurement (or derived) message on a tile: value rounded to `digits`, its verdict,
 * its traffic light (never for an invalid value) and its quality flags and reasons in words.
 */
export function showOnTile(tile, msg, { digits = 0, words = {} } = {}) {
  const lang = currentLang();
  const value = tile.querySelector(".value");
  const usable = msg && typeof msg.value === "number" && msg.verdict !== "invalid";
  tile.dataset.state = msg ? (usable ? "ok" : "invalid") : "waiting";
  setText(value, usable ? msg.value.toFixed(digits) : "--");
  renderVerdict(tile.querySelector(".verdict"), msg?.verdict ?? "", lang);
  renderLight(tile.querySelector(".light"), usable ? msg.traffic_light : null, lang);
  renderTags(tile.querySelector(".flags"), tagsOf(msg?.quality ?? [], msg?.reasons ?? []), words);
}

/** Quality flags and reason codes as words (a guide's own words first, then the kiosk's). */
export function renderTags(ul, tags, words = {}) {
  const lang = currentLang();
  const shown = [...new Set(tags)].filter((tag) => tag !== "device_clock_not_set");
  const key = `${lang}:${shown.join(",")}`;
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.replaceChildren(
    ...shown.map((tag) => {
      const text = words[lang]?.[tag] ?? qualityText(lang, tag);
      const level = QUALITY_LEVEL[tag] ?? "caution";
      return el("li", { class: `flag ${level}`, "data-flag": tag, text });
    }),
  );
}

/** A horizontal bar filled to fraction (0–1); CSSOM width, allowed under the CSP. */
export function setBar(bar, fraction) {
  const clamped = Math.max(0, Math.min(1, fraction));
  bar.style.setProperty("width", `${(clamped * 100).toFixed(1)}%`);
}

/** A progress bar element with a fill, for stability countdowns and the cuff pressure. */
export function bar(testid) {
  const fill = el("span", { class: "guide-bar-fill" });
  return { node: el("div", { class: "guide-bar", testid }, fill), fill };
}
