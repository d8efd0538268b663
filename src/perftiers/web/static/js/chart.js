// A small daily-revenue bar chart in plain SVG: one bar per day, a baseline, min/max labels.

import { money } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 600;
const H = 140;
const PAD = { top: 6, right: 2, bottom: 2, left: 2 };

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

/** Draw `points` ([{day: "YYYY-MM-DD", revenue: number}], oldest first) into `container`. */
export function drawRevenueChart(container, points, currency) {
  const total = points.reduce((s, p) => s + Number(p.revenue || 0), 0);
  const max = Math.max(0, ...points.map((p) => Number(p.revenue || 0)));
  const first = points[0]?.day ?? "";
  const last = points.at(-1)?.day ?? "";
  const svg = el("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": points.length
      ? `Daily revenue from ${first} to ${last}: highest day ${money(max, currency, 0)}, total ${money(total, currency, 0)}`
      : "No daily revenue in this period",
    preserveAspectRatio: "none",
    class: "revenue-chart",
  });
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const step = points.length ? innerW / points.length : innerW;
  const gap = Math.min(2, step * 0.2);
  points.forEach((p, i) => {
    const v = Number(p.revenue || 0);
    const bh = max > 0 ? Math.max(v > 0 ? 1 : 0, (v / max) * innerH) : 0;
    const rect = el("rect", {
      x: (PAD.left + i * step + gap / 2).toFixed(2),
      y: (PAD.top + innerH - bh).toFixed(2),
      width: Math.max(0.5, step - gap).toFixed(2),
      height: bh.toFixed(2),
      class: "bar",
      "data-day": p.day,
      "data-revenue": String(v),
    });
    rect.append(el("title", {}, `${p.day}: ${money(v, currency)}`));
    svg.append(rect);
  });
  svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: PAD.top + innerH, y2: PAD.top + innerH, class: "axis" }));
  // Labels live in HTML: text inside a stretched (preserveAspectRatio=none) SVG would distort.
  const ticks = document.createElement("div");
  ticks.className = "chart-ticks";
  ticks.setAttribute("aria-hidden", "true");
  for (const label of [first, `max ${money(max, currency, 0)}`, last]) {
    const span = document.createElement("span");
    span.textContent = label;
    ticks.append(span);
  }
  container.replaceChildren(svg, ticks);
}
