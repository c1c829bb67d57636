// Texts of the kiosk page in bokmål (default) and English, and the few formatters that
// depend on the language. Keys are stable; kiosk.html carries the bokmål text too, so the
// page reads right even before the script runs.

export const LANGUAGES = ["nb", "en"];
export const DEFAULT_LANGUAGE = "nb";

const STRINGS = {
  nb: {
    "page.title": "Helserom – målinger",
    "app.name": "Helserom",
    // The toggle shows the language it switches to, in that language.
    "lang.toggle": "English",
    "lang.toggle.lang": "en",
    "ws.label": "Gateway",
    "nav.session": "Konsultasjon",
    "nav.vitals": "Overvåking",
    "nav.measure": "Målinger",
    "nav.devices": "Utstyr",
    "ws.connected": "Tilkoblet",
    "ws.connecting": "Kobler til …",
    "ws.disconnected": "Frakoblet",
    "banner.retry": "Ingen forbindelse med gatewayen. Prøver igjen om {n} s …",
    "banner.connecting": "Ingen forbindelse med gatewayen. Kobler til …",
    "banner.auth":
      "Kiosken er ikke logget inn. Start kiosken på nytt, eller be IT om en ny innloggingslenke.",
    "spo2.label": "Oksygenmetning",
    "spo2.abbr": "SpO₂",
    "pulse.label": "Puls",
    "pulse.abbr": "PR",
    "pleth.label": "Pulskurve",
    "pleth.abbr": "Pleth",
    "pleth.waiting": "Venter på pulskurve …",
    "devices.label": "Måleutstyr",
    "devices.none": "Ikke noe måleutstyr er satt opp.",
    "device.connected": "Tilkoblet",
    "device.disconnected": "Frakoblet",
    "device.lastSeen": "Sist sett",
    "device.never": "aldri",
    "device.framesOk": "Rammer OK",
    "device.framesDropped": "Rammer tapt",
    "device.battery": "Batteri",
    "device.reconnects": "Gjenoppkoblinger",
    "device.firmware": "fastvare",
    "device.hint": "Sjekk at måleren er koblet til og slått på.",
    "kind.nonin2-oximeter": "Pulsoksymeter",
    "kind.nonin7-oximeter": "Pulsoksymeter",
    "kind.nonin8-oximeter": "Pulsoksymeter",
    "kind.cms50-oximeter": "Pulsoksymeter",
    "kind.ble-plx-oximeter": "Pulsoksymeter",
    "kind.openbci-cyton": "EKG",
    "kind.spiro-sfm3300": "Spirometer",
    "kind.ble-bp-cuff": "Blodtrykksmåler",
    "kind.ble-thermometer": "Termometer",
    "kind.ble-weight-scale": "Vekt",
    "kind.ble-hr-strap": "Pulsbelte",
    "value.waiting": "Venter på måling …",
    "value.missing": "Ingen verdi fra måleren",
    "value.deviceDown": "Måleren er frakoblet",
    "value.noLink": "Ingen forbindelse med gatewayen",
    "value.stale": "Ingen ny verdi",
    "age.now": "akkurat nå",
    "age.s": "for {n} s siden",
    "age.min": "for {n} min siden",
    "age.h": "for {n} t siden",
    "quality.sensor_disconnected": "Sensor av",
    "quality.artifact": "Bevegelse/artefakt",
    "quality.out_of_track": "Søker etter puls",
    "quality.sensor_alarm": "Sjekk sensoren",
    "quality.low_perfusion": "Svakt signal",
    "quality.marginal_perfusion": "Noe svakt signal",
    "quality.missing": "Ingen verdi",
    "quality.device_clock_not_set": "Klokken i måleren er ikke stilt",
    "quality.gap_before": "Noe data gikk tapt",
    "quality.stored": "Lagret måling fra måleren",
    "quality.rail_saturation": "Signalet er klippet",
    "quality.cuff_fit": "Sjekk mansjetten",
    "quality.irregular_pulse": "Uregelmessig puls",
    "quality.out_of_range": "Utenfor målerens område",
    "quality.device_out_of_range": "Utenfor målerens område",
    "quality.implausible": "Usannsynlig verdi",
    "quality.not_finite": "Ugyldig tall fra måleren",
    "verdict.valid": "Pålitelig",
    "verdict.questionable": "Usikker verdi",
    "verdict.invalid": "Kan ikke brukes",
    "light.green": "Grønt",
    "light.yellow": "Gult",
    "light.red": "Rødt",
    "light.questionable": "usikker verdi",
  },
  en: {
    "page.title": "Health room – measurements",
    "app.name": "Health room",
    "lang.toggle": "Norsk",
    "lang.toggle.lang": "nb",
    "ws.label": "Gateway",
    "nav.session": "Consultation",
    "nav.vitals": "Monitor",
    "nav.measure": "Measurements",
    "nav.devices": "Devices",
    "ws.connected": "Connected",
    "ws.connecting": "Connecting …",
    "ws.disconnected": "Disconnected",
    "banner.retry": "No connection to the gateway. Retrying in {n} s …",
    "banner.connecting": "No connection to the gateway. Connecting …",
    "banner.auth":
      "The kiosk is not logged in. Restart the kiosk, or ask IT for a new login link.",
    "spo2.label": "Oxygen saturation",
    "spo2.abbr": "SpO₂",
    "pulse.label": "Pulse rate",
    "pulse.abbr": "PR",
    "pleth.label": "Pulse waveform",
    "pleth.abbr": "Pleth",
    "pleth.waiting": "Waiting for the pulse waveform …",
    "devices.label": "Devices",
    "devices.none": "No devices are configured.",
    "device.connected": "Connected",
    "device.disconnected": "Disconnected",
    "device.lastSeen": "Last seen",
    "device.never": "never",
    "device.framesOk": "Frames OK",
    "device.framesDropped": "Frames lost",
    "device.battery": "Battery",
    "device.reconnects": "Reconnects",
    "device.firmware": "firmware",
    "device.hint": "Check that the device is plugged in and switched on.",
    "kind.nonin2-oximeter": "Pulse oximeter",
    "kind.nonin7-oximeter": "Pulse oximeter",
    "kind.nonin8-oximeter": "Pulse oximeter",
    "kind.cms50-oximeter": "Pulse oximeter",
    "kind.ble-plx-oximeter": "Pulse oximeter",
    "kind.openbci-cyton": "ECG",
    "kind.spiro-sfm3300": "Spirometer",
    "kind.ble-bp-cuff": "Blood pressure monitor",
    "kind.ble-thermometer": "Thermometer",
    "kind.ble-weight-scale": "Scale",
    "kind.ble-hr-strap": "Heart rate strap",
    "value.waiting": "Waiting for a measurement …",
    "value.missing": "No value from the device",
    "value.deviceDown": "Device disconnected",
    "value.noLink": "No connection to the gateway",
    "value.stale": "No new value",
    "age.now": "just now",
    "age.s": "{n} s ago",
    "age.min": "{n} min ago",
    "age.h": "{n} h ago",
    "quality.sensor_disconnected": "Sensor off",
    "quality.artifact": "Motion/artifact",
    "quality.out_of_track": "Searching for pulse",
    "quality.sensor_alarm": "Check the sensor",
    "quality.low_perfusion": "Weak signal",
    "quality.marginal_perfusion": "Marginal signal",
    "quality.missing": "No value",
    "quality.device_clock_not_set": "Device clock not set",
    "quality.gap_before": "Some data was lost",
    "quality.stored": "Stored reading from the device",
    "quality.rail_saturation": "Signal clipped",
    "quality.cuff_fit": "Check the cuff",
    "quality.irregular_pulse": "Irregular pulse",
    "quality.out_of_range": "Outside the device's range",
    "quality.device_out_of_range": "Outside the device's range",
    "quality.implausible": "Implausible value",
    "quality.not_finite": "Invalid number from the device",
    "verdict.valid": "Reliable",
    "verdict.questionable": "Questionable",
    "verdict.invalid": "Cannot be used",
    "light.green": "Green",
    "light.yellow": "Yellow",
    "light.red": "Red",
    "light.questionable": "questionable value",
  },
};

