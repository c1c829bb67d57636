// A simple figure of where the ECG electrodes go: a torso seen from the front (the patient's
// right on the viewer's left), four limb electrodes and V1–V6. SVG built in the page (no
// inline style: colours come from guided.css classes).

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

// [label, x, y, label dx, label dy, limb?] in the 200x240 view box
const ELECTRODES = [
  ["RA", 28, 150, 7, -6, true],
  ["LA", 172, 150, -22, -8, true],
  ["RL", 78, 232, 7, -6, true],
  ["LL", 122, 232, 7, -6, true],
  ["V1", 92, 92, -19, -6],
  ["V2", 108, 92, 4, -8],
  ["V3", 113, 104, 8, 0],
  ["V4", 120, 115, -9, 18],
  ["V5", 130, 117, -2, 30],
  ["V6", 139, 119, 4, 42],
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
  for (const [name, x, y, dx, dy, limb] of ELECTRODES) {
    if (dy > 10) {
      // a label placed below its electrode gets a leader line to it
      root.append(svg("line", { x1: x, y1: y + 4, x2: x + dx + 7, y2: y + dy - 10, class: "leader" }));
    }
    root.append(svg("circle", { cx: x, cy: y, r: 4, class: limb ? "electrode limb" : "electrode" }));
    const text = svg("text", { x: x + dx, y: y + dy, class: "electrode-label" });
    text.textContent = name;
    root.append(text);
  }
  return root;
}
