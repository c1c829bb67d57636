// Texts of the Konsultasjon screen (session.js, session-people.js), bokmål first.
// Elements with data-st="key" in kiosk.html get their text from here on a language change.

import { currentLang } from "./bus.js";

const TEXTS = {
  nb: {
    "state.idle": "Ingen konsultasjon",
    "state.preparing": "Forberedes",
    "state.inviting": "Inviterer",
    "state.live": "Pågår",
    "state.ended": "Avsluttet",
    "idle.lead": "Ingen konsultasjon pågår. Start en når pasienten er i rommet.",
    "idle.start": "Start konsultasjon",
    "prep.title": "Pasient",
    "prep.optional":
      "Alle feltene er valgfrie. Skriv ikke fullt navn eller fødselsnummer.",
    "prep.pseudonym": "Initialer eller kallenavn (valgfritt)",
    "prep.birthYear": "Fødselsår (valgfritt)",
    "prep.consentTitle": "Samtykke",
    "prep.consentText":
      "Pasienten samtykker til videokonsultasjon og til at målingene deles med sykehuset og kommunen.",
    "prep.confirm": "Pasienten samtykker",
    "prep.consented": "Samtykke registrert kl. {time}.",
    "prep.needConsent": "Pasientens samtykke må bekreftes før du kan invitere.",
    "prep.invite": "Inviter",
    "prep.birthYearBad": "Fødselsår må være et årstall mellom 1900 og i år.",
    "inv.title": "Inviter lege",
    "inv.role": "Hvem",
    "inv.specialist": "Spesialist",
    "inv.gp": "Fastlege",
    "inv.name": "Navn (valgfritt)",
    "inv.create": "Lag invitasjon",
    "inv.code": "Kode",
    "inv.codeHint": "Skriv koden på {base}/join",
    "inv.expiresIn": "Utløper om {left}",
    "inv.expired": "Utløpt: lag en ny invitasjon.",
    "inv.notShown": "Lenken og koden vises bare på skjermen der invitasjonen ble laget.",
    "inv.withdraw": "Trekk tilbake",
    "inv.qr": "QR-kode med lenken",
    "people.waiting": "Venterom",
    "people.waitingNone": "Ingen venter.",
    "people.in": "Med i konsultasjonen",
    "people.inNone": "Ingen er med ennå.",
    "people.invited": "Invitasjoner",
    "people.admit": "Slipp inn",
    "people.reject": "Avvis",
    "people.remove": "Fjern",
    "people.removed": "Fjernet",
    "people.unnamed": "uten navn",
    "live.begin": "Begynn konsultasjonen",
    "live.beginHint": "Slipper du inn en lege, begynner konsultasjonen av seg selv.",
    "live.since": "Pågått i {duration}.",
    "end.button": "Avslutt konsultasjon",
    "end.question":
      "Avslutte konsultasjonen? Alle deltakere kobles fra, og lenkene slutter å virke.",
    "end.yes": "Ja, avslutt",
    "end.no": "Nei, fortsett",
    "sum.title": "Oppsummering",
    "sum.duration": "Varighet",
    "sum.participants": "Deltakere",
    "sum.measurements": "Målinger",
    "sum.report": "Rapport fra konsultasjonen",
    "sum.pdf": "Last ned PDF",
    "sum.new": "Ny konsultasjon",
    "sum.none": "ingen",
    "err.failed": "Det gikk ikke: {detail}",
    "err.offline": "Ingen kontakt med gatewayen. Prøver igjen …",
  },
  en: {
    "state.idle": "No consultation",
    "state.preparing": "Preparing",
    "state.inviting": "Inviting",
    "state.live": "In progress",
    "state.ended": "Ended",
    "idle.lead": "No consultation in progress. Start one when the patient is in the room.",
    "idle.start": "Start consultation",
    "prep.title": "Patient",
    "prep.optional": "Every field is optional. Do not enter a full name or national ID number.",
    "prep.pseudonym": "Initials or alias (optional)",
    "prep.birthYear": "Year of birth (optional)",
    "prep.consentTitle": "Consent",
    "prep.consentText":
      "The patient consents to a video consultation and to the measurements being shared with the hospital and the municipality.",
    "prep.confirm": "The patient consents",
    "prep.consented": "Consent recorded at {time}.",
    "prep.needConsent": "Confirm the patient's consent before inviting.",
    "prep.invite": "Invite",
    "prep.birthYearBad": "Year of birth must be a year between 1900 and this year.",
    "inv.title": "Invite a doctor",
    "inv.role": "Who",
    "inv.specialist": "Specialist",
    "inv.gp": "GP",
    "inv.name": "Name (optional)",
    "inv.create": "Create invitation",
    "inv.code": "Code",
    "inv.codeHint": "Type the code at {base}/join",
    "inv.expiresIn": "Expires in {left}",
    "inv.expired": "Expired: create a new invitation.",
    "inv.notShown": "The link and code are shown only on the screen where the invitation was made.",
    "inv.withdraw": "Withdraw",
    "inv.qr": "QR code with the link",
    "people.waiting": "Waiting room",
    "people.waitingNone": "No one is waiting.",
    "people.in": "In the consultation",
    "people.inNone": "No one has joined yet.",
    "people.invited": "Invitations",
    "people.admit": "Let in",
    "people.reject": "Turn away",
    "people.remove": "Remove",
    "people.removed": "Removed",
    "people.unnamed": "no name",
    "live.begin": "Begin the consultation",
    "live.beginHint": "Letting a doctor in begins the consultation by itself.",
    "live.since": "In progress for {duration}.",
    "end.button": "End consultation",
    "end.question":
      "End the consultation? Everyone is disconnected and the links stop working.",
    "end.yes": "Yes, end it",
    "end.no": "No, continue",
    "sum.title": "Summary",
    "sum.duration": "Duration",
    "sum.participants": "Participants",
    "sum.measurements": "Measurements",
    "sum.report": "Report of the consultation",
    "sum.pdf": "Download PDF",
    "sum.new": "New consultation",
    "sum.none": "none",
    "err.failed": "That did not work: {detail}",
    "err.offline": "No contact with the gateway. Retrying …",
  },
};

/** The text for `key` in the current language, with {name} placeholders filled in. */
export function t(key, vars = {}) {
  const table = TEXTS[currentLang()] ?? TEXTS.nb;
  const text = table[key] ?? TEXTS.nb[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** "1 t 05 min" (en: "1 h 05 min"), "12 min 03 s", "45 s". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h} ${currentLang() === "en" ? "h" : "t"} ${String(m).padStart(2, "0")} min`;
  if (m > 0) return `${m} min ${String(rest).padStart(2, "0")} s`;
  return `${rest} s`;
}

/** m:ss of a countdown. */
export function countdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** HH:MM of a wall time on the kiosk's clock display. */
export function clock(wallS) {
  const locale = currentLang() === "en" ? "en-GB" : "nb-NO";
  return new Date(wallS * 1000).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
}

/** Fill every [data-st] element under `root` with its text. */
export function applyTexts(root) {
  for (const el of root.querySelectorAll("[data-st]")) el.textContent = t(el.dataset.st);
}

export function roleName(role) {
  return t(role === "gp" ? "inv.gp" : "inv.specialist");
}