// How much each quality flag matters to the nurse: "alarm" means the value cannot be used,
// "caution" means read it with care, "info" is for the record.
export const QUALITY_LEVEL = {
  sensor_disconnected: "alarm",
  sensor_alarm: "alarm",
  out_of_track: "alarm",
  missing: "alarm",
  artifact: "caution",
  low_perfusion: "caution",
  marginal_perfusion: "caution",
  device_clock_not_set: "info",
  gap_before: "info",
  stored: "caution",
  rail_saturation: "caution",
  cuff_fit: "caution",
  irregular_pulse: "caution",
  out_of_range: "alarm",
  device_out_of_range: "alarm",
  implausible: "alarm",
  not_finite: "alarm",
};

// Engine reasons that say the same as a device flag: shown once, under the flag's name.
const REASON_AS_FLAG = {
  sensor_off: "sensor_disconnected",
  clock_not_set: "device_clock_not_set",
  device_out_of_range: "out_of_range",
};

/** Device flags, then the engine's reasons that add something (as stable codes). */
export function tagsOf(quality = [], reasons = []) {
  const tags = [...quality];
  for (const reason of reasons) {
    const tag = REASON_AS_FLAG[reason] ?? reason;
    if (!tags.includes(tag)) tags.push(tag);
  }
  return tags;
}

/** The language if it is one we have, else null. */
export function knownLanguage(lang) {
  return LANGUAGES.includes(lang) ? lang : null;
}

/** The text for key in lang, with {name} placeholders filled; the key itself if unknown. */
export function t(lang, key, vars = {}) {
  const table = STRINGS[lang] ?? STRINGS[DEFAULT_LANGUAGE];
  const text = table[key] ?? STRINGS[DEFAULT_LANGUAGE][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Words for a quality flag; unknown flags are shown by their name rather than hidden. */
export function qualityText(lang, flag) {
  const key = `quality.${flag}`;
  const text = t(lang, key);
  return text === key ? flag.replace(/_/g, " ") : text;
}

/** "for 2 s siden" / "2 s ago" for an age in seconds (negative ages, from clock skew, are 0). */
export function formatAge(lang, ageS) {
  const age = Math.max(0, ageS);
  if (age < 1) return t(lang, "age.now");
  if (age < 120) return t(lang, "age.s", { n: Math.floor(age) });
  if (age < 7200) return t(lang, "age.min", { n: Math.floor(age / 60) });
  return t(lang, "age.h", { n: Math.floor(age / 3600) });
}

const COUNT_FORMATS = {
  nb: new Intl.NumberFormat("nb-NO", { maximumFractionDigits: 0 }),
  en: new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 }),
};

/** A count with the language's digit grouping (12 345 / 12,345). */
export function formatCount(lang, n) {
  return (COUNT_FORMATS[lang] ?? COUNT_FORMATS[DEFAULT_LANGUAGE]).format(n);
}
