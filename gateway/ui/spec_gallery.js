// The session's snapshots as a gallery (thumbnails with time and camera; a tap opens the full
// resolution) and the session's notes (write and read). Both live in the gateway's store:
// GET /api/v1/session/snapshots, GET/POST /api/v1/session/notes (docs/api.md).

import { api, currentLang, isGone, onLang, onLive, pick } from "./bus.js";

const TEXT = {
  nb: {
    gallery: "Stillbilder", none: "Ingen stillbilder ennå.", take: "Ta stillbilde",
    caption: "{time} · {cam}", by: "tatt for {who}", full: "Stillbilde {w}×{h} fra {cam}, {time}",
    close: "Lukk", failed: "Stillbilde feilet: {e}", notes: "Notater",
    placeholder: "Skriv et notat til konsultasjonen …", save: "Lagre notat",
    noNotes: "Ingen notater ennå.", saved: "Notatet er lagret.", noteFailed: "Ikke lagret: {e}",
    noSession: "Ingen åpen konsultasjon.", left: "{n} tegn igjen",
    role: { nurse: "Sykepleier", specialist: "Spesialist", gp: "Fastlege" },
  },
  en: {
    gallery: "Still images", none: "No still images yet.", take: "Take still",
    caption: "{time} · {cam}", by: "taken for {who}", full: "Still {w}×{h} from {cam}, {time}",
    close: "Close", failed: "Still image failed: {e}", notes: "Notes",
    placeholder: "Write a note for the consultation …", save: "Save note",
    noNotes: "No notes yet.", saved: "The note is saved.", noteFailed: "Not saved: {e}",
    noSession: "No open consultation.", left: "{n} characters left",
    role: { nurse: "Nurse", specialist: "Specialist", gp: "GP" },
  },
};
const NOTE_MAX = 4000;
const NOTES_POLL_MS = 15000; // notes by the nurse or the GP show up without a reload

const t = (key, vars = {}) =>
  (pick(TEXT)[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const clock = (s) => new Date(s * 1000).toLocaleTimeString(
  currentLang() === "nb" ? "nb-NO" : "en-GB", { hour: "2-digit", minute: "2-digit" });
const who = (a) => [pick(TEXT).role[a.role] ?? a.role, a.name].filter(Boolean).join(" ");

/** The gallery in `root` and its full-size viewer; `snapshot()` takes one (→ ack). */
export function mountGallery(root, { snapshot }) {
  root.innerHTML = `
    <div class="gallery-head"><h2 data-g="gallery"></h2>
      <button type="button" class="take" data-testid="take-snapshot" data-g="take"></button></div>
    <p class="muted gallery-state" data-testid="gallery-state"></p>
    <ul class="gallery" data-testid="gallery"></ul>
    <dialog class="viewer" data-testid="viewer">
      <img alt=""><p class="viewer-caption"></p>
      <button type="button" class="viewer-close" data-g="close"></button></dialog>`;
  const grid = root.querySelector(".gallery");
  const state = root.querySelector(".gallery-state");
  const viewer = root.querySelector("dialog");
  let snaps = [], error = null;

  function render() {
    state.textContent = error ?? (snaps.length ? "" : t("none"));
    grid.replaceChildren(...snaps.map((s) => {
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "thumb";
      btn.dataset.snapshot = s.id;
      const img = document.createElement("img");
      img.src = s.url;
      img.alt = t("full", { w: s.width, h: s.height, cam: s.camera_id, time: clock(s.captured_s) });
      img.loading = "lazy";
      const cap = document.createElement("span");
      cap.textContent = `${t("caption", { time: clock(s.captured_s), cam: s.camera_id })} · ${
        t("by", { who: who(s.requested_by) })}`;
      btn.append(img, cap);
      btn.addEventListener("click", () => open(s));
      li.append(btn);
      return li;
    }));
  }

  function open(s) {
    const img = viewer.querySelector("img");
    img.src = s.url;
    img.alt = t("full", { w: s.width, h: s.height, cam: s.camera_id, time: clock(s.captured_s) });
    viewer.querySelector(".viewer-caption").textContent = img.alt;
    viewer.showModal();
  }
  viewer.querySelector(".viewer-close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("click", (ev) => { if (ev.target === viewer) viewer.close(); });

  async function load() {
    if (isGone()) return;
    try {
      const body = await api("/api/v1/session/snapshots");
      snaps = body.snapshots;
      error = body.session_id === null ? t("noSession") : null;
    } catch (err) {
      error = err.message;
    }
    render();
  }

  root.querySelector(".take").addEventListener("click", async () => {
    const ack = await snapshot();
    if (ack && !ack.ok) { error = t("failed", { e: ack.error }); render(); return; }
    await load();
  });
  onLive((msg) => { if (msg.type === "hello") load(); });
  onLang(() => {
    root.querySelectorAll("[data-g]").forEach((el) => { el.textContent = t(el.dataset.g); });
    render();
  });
  return { load };
}

/** The notes in `root`: the session's notes, and a form to add one. */
export function mountNotes(root) {
  root.innerHTML = `
    <h2 data-n="notes"></h2>
    <form class="note-form">
      <textarea name="text" rows="3" maxlength="${NOTE_MAX}" required
                data-testid="note-text"></textarea>
      <div class="note-actions"><span class="muted note-left"></span>
        <button type="submit" data-testid="note-save" data-n="save"></button></div>
      <p class="note-state" role="status" data-testid="note-state"></p>
    </form>
    <ol class="notes" data-testid="notes"></ol>`;
  const form = root.querySelector("form");
  const text = form.querySelector("textarea");
  const list = root.querySelector(".notes");
  const stateEl = form.querySelector(".note-state");
  let notes = [], status = null, failed = null;

  function render() {
    text.placeholder = t("placeholder");
    form.querySelector(".note-left").textContent = t("left", { n: NOTE_MAX - text.value.length });
    stateEl.textContent = status === "failed" ? t("noteFailed", { e: failed })
      : status ? t(status) : "";
    stateEl.dataset.state = status ?? "";
    if (!notes.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = t("noNotes");
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...notes.map((n) => {
      const li = document.createElement("li");
      const head = document.createElement("p");
      head.className = "note-head";
      head.textContent = `${clock(n.created_s)} · ${who(n.author)}`;
      const body = document.createElement("p");
      body.className = "note-body";
      body.textContent = n.text; // white-space: pre-wrap keeps the lines
      li.append(head, body);
      return li;
    }));
  }

  async function load() {
    if (isGone()) return;
    const body = await api("/api/v1/session/notes");
    notes = body.notes;
    if (body.session_id === null) status = "noSession";
    render();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/v1/session/notes", { method: "POST", body: { text: text.value } });
      text.value = "";
      status = "saved";
    } catch (err) {
      status = "failed";
      const d = err.detail;
      failed = Array.isArray(d) ? d.map((e) => e.msg).join("; ") : err.message;
    }
    await load().catch(() => {});
  });
  text.addEventListener("input", render);
  onLang(() => {
    root.querySelectorAll("[data-n]").forEach((el) => { el.textContent = t(el.dataset.n); });
    render();
  });
  onLive((msg) => { if (msg.type === "hello") load().catch(() => {}); });
  setInterval(() => load().catch(() => {}), NOTES_POLL_MS);
}
