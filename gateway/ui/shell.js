// The kiosk's screens: one <main class="screen" data-screen="…"> shown at a time, chosen
// by the buttons of the navigation bar (nav [data-screen]) or by a module (bus.showScreen,
// e.g. the specialist asks for a measurement). The screen is kept in the URL hash, so a
// reload stays where the nurse was.

import { emitScreen, onScreenRequest } from "./bus.js";

const DEFAULT_SCREEN = "vitals";

function screens() {
  return [...document.querySelectorAll("main.screen[data-screen]")].map((el) => el.dataset.screen);
}

function show(name) {
  const known = screens();
  const shown = known.includes(name) ? name : DEFAULT_SCREEN;
  for (const el of document.querySelectorAll("main.screen[data-screen]")) {
    el.hidden = el.dataset.screen !== shown;
  }
  for (const button of document.querySelectorAll("nav.screens [data-screen]")) {
    const current = button.dataset.screen === shown;
    button.setAttribute("aria-current", current ? "page" : "false");
  }
  document.body.dataset.screen = shown;
  if (window.location.hash !== `#${shown}`) {
    window.history.replaceState(null, "", `#${shown}`);
  }
  emitScreen(shown);
}

for (const button of document.querySelectorAll("nav.screens [data-screen]")) {
  button.addEventListener("click", () => show(button.dataset.screen));
}
onScreenRequest(show);
window.addEventListener("hashchange", () => show(window.location.hash.slice(1)));
show(window.location.hash.slice(1) || DEFAULT_SCREEN);
