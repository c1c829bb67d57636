// The kiosk's Konsultasjon screen: the nurse's consultation workflow as the gateway persists
// it (docs/ui.md). idle → preparing (optional patient context, consent) → inviting/live
// (invitations, waiting room, who is in) → ended (summary with the report) → idle.
// The state comes from GET /api/v1/session, polled every 2 s while a session is open, so a
// reload or a gateway restart lands on the same step. The ended session's id is kept in
// sessionStorage so its summary survives a reload until the nurse starts anew.

import { ApiError, api, gatewayNowS, onLang } from "./bus.js";
import {
  forgetAll,
  remember,
  render as renderPeople,
  rerender as rerenderPeople,
  setHandlers,
  tick,
} from "./session-people.js";
import { applyTexts, clock, duration, t } from "./session-text.js";

const OPEN_POLL_MS = 2000;
const IDLE_POLL_MS = 10000;
const SUMMARY_KEY = "helserom.kiosk.summary"; // the ended session shown until "Ny konsultasjon"

const root = document.getElementById("session");
const $ = (id) => document.getElementById(id);
const view = { state: "loading", session: null, people: "", summary: null, role: "specialist" };
let pollTimer = null;

// ----------------------------------------------------------------- state and polling

function setState(state) {
  view.state = state;
  root.dataset.state = state;
  for (const part of root.querySelectorAll(".session-part")) {
    part.hidden = !part.dataset.when.split(" ").includes(state);
  }
  $("session-chip").textContent = t(`state.${state === "loading" ? "idle" : state}`);
  $("session-chip").dataset.state = state;
  $("session-confirm").hidden = true;
  $("session-end").hidden = false;
  $("session-go-live").hidden = state !== "inviting";
  $("session-go-live-hint").hidden = state !== "inviting";
  renderSince();
}

function showError(error) {
  const box = $("session-error");
  if (error === null) {
    box.hidden = true;
    return;
  }
  if (error instanceof ApiError && error.status === 423) return; // locked: lock.js shows the PIN
  box.textContent = error instanceof ApiError
    ? t("err.failed", { detail: typeof error.detail === "string" ? error.detail : error.message })
    : t("err.offline");
  box.hidden = false;
}

function apply(data) {
  const session = data.session;
  if (session === null) {
    view.session = null;
    const ended = sessionStorage.getItem(SUMMARY_KEY);
    if (ended !== null) {
      if (view.state !== "ended") showSummary(ended).catch(showError);
    } else {
      setState("idle");
    }
    return;
  }
  view.session = session;
  if (view.state !== session.state) setState(session.state);
  if (session.state === "preparing") renderConsent(session.patient);
  const people = JSON.stringify(data.participants);
  if (people !== view.people) {
    view.people = people;
    renderPeople(data.participants);
  }
}

// The poll is marked as background (X-Helserom-Background): it is not the nurse's activity,
// so it does not keep the kiosk from locking; while locked (lock.js's overlay) it waits.
async function poll() {
  const response = await fetch("/api/v1/session", {
    credentials: "same-origin",
    headers: { "X-Helserom-Background": "1" },
  });
  const data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data?.detail ?? data);
  return data;
}

async function refresh({ clearError = true } = {}) {
  if (document.getElementById("lock-overlay") !== null) return;
  try {
    apply(await poll());
    if (clearError) showError(null);
  } catch (error) {
    showError(error);
  }
}

function schedule() {
  clearTimeout(pollTimer);
  const open = view.session !== null;
  pollTimer = setTimeout(async () => {
    await refresh();
    schedule();
  }, open ? OPEN_POLL_MS : IDLE_POLL_MS);
}

/** Run an action, show its error, then refresh at once. */
async function act(fn) {
  let failed = false;
  try {
    const data = await fn();
    if (data && "session" in data) apply(data);
    showError(null);
  } catch (error) {
    showError(error);
    failed = true;
  }
  await refresh({ clearError: !failed });
  schedule();
}

// ----------------------------------------------------------------- idle → preparing

$("session-start").addEventListener("click", () => act(async () => {
  sessionStorage.removeItem(SUMMARY_KEY);
  forgetAll();
  view.people = "";
  $("session-pseudonym").value = "";
  $("session-birth-year").value = "";
  return api("/api/v1/session", { method: "POST", body: { live: false, patient: null } });
}));

// ----------------------------------------------------------------- preparing: context, consent

function renderConsent(patient) {
  const consented = Boolean(patient?.consent) && typeof patient?.consent_s === "number";
  const button = $("session-consent");
  button.setAttribute("aria-pressed", String(consented));
  $("session-consent-note").textContent = consented
    ? t("prep.consented", { time: clock(patient.consent_s) })
    : t("prep.needConsent");
  $("session-consent-note").dataset.consented = String(consented);
  $("session-invite-step").disabled = !consented;
  const form = $("session-patient");
  if (!form.contains(document.activeElement)) { // never overwrite what the nurse is typing
    $("session-pseudonym").value = patient?.pseudonym ?? "";
    $("session-birth-year").value = patient?.birth_year ?? "";
  }
}

