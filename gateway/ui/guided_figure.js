// A simple figure of where the ECG electrodes go: a torso seen from the front (the patient's
// right on the viewer's left), four limb electrodes and V1–V6. SVG built in the page (no
// inline style: colours come from guided.css classes).

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

// [label, x, y, limb?] in the 200x240 view box
const ELECTRODES = [
  ["RA", 28, 150, true],
  ["LA", 172, 150, true],
  ["RL", 78, 232, true],
  ["LL", 122, 232, true],
  ["V1", 91, 92],
  ["V2", 109, 92],
  ["V3", 117, 104],
  ["V4", 126, 115],
  ["V5", 140, 116],
  ["V6", 153, 117],
];

/** The electrode figure as an <svg> (role img, labelled). */
export function ecgFigure() {
  const root = svg("svg", { viewBox: "0 0 200 240", class: "ecg-figure", role: "img" });
  root.dataset.testid = "ecg-figure";
  root.setAttribute("aria-label", "RA LA RL LL V1 V2 V3 V4 V5 V6");
  root.append(
    svg("circle", { cx: 100, cy: 22, r: 16, class: "body" }),
    svg("path", {
      class: "body",
      d: "M62 44 Q100 36 138 44 L150 60 L178 150 L166 154 L142 90 L140 170 L128 240 "
        + "L108 240 L100 180 L92 240 L72 240 L60 170 L58 90 L34 154 L22 150 L50 60 Z",
    }),
    svg("line", { x1: 100, y1: 50, x2: 100, y2: 120, class: "sternum" }),
  );
  for (const [name, x, y, limb] of ELECTRODES) {
    root.append(svg("circle", { cx: x, cy: y, r: 5, class: limb ? "electrode limb" : "electrode" }));
    const text = svg("text", { x: x + (name === "V1" ? -16 : 7), y: y - 6, class: "electrode-label" });
    text.textContent = name;
    root.append(text);
  }
  return root;
}
