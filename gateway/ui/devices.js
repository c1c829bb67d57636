// The kiosk's "Utstyr" screen: one tile per device (link, battery, last seen on the gateway's
// clock, frames, firmware, last error with a hint) and the pairing manager (scan for Bluetooth
// devices, bind one with a label, forget one the nurse bound). API: docs/api.md "Devices" and
// "Pairing manager"; live status/device_removed messages keep the tiles current.

import { ApiError, api, currentLang, gatewayNowS, onLang, onLive, onScreen, pick } from "./bus.js";
import { formatAge, formatCount, t } from "./i18n.js";

const SCAN_SECONDS = 4;
const TICK_MS = 1000;

const TEXT = {
  nb: {
    devices: "Tilkoblet utstyr",
    none: "Ikke noe måleutstyr er satt opp ennå.",
    connected: "Tilkoblet",
    disconnected: "Frakoblet",
    battery: "Batteri",
    lastSeen: "Sist sett",
    never: "aldri",
    framesOk: "Rammer OK",
    framesDropped: "Rammer tapt",
    firmware: "Fastvare",
    error: "Siste feil",
    hintDown: "Sjekk at måleren er slått på, har strøm og er nær nettbrettet.",
    hintSilent: "Måleren er koblet til, men sender ikke. Sett sensoren på eller start en måling.",
    forget: "Glem",
    forgetAsk: "Glemme «{name}»? Målingene den har gjort, blir lagret.",
    forgetYes: "Ja, glem",
    cancel: "Avbryt",
    forgotten: "«{name}» er glemt.",
    itManaged: "«{name}» er satt opp av IT og kan ikke glemmes her. Kontakt IT for å fjerne den.",
    pairing: "Koble til nytt Bluetooth-utstyr",
    scan: "Søk etter Bluetooth-utstyr",
    scanning: "Søker … hold utstyret nær og slått på",
    found: "Fant {n}",
    foundNone: "Fant ikke noe utstyr. Slå på utstyret (trykk på knappen) og søk igjen.",
    unnamed: "Uten navn",
    unsupported: "Ikke støttet",
    boundAs: "Allerede koblet til som «{id}»",
    signal: "Signal",
    signalStrong: "sterkt",
    signalFair: "middels",
    signalWeak: "svakt",
    signalUnknown: "ukjent",
    connect: "Koble til",
    label: "Navn i rommet",
    confirmConnect: "Koble til nå",
    bound: "«{name}» er lagt til og kobler til.",
    err503: "Bluetooth er ikke tilgjengelig. Sjekk at Bluetooth er slått på, eller kontakt IT.",
    err409: "Kan ikke koble til: {detail}.",
    err422: "Dette utstyret kan ikke brukes: {detail}.",
    err404: "Utstyret finnes ikke lenger.",
    errNet: "Får ikke kontakt med gatewayen. Prøv igjen om litt.",
    errOther: "Noe gikk galt ({status}): {detail}",
  },
  en: {
    devices: "Connected equipment",
    none: "No measuring equipment is set up yet.",
    connected: "Connected",
    disconnected: "Disconnected",
    battery: "Battery",
    lastSeen: "Last seen",
    never: "never",
    framesOk: "Frames OK",
    framesDropped: "Frames lost",
    firmware: "Firmware",
    error: "Last error",
    hintDown: "Check that the device is switched on, charged and close to the tablet.",
    hintSilent: "The device is linked but sends nothing. Put the sensor on or start a measurement.",
    forget: "Forget",
    forgetAsk: "Forget “{name}”? Its measurements stay stored.",
    forgetYes: "Yes, forget",
    cancel: "Cancel",
    forgotten: "“{name}” is forgotten.",
    itManaged: "“{name}” is set up by IT and cannot be forgotten here. Ask IT to remove it.",
    pairing: "Connect new Bluetooth equipment",
    scan: "Search for Bluetooth equipment",
    scanning: "Searching … keep the device close and switched on",
    found: "Found {n}",
    foundNone: "No devices found. Switch the device on (press its button) and search again.",
    unnamed: "No name",
    unsupported: "Not supported",
    boundAs: "Already connected as “{id}”",
    signal: "Signal",
    signalStrong: "strong",
    signalFair: "fair",
    signalWeak: "weak",
    signalUnknown: "unknown",
    connect: "Connect",
    label: "Name in the room",
    confirmConnect: "Connect now",
    bound: "“{name}” is added and connecting.",
    err503: "Bluetooth is not available. Check that Bluetooth is on, or contact IT.",
    err409: "Cannot connect: {detail}.",
    err422: "This device cannot be used: {detail}.",
    err404: "The device no longer exists.",
    errNet: "Cannot reach the gateway. Try again shortly.",
    errOther: "Something went wrong ({status}): {detail}",
  },
};
// scan profile -> words
const PROFILE = {
  nb: { plx: "Pulsoksymeter", bp: "Blodtrykksmåler", thermometer: "Termometer",
    weight: "Vekt", hr: "Pulsbelte" },
  en: { plx: "Pulse oximeter", bp: "Blood pressure monitor", thermometer: "Thermometer",
    weight: "Scale", hr: "Heart rate strap" },
};