function patientBody(consent) {
  const pseudonym = $("session-pseudonym").value.trim();
  const yearText = $("session-birth-year").value.trim();
  const year = yearText === "" ? null : Number(yearText);
  const thisYear = new Date().getFullYear();
  if (year !== null && !(Number.isInteger(year) && year >= 1900 && year <= thisYear)) {
    throw new ApiError(422, t("prep.birthYearBad"));
  }
  return { pseudonym: pseudonym === "" ? null : pseudonym, birth_year: year, consent };
}

function consented() {
  return $("session-consent").getAttribute("aria-pressed") === "true";
}

$("session-consent").addEventListener("click", () => act(() => api(
  "/api/v1/session/patient", { method: "PUT", body: patientBody(!consented()) },
)));

$("session-patient").addEventListener("submit", (event) => event.preventDefault());

$("session-invite-step").addEventListener("click", () => act(async () => {
  // the fields as typed now, with the consent already given, then on to the invitations
  await api("/api/v1/session/patient", { method: "PUT", body: patientBody(true) });
  return api("/api/v1/session/state", { method: "POST", body: { state: "inviting" } });
}));

// ----------------------------------------------------------------- inviting / live

for (const roleButton of root.querySelectorAll(".session-role")) {
  roleButton.addEventListener("click", () => {
    view.role = roleButton.dataset.role;
    for (const other of root.querySelectorAll(".session-role")) {
      other.setAttribute("aria-checked", String(other === roleButton));
    }
  });
}

$("session-invite-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("session-invite-name").value.trim();
  act(async () => {
    const invite = await api("/api/v1/session/invites", {
      method: "POST",
      body: { role: view.role, name: name === "" ? null : name },
    });
    remember(invite);
    view.people = ""; // redraw with the new card
    $("session-invite-name").value = "";
    return null;
  });
});

setHandlers({
  // letting the first doctor in begins the consultation (measurements count from here)
  admit: (id) => act(async () => {
    await api(`/api/v1/session/participants/${encodeURIComponent(id)}/admit`, { method: "POST" });
    if (view.session?.state === "inviting") {
      return api("/api/v1/session/state", { method: "POST", body: { state: "live" } });
    }
    return null;
  }),
  remove: (id) => act(() => api(
    `/api/v1/session/participants/${encodeURIComponent(id)}`, { method: "DELETE" },
  )),
});

$("session-go-live").addEventListener("click", () => act(() => api(
  "/api/v1/session/state", { method: "POST", body: { state: "live" } },
)));

function renderSince() {
  const since = $("session-since");
  const started = view.session?.started_s;
  since.textContent = view.state === "live" && typeof started === "number"
    ? t("live.since", { duration: duration(gatewayNowS() - started) })
    : "";
}

// ----------------------------------------------------------------- end (with a confirm step)

$("session-end").addEventListener("click", () => {
  $("session-end").hidden = true;
  $("session-confirm").hidden = false;
  $("session-end-yes").focus();
});
$("session-end-no").addEventListener("click", () => {
  $("session-confirm").hidden = true;
  $("session-end").hidden = false;
});
$("session-end-yes").addEventListener("click", () => act(async () => {
  const data = await api("/api/v1/session/state", { method: "POST", body: { state: "ended" } });
  sessionStorage.setItem(SUMMARY_KEY, data.session.id);
  forgetAll();
  await showSummary(data.session.id);
  return null;
}));

// ----------------------------------------------------------------- ended: the summary

async function showSummary(sessionId) {
  view.session = null;
  view.people = "";
  setState("ended");
  const base = `/api/v1/sessions/${encodeURIComponent(sessionId)}`;
  const frame = $("session-report");
  if (frame.dataset.session !== sessionId) {
    frame.dataset.session = sessionId;
    frame.src = `${base}/report?format=html`;
  }
  $("session-pdf").href = `${base}/report?format=pdf`;
  try {
    view.summary = await api(`${base}/summary`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) { // an old id: nothing to show
      sessionStorage.removeItem(SUMMARY_KEY);
      setState("idle");
      return;
    }
    throw error;
  }
  renderSummary();
}

function renderSummary() {
  const s = view.summary;
  if (s === null) return;
  $("sum-duration").textContent = s.duration_s === null ? "–" : duration(s.duration_s);
  const joined = s.participants.filter((p) => p.admitted);
  $("sum-participants").textContent = joined.length === 0
    ? t("sum.none")
    : joined.map((p) => `${t(p.role === "gp" ? "inv.gp" : "inv.specialist")}${p.name ? ` (${p.name})` : ""}`).join(", ");
  $("sum-measurements").textContent = String(s.measurements);
}

$("session-new").addEventListener("click", () => {
  sessionStorage.removeItem(SUMMARY_KEY);
  view.summary = null;
  $("session-report").removeAttribute("src");
  delete $("session-report").dataset.session;
  setState("idle");
  refresh().then(schedule);
});

// ----------------------------------------------------------------- language, clock, start

onLang(() => {
  applyTexts(root);
  $("session-report").title = t("sum.report");
  setState(view.state);
  if (view.session?.state === "preparing") renderConsent(view.session.patient);
  rerenderPeople();
  renderSummary();
});

setInterval(() => {
  tick();
  renderSince();
}, 1000);

refresh().then(schedule);
