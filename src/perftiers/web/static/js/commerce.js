// The commerce strip: revenue, orders and AOV for the chosen period against the period before,
// and the daily revenue chart.

import { get } from "./api.js";
import { drawRevenueChart } from "./chart.js";
import { change, h, int, isoDay, money, percent } from "./format.js";

const $ = (id) => document.getElementById(id);

let storeToday = null; // "today" in the store's timezone, as the API reckons it

/** Forget the store's date (after a run, or when the page has been open overnight). */
export function forgetToday() {
  storeToday = null;
}

function addDays(iso, n) {
  const [y, m, d] = iso.split("-").map(Number);
  return isoDay(new Date(y, m - 1, d), n);
}

/** KPIs and daily figures for the `days` days ending today in the store's timezone (which may
 *  not be the browser's): the API's default period tells what its today is. */
export async function loadCommerce(days) {
  let overview = null;
  if (!storeToday) {
    overview = await get("/analytics/commerce/overview");
    storeToday = overview.to;
  }
  const to = storeToday;
  const from = addDays(to, -(days - 1));
  const params = new URLSearchParams({ from, to });
  const [kpis, daily] = await Promise.all([
    overview && overview.from === from ? overview : get("/analytics/commerce/overview", params),
    get("/analytics/commerce/daily", params),
  ]);
  return { overview: kpis, daily, from, to };
}

function kpi(id, label, now, before, fmt) {
  const delta = change(now, before);
  const dir = delta == null ? "flat" : delta > 0 ? "up" : delta < 0 ? "down" : "flat";
  const arrow = { up: "▲", down: "▼", flat: "" }[dir];
  const vs = `vs ${fmt(before)} the period before`;
  return h("div", { class: "kpi", dataset: { kpi: id } },
    h("dt", {}, label),
    h("dd", { class: "kpi-value" }, fmt(now)),
    h("dd", { class: `kpi-change ${dir}` },
      delta == null ? h("span", {}, "no earlier sales to compare") : [h("span", { "aria-hidden": "true" }, `${arrow} `), `${percent(delta)} `, h("span", { class: "muted" }, vs)]));
}

export function renderCommerce({ overview, daily, from, to }) {
  const cur = overview.currency || "USD";
  const prev = overview.previous || {};
  $("kpis").replaceChildren(
    kpi("revenue", "Revenue", overview.revenue, prev.revenue, (v) => money(v, cur, 0)),
    kpi("orders", "Orders", overview.order_count, prev.order_count, int),
    kpi("aov", "Avg. order value", overview.aov, prev.aov, (v) => money(v, cur)),
  );
  drawRevenueChart($("revenue-chart"), fillDays(daily.items, from, to), cur);
  $("revenue-chart-caption").textContent = `Daily revenue, ${from} to ${to}`;
}

/** One point per calendar day in from..to; the API leaves out days without sales. */
function fillDays(items, from, to) {
  const byDay = new Map(items.map((d) => [String(d.day).slice(0, 10), Number(d.revenue)]));
  const out = [];
  const [y, m, d] = from.split("-").map(Number);
  for (let i = 0; ; i++) {
    const day = isoDay(new Date(y, m - 1, d), i);
    if (day > to) break;
    out.push({ day, revenue: byDay.get(day) ?? 0 });
  }
  return out;
}
