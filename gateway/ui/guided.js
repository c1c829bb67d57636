// The Målinger screen: the measurements this room can do (from the devices it has), each
// opening a guide the nurse reads aloud, with progress and the result. One guide at a time;
// a specialist's request (bus.requestGuide) opens one directly, its reason shown on top.
// The guides themselves: guided_bp.js, guided_spo2.js, guided_spiro.js, guided_ecg.js.

import { api, onGuideRequest, onLang, onLive } from "./bus.js";
import { bpGuide } from "./guided_bp.js";
import { ecgGuide } from "./guided_ecg.js";
import { spiroGuide } from "./guided_spiro.js";
import { spo2Guide } from "./guided_spo2.js";
import { el, setText, textsOf } from "./guided_ui.js";

const GUIDES = [bpGuide, spo2Guide, spiroGuide, ecgGuide];
const TICK_MS = 250;

const { tr, label, relabel } = textsOf({
  nb: {
    back: "← Alle målinger",
    none: "Ingen måleapparater for veiledede målinger er satt opp i dette rommet.",
    ready: "Klar",
    down: "Måleren er frakoblet",
    unknown: "Ukjent måling: {kind}",
    downHint: "Måleren er frakoblet. Sjekk at den er slått på og koblet til.",
  },
  en: {
    back: "← All measurements",
    none: "No devices for guided measurements are set up in this room.",
    ready: "Ready",
    down: "The device is disconnected",
    unknown: "Unknown measurement: {kind}",
    downHint: "The device is disconnected. Check that it is switched on and connected.",
  },
}, "frame");

const state = {
  devices: new Map(), // id -> device status, from hello/status
  open: null, // { guide, instance, reason, frame parts }
};

const $ = (id) => document.getElementById(id);

function devicesFor(guide) {
  return [...state.devices.values()].filter((d) => guide.fits(d));
}

// ---------------------------------------------------------------- the list

function renderList() {
  const list = $("guided-list");
  const available = GUIDES.filter((guide) => devicesFor(guide).length > 0);
  $("guided-none").hidden = available.length > 0 || state.devices.size === 0;
  setText($("guided-none"), tr("none"));
  const key = available.map((g) => g.kind).join(",");
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(
      ...available.map((guide) => {
        const open = el(
          "button",
          { type: "button", class: "guided-item", testid: `measure-${guide.kind}` },
          el("span", { class: "guided-item-title" }),
          el("span", { class: "guided-item-summary" }),
          el("span", { class: "guided-item-state" }),
        );
        open.dataset.kind = guide.kind;
        open.addEventListener("click", () => openGuide(guide.kind, null));
        return el("li", {}, open);
      }),
    );
  }
  for (const button of list.querySelectorAll("button[data-kind]")) {
    const guide = GUIDES.find((g) => g.kind === button.dataset.kind);
    const texts = textsOf(guide.texts, guide.kind);
    const connected = devicesFor(guide).some((d) => d.connected);
    button.dataset.connected = String(connected);
    setText(button.querySelector(".guided-item-title"), texts.tr("title"));
    setText(button.querySelector(".guided-item-summary"), texts.tr("summary"));
    setText(button.querySelector(".guided-item-state"), tr(connected ? "ready" : "down"));
  }
}

// ---------------------------------------------------------------- one guide

function openGuide(kind, reason) {
  closeGuide();
  const guide = GUIDES.find((g) => g.kind === kind);
  const section = $("guide");
  if (!guide) {
    section.replaceChildren(el("p", { class: "guide-error", text: tr("unknown", { kind }) }));
    section.hidden = false;
    return;
  }
  const texts = textsOf(guide.texts, guide.kind);
  const steps = el("ol", { class: "guide-steps", testid: "guide-steps" });
  const ctx = {
    devices: () => devicesFor(guide),
    setStep: (id) => {
      section.dataset.step = id;
      for (const li of steps.children) {
        li.setAttribute("aria-current", li.dataset.step === id ? "step" : "false");
      }
    },
  };
  const instance = guide.create(ctx);
  steps.replaceChildren(
    ...instance.steps.map((step) => {
      const li = texts.label(el("li"), step.key);
      li.dataset.step = step.id;
      return li;
    }),
  );
  const back = label(
    el("button", { type: "button", class: "guide-back", testid: "guide-back" }),
    "back",
  );
  back.addEventListener("click", closeGuide);
  const downNode = el("p", { class: "guide-down", testid: "guide-device-down", role: "alert" });
  downNode.hidden = true;
  const reasonNode = el("p", { class: "guide-reason", testid: "guide-reason", role: "status" });
  reasonNode.hidden = !reason;
  reasonNode.textContent = reason ?? "";
  section.replaceChildren(
    el(
      "div",
      { class: "guide-head" },
      back,
      texts.label(el("h2", { class: "guide-title", testid: "guide-title" }), "title"),
    ),
    reasonNode,
    downNode,
    steps,
    instance.node,
  );
  section.dataset.kind = kind;
  section.hidden = false;
  $("guided-list").hidden = true;
  $("guided-none").hidden = true;
  state.open = { guide, instance, texts, downNode };
  ctx.setStep(instance.steps[0].id);
  instance.start?.();
  renderDown();
}

// A guide whose devices are all disconnected says so on top: nothing will happen until the
// device is back (switched on, in range, plugged in).
function renderDown() {
  const open = state.open;
  if (!open) return;
  const down = !devicesFor(open.guide).some((d) => d.connected);
  open.downNode.hidden = !down;
  setText(open.downNode, down ? tr("downHint") : "");
}

function closeGuide() {
  const open = state.open;
  state.open = null;
  open?.instance.close?.();
  const section = $("guide");
  section.replaceChildren();
  section.hidden = true;
  section.dataset.kind = "";
  $("guided-list").hidden = false;
  renderList();
}

// ---------------------------------------------------------------- live, language, clock

function handle(msg) {
  switch (msg.type) {
    case "hello":
      state.devices = new Map((msg.devices ?? []).map((d) => [d.id, { ...d }]));
      renderList();
      renderDown();
      break;
    case "status":
      if (msg.device && typeof msg.device.id === "string") {
        state.devices.set(msg.device.id, { ...state.devices.get(msg.device.id), ...msg.device });
        renderList();
        renderDown();
      }
      break;
    case "device_removed":
      state.devices.delete(msg.device_id);
      renderList();
      break;
    default:
      break;
  }
  state.open?.instance.live(msg);
}

// The hello may come before this module subscribes (kiosk.js opens the WebSocket first):
// ask for the devices once, then follow hello/status.
async function loadDevices() {
  try {
    const devices = await api("/api/v1/devices");
    for (const d of devices) {
      if (!state.devices.has(d.id)) state.devices.set(d.id, d);
    }
    renderList();
  } catch {
    // locked (423) or unreachable: the next hello brings the devices
  }
}

onLive(handle);
loadDevices();
onGuideRequest(({ kind, reason }) => openGuide(kind, reason ?? null));
onLang(() => {
  renderList();
  const section = $("guide");
  relabel(section);
  if (state.open) {
    state.open.texts.relabel(section);
    state.open.instance.relabel?.();
    renderDown();
  }
});
window.setInterval(() => state.open?.instance.tick?.(), TICK_MS);
