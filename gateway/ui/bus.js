// What the kiosk's modules share: the live stream, the language, the gateway's clock, the
// screen shown, and calls to the gateway's API. kiosk.js owns the WebSocket and the language
// button and publishes here; session.js, guided.js and the others subscribe, so no module
// opens a second WebSocket or keeps its own language state.

const bus = new EventTarget();
const shared = { lang: "nb", offsetS: null, screen: null };

/** Publish a live message (docs/api.md) to every subscriber. kiosk.js calls this. */
export function emitLive(msg) {
  bus.dispatchEvent(new CustomEvent("live", { detail: msg }));
}

/** Call fn(msg) for every live message (after the hello of each connection). */
export function onLive(fn) {
  bus.addEventListener("live", (event) => fn(event.detail));
}

/** Set the page language ("nb" | "en"); kiosk.js calls this. */
export function emitLang(lang) {
  shared.lang = lang;
  bus.dispatchEvent(new CustomEvent("lang", { detail: lang }));
}

/** Call fn(lang) whenever the language changes; also once now. */
export function onLang(fn) {
  bus.addEventListener("lang", (event) => fn(event.detail));
  fn(shared.lang);
}

export function currentLang() {
  return shared.lang;
}

/** Pick the text of the current language from {nb: …, en: …}. */
export function pick(texts) {
  return texts[shared.lang] ?? texts.nb;
}

/** The gateway's clock offset (gateway minus browser, s); kiosk.js tracks it from sent_s. */
export function setClockOffset(offsetS) {
  shared.offsetS = offsetS;
}

/** Now on the gateway's clock (Unix s), so ages shown do not depend on the kiosk's clock. */
export function gatewayNowS() {
  return Date.now() / 1000 + (shared.offsetS ?? 0);
}

/** Show one of the kiosk's screens (data-screen="…"); shell.js does the showing. */
export function showScreen(name) {
  bus.dispatchEvent(new CustomEvent("screen-request", { detail: name }));
}

export function onScreenRequest(fn) {
  bus.addEventListener("screen-request", (event) => fn(event.detail));
}

/** Announce the screen now shown (shell.js). */
export function emitScreen(name) {
  shared.screen = name;
  bus.dispatchEvent(new CustomEvent("screen", { detail: name }));
}

/** Call fn(name) when a screen is shown. */
export function onScreen(fn) {
  bus.addEventListener("screen", (event) => fn(event.detail));
  if (shared.screen !== null) fn(shared.screen);
}

export function currentScreen() {
  return shared.screen;
}

/** A failed API call: the HTTP status and the gateway's explanation ("detail"). */
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

/**
 * Call the gateway's API with the kiosk's cookie. `body` is sent as JSON; `background: true`
 * for calls the page makes by itself (polls, refreshes on live messages). Resolves to the
 * parsed JSON (or null for 204); rejects with ApiError for any non-2xx answer (423: the kiosk
 * is locked, lock.js shows the PIN screen) and with TypeError when the gateway is unreachable.
 */
export async function api(path, { method = "GET", body = undefined, background = false } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  // A read the page makes by itself (a timer, a live message) is not the nurse's activity:
  // marked, it does not hold off the idle lock (gateway/auth.py check_kiosk_lock).
  if (background) init.headers["X-Helserom-Background"] = "1";
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") ?? "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, data?.detail ?? data);
  return data;
}

/**
 * Ask the guided-measurement screen to open one guide: kind is "bp" | "spo2" | "spiro" |
 * "ecg"; `reason` is optional text shown above it (e.g. who asked for it). requests.js calls
 * this when the nurse accepts a specialist's request; guided.js listens.
 */
export function requestGuide(kind, reason = null) {
  showScreen("measure");
  bus.dispatchEvent(new CustomEvent("guide", { detail: { kind, reason } }));
}

export function onGuideRequest(fn) {
  bus.addEventListener("guide", (event) => fn(event.detail));
}

/** The kiosk was unlocked with the PIN (lock.js); the live stream reconnects at once. */
export function emitUnlocked() {
  bus.dispatchEvent(new CustomEvent("unlocked"));
}

export function onUnlocked(fn) {
  bus.addEventListener("unlocked", () => fn());
}

// A participant's page that was removed or whose session ended (specialist.js sets it): its
// panels stop asking for the session's records, which the gateway now refuses.
let gone = false;

export function setGone() {
  gone = true;
}

export function isGone() {
  return gone;
}
