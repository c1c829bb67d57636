// Kiosk lock screen: the server locks the kiosk after [security] idle_lock_s without activity
// (patient-data routes then answer 423). This page reports activity, polls the lock state and,
// when locked, covers everything with a PIN prompt (bokmål first, English second).
// Styles are set through CSSOM: the CSP forbids inline style attributes, not element.style.

import { emitUnlocked } from "./bus.js";

const POLL_MS = 3000;
const ACTIVITY_MIN_INTERVAL_MS = 10000;

let overlay = null;
let lastReport = 0;

function el(tag, props = {}, style = {}) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  Object.assign(node.style, style);
  return node;
}

function buildOverlay() {
  const box = el("div", { id: "lock-overlay", role: "dialog" }, {
    position: "fixed", inset: "0", zIndex: "1000", background: "#10202c", color: "#fff",
    display: "flex", flexDirection: "column", alignItems: "center", justifyContent: "center",
    gap: "1rem", fontFamily: "sans-serif", fontSize: "1.5rem",
  });
  box.setAttribute("data-testid", "lock-overlay");
  box.setAttribute("aria-modal", "true");
  const title = el("h1", { textContent: "Skjermen er låst" }, { margin: "0" });
  const en = el("p", { textContent: "Screen locked – enter the PIN", lang: "en" },
    { margin: "0", fontStyle: "italic" });
  const form = el("form", {}, { display: "flex", gap: "0.5rem" });
  const input = el("input", {
    type: "password", inputMode: "numeric", autocomplete: "off", maxLength: 12,
    ariaLabel: "PIN-kode / PIN",
  }, { fontSize: "2rem", width: "10ch", textAlign: "center" });
  input.setAttribute("data-testid", "lock-pin");
  const button = el("button", { type: "submit", textContent: "Lås opp / Unlock" },
    { fontSize: "1.5rem" });
  button.setAttribute("data-testid", "lock-submit");
  const message = el("p", { role: "status" }, { minHeight: "2em", margin: "0" });
  message.setAttribute("data-testid", "lock-message");
  form.append(input, button);
  box.append(title, en, form, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/api/v1/kiosk/unlock", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ pin: input.value }),
    });
    input.value = "";
    if (response.status === 204) {
      hide();
    } else if (response.status === 429) {
      const wait = response.headers.get("Retry-After") || "60";
      message.textContent = `For mange forsøk – vent ${wait} s / Too many tries – wait ${wait} s`;
    } else {
      message.textContent = "Feil PIN-kode / Wrong PIN";
    }
  });
  return box;
}

function show() {
  if (overlay) return;
  overlay = buildOverlay();
  document.body.append(overlay);
  overlay.querySelector("input").focus();
}

function hide() {
  if (!overlay) return;
  overlay.remove();
  overlay = null;
  lastReport = Date.now();
  emitUnlocked(); // the live stream stopped while locked (docs/api.md): reconnect now
}

async function poll() {
  try {
    const response = await fetch("/api/v1/kiosk/lock", { cache: "no-store" });
    if (response.ok) {
      const state = await response.json();
      if (state.locked) show(); else hide();
    }
  } catch {
    // the gateway is restarting: the page's own status shows that
  }
}

function activity() {
  if (overlay || Date.now() - lastReport < ACTIVITY_MIN_INTERVAL_MS) return;
  lastReport = Date.now();
  fetch("/api/v1/kiosk/activity", { method: "POST" }).then((r) => {
    if (r.status === 423) show();
  }).catch(() => {});
}

for (const type of ["pointerdown", "keydown", "touchstart"]) {
  window.addEventListener(type, activity, { passive: true, capture: true });
}
poll();
setInterval(poll, POLL_MS);
