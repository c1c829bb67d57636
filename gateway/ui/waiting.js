// The participant's waiting room (/waiting/): asks the gateway every few seconds where this
// participant stands (GET /api/v1/session/me) and moves on by itself: admitted → the
// participant page, removed or ended → the waiting room URL again, which then shows that page.
// The page's texts are server-rendered in both languages; this script only moves on.

const standingNow = document.body.dataset.standing;
const POLL_MS = 2000;
const RETRY_TEXT = "Mistet forbindelsen, prøver igjen … / Connection lost, retrying …";
const WAIT_TEXT = "Venter på sykepleieren … / Waiting for the nurse …";

function setStatus(text, lost) {
  const el = document.getElementById("waiting-text");
  if (el === null) return;
  el.textContent = text;
  el.parentElement.dataset.lost = String(lost);
}

async function poll() {
  let me = null;
  try {
    const response = await fetch("/api/v1/session/me", {
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401) {
      window.location.replace("/waiting/"); // the bearer is gone: the page says so
      return;
    }
    if (response.ok) me = await response.json();
  } catch {
    me = null; // the gateway is unreachable for a moment (a restart): keep waiting
  }
  if (me === null) {
    setStatus(RETRY_TEXT, true);
  } else if (me.standing === "admitted") {
    window.location.replace("/specialist/");
    return;
  } else if (me.standing !== standingNow) {
    window.location.replace("/waiting/");
    return;
  } else {
    setStatus(WAIT_TEXT, false);
  }
  setTimeout(poll, POLL_MS);
}

if (standingNow === "waiting") setTimeout(poll, POLL_MS);