const $ = (id) => document.getElementById(id);
const state = {
  devices: new Map(), // id -> status (with label)
  confirming: null, // id of the tile asking "forget?"
  scan: { phase: "idle", found: [], startedMs: 0 }, // idle | scanning | done
  binding: null, // address of the found device whose label form is open
  message: null, // {kind: "ok" | "error", text}
};

function tx(key, vars = {}) {
  return pick(TEXT)[key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

function lang() {
  return currentLang() === "en" ? "en" : "nb";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data")) node.setAttribute(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

function button(text, testid, onClick, cls = "btn") {
  const b = el("button", { type: "button", class: cls, dataTestid: testid, text });
  b.addEventListener("click", onClick);
  return b;
}

export function kindWords(kind) {
  const key = `kind.${kind}`;
  const words = t(lang(), key);
  return words === key ? kind : words;
}

function deviceName(d) {
  return d.label || kindWords(d.kind) || d.id;
}

function signalWords(rssi) {
  if (typeof rssi !== "number") return tx("signalUnknown");
  if (rssi >= -60) return tx("signalStrong");
  if (rssi >= -75) return tx("signalFair");
  return tx("signalWeak");
}

// An API failure in plain words (the gateway's detail kept for IT, in the nurse's sentence).
function errorText(err) {
  if (!(err instanceof ApiError)) return tx("errNet");
  const detail = typeof err.detail === "string" ? err.detail : JSON.stringify(err.detail);
  if (err.status === 503) return tx("err503");
  if (err.status === 409) return tx("err409", { detail });
  if (err.status === 422) return tx("err422", { detail });
  if (err.status === 404) return tx("err404");
  return tx("errOther", { status: err.status, detail });
}

// ---------------------------------------------------------------- data

async function refresh() {
  try {
    const list = await api("/api/v1/devices");
    state.devices = new Map(list.map((d) => [d.id, d]));
  } catch {
    return; // the live link shows the gateway is down
  }
  render();
}

function onMessage(msg) {
  if (msg.type === "hello") {
    state.devices = new Map((msg.devices ?? []).map((d) => [d.id, d]));
  } else if (msg.type === "status" && msg.device?.id) {
    const known = state.devices.get(msg.device.id);
    state.devices.set(msg.device.id, { ...known, ...msg.device });
  } else if (msg.type === "device_removed") {
    state.devices.delete(msg.device_id);
  } else if ((msg.type === "measurement" || msg.type === "waveform") && msg.device_id) {
    const d = state.devices.get(msg.device_id);
    if (d && typeof msg.received_s === "number") {
      d.last_seen_s = Math.max(d.last_seen_s ?? 0, msg.received_s);
    }
    return; // the tick renders ages; no full render per sample
  } else {
    return;
  }
  render();
}

// ---------------------------------------------------------------- tiles

function fact(name, label, value) {
  return el("div", { dataFact: name }, el("dt", { text: label }), el("dd", { text: value }));
}

function tile(d) {
  const name = deviceName(d);
  const seen = d.last_seen_s ? formatAge(lang(), gatewayNowS() - d.last_seen_s) : tx("never");
  const facts = el(
    "dl",
    { class: "tile-facts" },
    fact("lastSeen", tx("lastSeen"), seen),
    fact("framesOk", tx("framesOk"), formatCount(lang(), d.frames_ok ?? 0)),
    fact("framesDropped", tx("framesDropped"), formatCount(lang(), d.frames_dropped ?? 0)),
  );
  if (typeof d.battery_pct === "number") {
    facts.append(fact("battery", tx("battery"), `${Math.round(d.battery_pct)} %`));
  }
  const info = d.info ?? {};
  if (info.firmware_revision) facts.append(fact("firmware", tx("firmware"), info.firmware_revision));
  const li = el(
    "li",
    { class: "tile", dataTestid: `tile-${d.id}`, dataDevice: d.id,
      dataConnected: String(Boolean(d.connected)) },
    el(
      "div",
      { class: "tile-head" },
      el("span", { class: "tile-name", text: name }),
      el("span", { class: "chip", text: tx(d.connected ? "connected" : "disconnected") }),
    ),
    el("p", { class: "tile-kind",
      text: [kindWords(d.kind), info.manufacturer, info.model_number, d.id]
        .filter(Boolean).join(" · ") }),
    facts,
  );
  if (!d.connected) {
    // the pipeline says "link open, no data …" when the link is up but the device is silent
    const silent = /no data/.test(d.last_error ?? "");
    li.append(el("p", { class: "tile-hint", text: tx(silent ? "hintSilent" : "hintDown") }));
    if (d.last_error) {
      li.append(el("p", { class: "tile-error", text: `${tx("error")}: ${d.last_error}` }));
    }
  }
  if (state.confirming === d.id) {
    li.append(el(
      "div",
      { class: "confirm", role: "group", dataTestid: `confirm-${d.id}` },
      el("p", { text: tx("forgetAsk", { name }) }),
      el("div", { class: "row" },
        button(tx("forgetYes"), `forget-yes-${d.id}`, () => forget(d), "btn danger"),
        button(tx("cancel"), `forget-no-${d.id}`, () => { state.confirming = null; render(); })),
    ));
  } else {
    li.append(el("div", { class: "row end" },
      button(tx("forget"), `forget-${d.id}`, () => {
        state.confirming = d.id;
        render();
      })));
  }
  return li;
}

async function forget(d) {
  const name = deviceName(d);
  state.confirming = null;
  try {
    await api(`/api/v1/devices/${encodeURIComponent(d.id)}`, { method: "DELETE" });
    state.devices.delete(d.id);
    state.message = { kind: "ok", text: tx("forgotten", { name }) };
  } catch (err) {
    const text = err instanceof ApiError && err.status === 409
      ? tx("itManaged", { name }) : errorText(err);
    state.message = { kind: "error", text };
  }
  render();
  refreshScanMarks();
}

// ---------------------------------------------------------------- pairing

async function scan() {
  state.scan = { phase: "scanning", found: [], startedMs: performance.now() };
  state.binding = null;
  state.message = null;
  render();
  try {
    const found = await api(`/api/v1/pairing/scan?seconds=${SCAN_SECONDS}`);
    state.scan = { phase: "done", found, startedMs: 0 };
  } catch (err) {
    state.scan = { phase: "idle", found: [], startedMs: 0 };
    state.message = { kind: "error", text: errorText(err) };
  }
  render();
}

function refreshScanMarks() {
  // a device forgotten or bound here changes "already bound" of the list shown
  const byUri = new Map([...state.devices.values()].map((d) => [d.uri, d.id]));
  for (const f of state.scan.found) f.bound_as = f.uri ? byUri.get(f.uri) ?? null : null;
  render();
}

async function bind(found, label) {
  try {
    const d = await api("/api/v1/devices", {
      method: "POST",
      body: { id: found.suggested_id, uri: found.uri, label },
    });
    state.devices.set(d.id, d);
    found.bound_as = d.id;
    state.binding = null;
    state.message = { kind: "ok", text: tx("bound", { name: d.label || d.id }) };
  } catch (err) {
    state.message = { kind: "error", text: errorText(err) };
  }
  render();
}

function foundItem(f) {
  const kind = f.kind ? PROFILE[lang()][f.kind] ?? f.kind : tx("unsupported");
  const li = el(
    "li",
    { class: "found", dataTestid: `found-${f.address}`, dataAddress: f.address },
    el("div", { class: "found-text" },
      el("span", { class: "found-name", text: f.name || tx("unnamed") }),
      el("span", { class: "found-kind", text: kind }),
      el("span", { class: "found-signal", text: `${tx("signal")}: ${signalWords(f.rssi_dbm)}` }),
      el("span", { class: "found-address", text: f.address })),
  );
  if (f.bound_as) {
    li.append(el("p", { class: "found-bound", text: tx("boundAs", { id: f.bound_as }) }));
  } else if (f.kind && f.uri && state.binding === f.address) {
    const input = el("input", {
      type: "text", class: "label-input", maxlength: "100", dataTestid: "bind-label",
      id: "bind-label", value: PROFILE[lang()][f.kind] ?? "",
    });
    const form = el("form", { class: "bind-form" },
      el("label", { for: "bind-label", text: tx("label") }), input,
      el("div", { class: "row" },
        el("button", { type: "submit", class: "btn primary", dataTestid: "bind-confirm",
          text: tx("confirmConnect") }),
        button(tx("cancel"), "bind-cancel", () => { state.binding = null; render(); })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      bind(f, input.value.trim());
    });
    li.append(form);
  } else if (f.kind && f.uri) {
    li.append(button(tx("connect"), `connect-${f.address}`, () => {
      state.binding = f.address;
      render();
      $("bind-label")?.focus();
    }, "btn primary"));
  }
  return li;
}

// ---------------------------------------------------------------- rendering

let root = null;

function render() {
  if (!root) return;
  const focusedLabel = document.activeElement?.id === "bind-label"
    ? document.activeElement.value : null;
  const devices = [...state.devices.values()];
  const tiles = el("ul", { class: "tiles", dataTestid: "device-tiles" }, ...devices.map(tile));
  const none = devices.length ? "" : tx("none");
  const scanning = state.scan.phase === "scanning";
  const progress = scanning
    ? el("div", { class: "scan-progress", role: "status", dataTestid: "scan-progress" },
      el("span", { text: tx("scanning") }),
      el("span", { class: "bar" }, el("span", { class: "fill", dataScanning: "true" })))
    : "";
  const found = state.scan.phase === "done"
    ? el("div", { class: "found-block" },
      el("p", { class: "found-count", dataTestid: "scan-result",
        text: state.scan.found.length ? tx("found", { n: state.scan.found.length })
          : tx("foundNone") }),
      el("ul", { class: "found-list", dataTestid: "found-list" },
        ...state.scan.found.map(foundItem)))
    : "";
  const message = state.message
    ? el("p", { class: `message ${state.message.kind}`, role: state.message.kind === "error"
      ? "alert" : "status", dataTestid: "devices-message", text: state.message.text })
    : "";
  const scanButton = button(tx("scan"), "scan", scan, "btn primary");
  scanButton.disabled = scanning;
  root.replaceChildren(
    el("section", { class: "panel devices-tiles", "aria-label": tx("devices") },
      el("h2", { class: "panel-title", text: tx("devices") }),
      none ? el("p", { class: "note", text: none }) : tiles),
    el("section", { class: "panel pairing", dataTestid: "pairing" },
      el("h2", { class: "panel-title", text: tx("pairing") }),
      scanButton, progress, message, found),
  );
  if (focusedLabel !== null && $("bind-label")) {
    $("bind-label").value = focusedLabel;
    $("bind-label").focus();
  }
}

// Ages move on without messages; only the texts of the "last seen" facts change.
function tick() {
  if (!root || root.closest("main")?.hidden) return;
  for (const [id, d] of state.devices) {
    const dd = root.querySelector(`[data-device="${CSS.escape(id)}"] [data-fact=lastSeen] dd`);
    if (!dd) continue;
    const text = d.last_seen_s ? formatAge(lang(), gatewayNowS() - d.last_seen_s) : tx("never");
    if (dd.textContent !== text) dd.textContent = text;
  }
}

function start() {
  const main = document.querySelector('main[data-screen="devices"]');
  root = el("div", { class: "devices-body" });
  main.append(root);
  onLive(onMessage);
  onLang(() => render());
  onScreen((name) => {
    if (name === "devices") refresh();
  });
  window.setInterval(tick, TICK_MS);
  render();
}

start();
