// Daily bar charts in plain SVG: labelled axes, gridlines, optional shaded windows and day markers,
// and a readout that names the day under the pointer (native tooltips are slow and hidden on touch).
// Drawn at the container's pixel width (text is never stretched) and redrawn when that changes.

import { debounce, money } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const H = 180;
const PAD = { top: 10, right: 10, bottom: 40, left: 64 };
const drawn = new Map(); // container -> last options, for redraws on resize

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

/** Round axis steps: 1, 2, 2.5, 5 x 10^n, about `count` of them up to `max`. */
function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v <= max + step * 0.999; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

/**
 * Draw `opts.points` ([{day: "YYYY-MM-DD", value}], oldest first) as bars into `container`.
 * opts: label (the chart's accessible name), format (value -> text), yTitle, xTitle, dataKey
 * (each bar's data-* name for its value), bands ([{from, to, label, kind}], days inclusive),
 * markers ([{day, label}]).
 */
export function drawBarChart(container, opts) {
  drawn.set(container, opts);
  const { points, format = String, label, yTitle = "", xTitle = "Day", dataKey = "value", bands = [], markers = [] } = opts;
  const W = Math.max(280, Math.round(container.clientWidth || 600));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const values = points.map((p) => Number(p.value || 0));
  const scale = ticks(Math.max(0, ...values));
  const top = scale.at(-1) || 1;
  const y = (v) => PAD.top + innerH - (v / top) * innerH;
  const step = points.length ? innerW / points.length : innerW;
  const x = (i) => PAD.left + i * step;
  const index = new Map(points.map((p, i) => [p.day, i]));
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": label, class: "bar-chart" });

  // Shaded windows first (behind the bars), clipped to the days shown.
  bands.forEach((band, row) => {
    const from = points.findIndex((p) => p.day >= band.from);
    const to = points.findLastIndex((p) => p.day <= band.to);
    if (from < 0 || to < from) return;
    const g = el("g", { class: `band band-${band.kind}`, "data-band": band.kind, "data-from": points[from].day, "data-to": points[to].day });
    g.append(el("rect", { x: x(from).toFixed(1), y: PAD.top, width: ((to - from + 1) * step).toFixed(1), height: innerH }),
      el("text", { x: (x(from) + 3).toFixed(1), y: PAD.top + 11 + 12 * row, class: "band-label" }, band.label));
    svg.append(g);
  });
  // Horizontal gridlines with the value axis labels.
  for (const v of scale) {
    svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v).toFixed(1), y2: y(v).toFixed(1), class: v === 0 ? "axis" : "grid" }),
      el("text", { x: PAD.left - 6, y: (y(v) + 4).toFixed(1), "text-anchor": "end", class: "tick" }, format(v)));
  }
  const gap = Math.min(2, step * 0.2);
  points.forEach((p, i) => {
    const v = values[i];
    const bh = Math.max(v > 0 ? 1 : 0, (v / top) * innerH);
    svg.append(el("rect", {
      x: (x(i) + gap / 2).toFixed(2), y: (PAD.top + innerH - bh).toFixed(2), width: Math.max(0.5, step - gap).toFixed(2),
      height: bh.toFixed(2), class: "bar", "data-day": p.day, [`data-${dataKey}`]: String(v),
    }));
  });
  // Day axis: about five dates, first and last included.
  const n = points.length;
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(innerW / 90))));
  for (let i = 0; i < n; i += every) {
    const anchor = i === 0 ? "start" : "middle";
    svg.append(el("text", { x: (x(i) + (i === 0 ? 0 : step / 2)).toFixed(1), y: PAD.top + innerH + 14, "text-anchor": anchor, class: "tick" }, points[i].day));
  }
  if (n > 1 && (n - 1) % every >= every / 2) { // the last day, unless a label sits right beside it
    svg.append(el("text", { x: W - PAD.right, y: PAD.top + innerH + 14, "text-anchor": "end", class: "tick tick-last" }, points[n - 1].day));
  }
  for (const m of markers) {
    const i = index.get(m.day);
    if (i === undefined) continue;
    const mx = (x(i) + step / 2).toFixed(1);
    const g = el("g", { class: "marker", "data-marker": m.day });
    g.append(el("line", { x1: mx, x2: mx, y1: PAD.top, y2: PAD.top + innerH }),
      el("text", { x: (Number(mx) + 3).toFixed(1), y: PAD.top + innerH - 4, class: "marker-label" }, m.label));
    svg.append(g);
  }
  svg.append(el("text", { x: PAD.left + innerW / 2, y: H - 6, "text-anchor": "middle", class: "axis-title" }, xTitle),
    el("text", { x: 12, y: PAD.top + innerH / 2, "text-anchor": "middle", class: "axis-title",
      transform: `rotate(-90 12 ${PAD.top + innerH / 2})` }, yTitle));

  const readout = document.createElement("p");
  readout.className = "chart-readout";
  readout.setAttribute("aria-hidden", "true"); // the figure's own text and table say it for screen readers
  readout.textContent = "\u00a0";
  svg.addEventListener("pointermove", (e) => {
    const box = svg.getBoundingClientRect();
    const i = Math.floor(((e.clientX - box.left) * (W / box.width) - PAD.left) / step);
    readout.textContent = i >= 0 && i < n ? `${points[i].day}: ${format(values[i])}` : "\u00a0";
  });
  svg.addEventListener("pointerleave", () => { readout.textContent = "\u00a0"; });
  container.replaceChildren(svg, readout);
}

const redrawAll = debounce(() => {
  for (const [container, opts] of drawn) {
    if (!container.isConnected) drawn.delete(container);
    else if (container.clientWidth && Math.abs(container.clientWidth - Number(container.querySelector("svg")?.getAttribute("width"))) > 2) {
      drawBarChart(container, opts);
    }
  }
}, 150);
window.addEventListener("resize", redrawAll);

/** The commerce strip's daily revenue (`points`: [{day, revenue}]). */
export function drawRevenueChart(container, points, currency) {
  const total = points.reduce((s, p) => s + Number(p.revenue || 0), 0);
  const max = Math.max(0, ...points.map((p) => Number(p.revenue || 0)));
  const first = points[0]?.day ?? "";
  const last = points.at(-1)?.day ?? "";
  drawBarChart(container, {
    points: points.map((p) => ({ day: p.day, value: Number(p.revenue || 0) })),
    format: (v) => money(v, currency, 0),
    label: points.length
      ? `Daily revenue from ${first} to ${last}: highest day ${money(max, currency, 0)}, total ${money(total, currency, 0)}`
      : "No daily revenue in this period",
    yTitle: `Revenue (${currency})`,
    xTitle: "Day (store time)",
    dataKey: "revenue",
  });
}
