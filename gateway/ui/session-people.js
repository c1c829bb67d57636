// The Konsultasjon screen's people: the invitations (link, QR code, short code, countdown),
// the waiting room (Slipp inn / Avvis) and who is in (Fjern). session.js feeds render() with
// GET /api/v1/session's participants; the link, code and QR of an invitation exist only in the
// answer that made it (the gateway keeps only their hashes), so they are kept here in memory.

import { gatewayNowS } from "./bus.js";
import { countdown, roleName, t } from "./session-text.js";

const made = new Map(); // participant id -> {link, short_code, qr_svg} from POST /invites
let handlers = { admit: null, remove: null };
let lastPeople = [];

export function setHandlers(next) {
  handlers = next;
}

/** Remember what POST /api/v1/session/invites answered (only this page ever sees it). */
export function remember(invite) {
  made.set(invite.participant_id, invite);
}

export function forgetAll() {
  made.clear();
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function who(p) {
  return `${roleName(p.role)} · ${p.name ? p.name : t("people.unnamed")}`;
}

function button(text, testid, cls, onClick) {
  const b = el("button", { type: "button", class: `session-btn ${cls}`, "data-testid": testid });
  b.textContent = text;
  b.addEventListener("click", () => {
    b.disabled = true; // one tap is one action; the next poll redraws the row
    Promise.resolve(onClick()).finally(() => { b.disabled = false; });
  });
  return b;
}

// The QR code is SVG from our own gateway: shown as an <img> of a data: URL, so nothing in it
// can run (an <img> never runs SVG script) and the CSP (img-src 'self' data:) allows it.
function qrImage(svg) {
  const img = el("img", {
    class: "session-qr",
    alt: t("inv.qr"),
    "data-testid": "invite-qr",
    src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`,
  });
  return img;
}

function inviteCard(p) {
  const inv = made.get(p.id);
  const li = el("li", {
    class: "session-invite",
    "data-testid": `invite-${p.id}`,
    dataset: { participant: p.id, role: p.role, expires: String(p.expires_s) },
  });
  li.append(el("p", { class: "session-who", text: who(p) }));
  if (inv) {
    const code = el("p", { class: "session-code-box" }, [
      el("span", { class: "session-code-label", text: t("inv.code") }),
      el("span", { class: "session-code", "data-testid": "invite-code", text: inv.short_code }),
    ]);
    const link = el("p", { class: "session-link", "data-testid": "invite-link", text: inv.link });
    const hint = el("p", {
      class: "session-hint",
      text: t("inv.codeHint", { base: new URL(inv.link).origin }),
    });
    li.append(el("div", { class: "session-invite-body" }, [qrImage(inv.qr_svg), el("div", {}, [code, hint, link])]));
  } else {
    li.append(el("p", { class: "session-hint", text: t("inv.notShown") }));
  }
  li.append(el("p", { class: "session-expiry", "data-testid": "invite-expiry" }));
  li.append(button(t("inv.withdraw"), "invite-withdraw", "", () => handlers.remove(p.id)));
  tickOne(li);
  return li;
}

function personRow(p, actions) {
  const li = el("li", { class: "session-person", "data-testid": `person-${p.id}`,
    dataset: { participant: p.id, role: p.role } });
  li.append(el("span", { class: "session-who", text: who(p) }));
  const box = el("span", { class: "session-row-buttons" });
  box.append(...actions);
  li.append(box);
  return li;
}

function emptyRow(key) {
  return el("li", { class: "session-empty", text: t(key) });
}

/** Redraw the lists from the participants of GET /api/v1/session. */
export function render(people) {
  lastPeople = people;
  const waiting = people.filter((p) => p.joined && !p.admitted && !p.removed);
  const inside = people.filter((p) => p.admitted && !p.removed && p.joined);
  const invited = people.filter((p) => !p.joined && !p.removed);
  const waitingList = document.getElementById("session-waiting");
  waitingList.replaceChildren(
    ...(waiting.length ? waiting.map((p) => personRow(p, [
      button(t("people.admit"), "person-admit", "primary", () => handlers.admit(p.id)),
      button(t("people.reject"), "person-reject", "danger", () => handlers.remove(p.id)),
    ])) : [emptyRow("people.waitingNone")]),
  );
  document.getElementById("session-in").replaceChildren(
    ...(inside.length ? inside.map((p) => personRow(p, [
      button(t("people.remove"), "person-remove", "danger", () => handlers.remove(p.id)),
    ])) : [emptyRow("people.inNone")]),
  );
  document.getElementById("session-invites").replaceChildren(...invited.map(inviteCard));
  document.getElementById("session-invites").parentElement.hidden = invited.length === 0;
  const nav = document.querySelector('nav.screens [data-screen="session"]');
  if (nav !== null) nav.dataset.waiting = String(waiting.length);
  return { waiting: waiting.length, inside: inside.length };
}

/** Redraw with the last participants (a language change). */
export function rerender() {
  render(lastPeople);
}

function tickOne(li) {
  const left = Number(li.dataset.expires) - gatewayNowS();
  const expiry = li.querySelector(".session-expiry");
  li.dataset.expired = String(left <= 0);
  expiry.textContent = left > 0 ? t("inv.expiresIn", { left: countdown(left) }) : t("inv.expired");
}

/** Count every open invitation down (once a second). */
export function tick() {
  for (const li of document.querySelectorAll("#session-invites .session-invite")) tickOne(li);
}
