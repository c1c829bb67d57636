// A remote clinician's request for a measurement, shown on any kiosk screen: "Spesialisten ber
// om blodtrykk" with Start (→ the guided measurement, bus.js requestGuide) and Ikke nå. The
// answer goes to the gateway (POST /api/v1/session/requests/{id}), which tells the requester.

import { ApiError, api, onLang, onLive, pick, requestGuide } from "./bus.js";

const TEXT = {
  nb: {
    asks: "{who} ber om {what}", start: "Start", later: "Ikke nå",
    what: { bp: "blodtrykk", spo2: "oksygenmetning", spiro: "spirometri", ecg: "EKG" },
    role: { specialist: "Spesialisten", gp: "Fastlegen" }, device: "med {d}",
    reason: "{who} ba om denne målingen.", failed: "Svaret kom ikke fram: {e}",
  },
  en: {
    asks: "{who} asks for {what}", start: "Start", later: "Not now",
    what: { bp: "a blood pressure", spo2: "oxygen saturation", spiro: "spirometry",
      ecg: "an ECG" },
    role: { specialist: "The specialist", gp: "The GP" }, device: "with {d}",
    reason: "{who} asked for this measurement.", failed: "The answer did not get through: {e}",
  },
};

const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const prompts = new Map(); // request_id -> {msg, el}

const css = document.createElement("link");
css.rel = "stylesheet";
css.href = "/ui/requests.css";
document.head.append(css);
const stack = document.createElement("section");
stack.className = "request-prompts";
stack.dataset.testid = "request-prompts";
stack.setAttribute("aria-live", "assertive");
document.body.append(stack);

function who(msg) {
  const txt = pick(TEXT);
  const role = txt.role[msg.from?.role] ?? msg.from?.role ?? "";
  return msg.from?.name ? `${role} (${msg.from.name})` : role;
}

function render(p) {
  const txt = pick(TEXT);
  const what = txt.what[p.msg.kind] ?? p.msg.kind;
  const device = p.msg.device_id ? ` ${fill(txt.device, { d: p.msg.device_id })}` : "";
  p.el.querySelector(".request-text").textContent =
    fill(txt.asks, { who: who(p.msg), what }) + device;
  p.el.querySelector(".request-start").textContent = txt.start;
  p.el.querySelector(".request-later").textContent = txt.later;
  p.el.querySelector(".request-error").textContent = p.error ? fill(txt.failed, { e: p.error }) : "";
}

function remove(id) {
  const p = prompts.get(id);
  if (!p) return;
  prompts.delete(id);
  p.el.remove();
}

async function answer(p, accepted) {
  try {
    await api(`/api/v1/session/requests/${encodeURIComponent(p.msg.request_id)}`, {
      method: "POST", body: { answer: accepted ? "accepted" : "declined" },
    });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) { // 409: answered already
      p.error = err.message;
      render(p);
      return;
    }
  }
  remove(p.msg.request_id);
  if (accepted) requestGuide(p.msg.kind, fill(pick(TEXT).reason, { who: who(p.msg) }));
}

function show(msg) {
  if (prompts.has(msg.request_id)) return;
  const el = document.createElement("div");
  el.className = "request-prompt";
  el.setAttribute("role", "alertdialog");
  el.dataset.testid = "request-prompt";
  el.dataset.kind = msg.kind;
  el.innerHTML = `<p class="request-text"></p><p class="request-error" role="alert"></p>
    <div class="request-actions">
      <button type="button" class="request-start" data-testid="request-start"></button>
      <button type="button" class="request-later" data-testid="request-later"></button></div>`;
  const p = { msg, el, error: null };
  el.querySelector(".request-start").addEventListener("click", () => answer(p, true));
  el.querySelector(".request-later").addEventListener("click", () => answer(p, false));
  prompts.set(msg.request_id, p);
  stack.append(el);
  render(p);
}

async function loadPending() {
  try {
    (await api("/api/v1/session/requests")).requests.forEach(show);
  } catch {
    // locked (423) or no media: the live stream brings new requests anyway
  }
}

onLive((msg) => {
  if (msg.type === "hello") loadPending(); // after a reload or a reconnect
  else if (msg.type === "request") show(msg);
  else if (msg.type === "request_update") remove(msg.request_id); // answered (here or elsewhere)
});
onLang(() => prompts.forEach(render));
