// The product page (`?product=<id>`): facts, badges with their reasons in words, lifetime and 30-day
// figures, a daily units and revenue chart (launch day marked, launch and last-30-day windows shaded),
// the tier timeline, the manual override (edit and remove for editors) and the Shopify admin link.

import { get, request } from "./api.js";
import { drawBarChart } from "./chart.js";
import { addDays, date, daysBetween, h, int, money, plural } from "./format.js";
import { badges, windowValue } from "./table.js";

const $ = (id) => document.getElementById(id);
const LIST = "/api/performance-metrics";
const MAX_CHART_DAYS = 730; // older products show their last year (the launch windows are long past)
const EDITABLE = { product_name: "Name", product_type: "Type", vendor: "Vendor", is_active: "Active" };

let opts = { canEdit: false, tiers: [], store: {}, onError: () => {}, onBack: () => {} };
let seq = 0;

export function initProduct(options) {
  opts = { ...opts, ...options };
  $("back-to-list").addEventListener("click", (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    opts.onBack();
  });
}

const enc = (id) => encodeURIComponent(id).replaceAll("%2F", "/");

/** Draw the product `id`; returns once drawn (or failed with a message on the page). */
export async function renderProduct(id, currency) {
  const mine = ++seq;
  const view = $("product-body");
  view.setAttribute("aria-busy", "true");
  $("product-title").textContent = id;
  try {
    const [item, overrides] = await Promise.all([get(`${LIST}/${enc(id)}`), get(`${LIST}/overrides`)]);
    if (mine !== seq) return;
    const end = item.as_of;
    const launch = item.launch_date;
    const lifeDays = launch ? daysBetween(launch, end) + 1 : 0;
    const from = launch && lifeDays <= MAX_CHART_DAYS ? addDays(launch, -2) : addDays(end, -364);
    const history = await get(`${LIST}/${enc(id)}/history`, new URLSearchParams({ from, to: end }));
    if (mine !== seq) return;
    const override = (overrides.items || []).find((o) => o.artifact_id === id) ?? null;
    draw(item, history, override, currency);
  } catch (err) {
    if (mine !== seq) return;
    $("product-title").textContent = err.status === 404 ? "Product not found" : "Product";
    view.replaceChildren(h("p", { class: "error-block", role: "alert" },
      err.status === 404 ? `No product with the identifier “${id}” in the current data.` : err.message));
  } finally {
    if (mine === seq) view.setAttribute("aria-busy", "false");
  }
}

function fact(label, value) {
  return [h("dt", {}, label), h("dd", {}, value ?? "—")];
}

function figure(label, value, key) {
  return h("div", { class: "figure", dataset: { figure: key } }, h("dt", {}, label), h("dd", {}, value));
}

function draw(item, history, override, currency) {
  $("product-title").textContent = item.product_name || item.artifact_id;
  document.title = `${item.product_name || item.artifact_id} · perftiers`;
  const shopUrl = opts.store?.shopify_product_url;
  const reasons = item.reasons || [];
  const tierOf = new Map(opts.tiers.map((t) => [t.key, t]));
  const launch = item.launch_date;

  const facts = h("dl", { class: "facts" },
    fact("Identifier", h("code", {}, item.artifact_id)),
    fact("Type", item.product_type),
    fact("Vendor", item.vendor),
    fact("Tags", item.tags?.length ? h("span", { class: "tags" }, item.tags.map((t) => h("span", { class: "pill" }, t))) : "—"),
    fact("Status", item.is_active ? "Active" : "Inactive"),
    fact("Launched", launch ? date(launch) : "—"),
    fact("Data as of", date(item.as_of)));

  const why = h("section", { class: "panel", "aria-labelledby": "p-tiers-title" },
    h("h3", { id: "p-tiers-title" }, "Tiers now"),
    h("p", { class: "badges" }, badges(item)),
    reasons.length
      ? h("ul", { class: "reasons", id: "p-reasons" }, reasons.map((r) => h("li", { dataset: { tier: r.tier } },
        h("strong", {}, `${tierOf.get(r.tier)?.label ?? r.tier}: `), `${r.text}.`)))
      : h("p", { class: "muted", id: "p-reasons" }, "In no tier: none of the rules holds."));

  const figures = h("section", { class: "panel", "aria-labelledby": "p-figures-title" },
    h("h3", { id: "p-figures-title" }, "Figures"),
    h("dl", { class: "figures" },
      figure("Lifetime units", int(item.aggregate_measurement_value), "lifetime_units"),
      figure("Lifetime revenue", money(item.lifetime_revenue, currency, 0), "lifetime_revenue"),
      figure("Units, last 30 days", int(item.sales_last_30_days), "units_30"),
      figure("Revenue, last 30 days", money(item.revenue_last_30_days, currency, 0), "revenue_30"),
      figure("Units, first 7 days", windowValue(item, "sales_first_7_days"), "first_7"),
      figure("Units, first 14 days", windowValue(item, "sales_first_14_days"), "first_14")));

  const chartPanel = h("section", { class: "panel", "aria-labelledby": "p-chart-title" },
    h("h3", { id: "p-chart-title" }, "Daily sales"),
    h("p", { class: "note", id: "p-chart-note" }),
    h("figure", { class: "chart" }, h("div", { id: "p-units-chart", class: "chart-box" }), h("figcaption", {}, "Units per day")),
    h("figure", { class: "chart" }, h("div", { id: "p-revenue-chart", class: "chart-box" }), h("figcaption", {}, "Net revenue per day")));

  const timeline = h("section", { class: "panel", "aria-labelledby": "p-timeline-title" },
    h("h3", { id: "p-timeline-title" }, "Tier timeline"),
    timelineTable(history.periods, tierOf));

  const parts = [facts, why, figures, chartPanel, timeline, overridePanel(item, override)];
  if (shopUrl) {
    parts.splice(1, 0, h("p", {}, h("a", { class: "btn", id: "shopify-link", href: `${shopUrl}${encodeURIComponent(item.artifact_id)}`,
      target: "_blank", rel: "noopener noreferrer" }, "Open in Shopify admin ↗")));
  }
  $("product-body").replaceChildren(...parts);
  drawCharts(item, history, currency);
}

function drawCharts(item, history, currency) {
  const days = history.daily || [];
  const launch = item.launch_date;
  const end = item.as_of;
  const bands = [];
  const markers = [];
  if (launch) {
    bands.push({ from: launch, to: addDays(launch, 13), label: "first 14 days", kind: "first-14" });
    bands.push({ from: launch, to: addDays(launch, 6), label: "first 7", kind: "first-7" });
    markers.push({ day: launch, label: "launch" });
  }
  bands.push({ from: addDays(end, -29), to: end, label: "last 30 days", kind: "last-30" });
  const first = days[0]?.day;
  const last = days.at(-1)?.day;
  $("p-chart-note").textContent = first
    ? `${first} to ${last}${launch && launch < first ? ` (launched ${launch}, before this range)` : ""}. ` +
      "Shaded: the first 7 and 14 days from launch and the last 30 days."
    : "No daily sales in this range.";
  const units = days.reduce((s, d) => s + d.units, 0);
  const revenue = days.reduce((s, d) => s + Number(d.net_revenue), 0);
  drawBarChart($("p-units-chart"), {
    points: days.map((d) => ({ day: d.day, value: d.units })),
    format: int,
    label: `Units per day from ${first} to ${last}: ${plural(units, "unit")} in all${launch ? `, launched ${launch}` : ""}`,
    yTitle: "Units", xTitle: "Day (store time)", dataKey: "units", bands, markers,
  });
  drawBarChart($("p-revenue-chart"), {
    points: days.map((d) => ({ day: d.day, value: Number(d.net_revenue) })),
    format: (v) => money(v, currency, 0),
    label: `Net revenue per day from ${first} to ${last}: ${money(revenue, currency, 0)} in all`,
    yTitle: `Revenue (${currency})`, xTitle: "Day (store time)", dataKey: "revenue", bands, markers,
  });
}

function timelineTable(periods, tierOf) {
  if (!periods?.length) return h("p", { class: "muted" }, "No tier history in this range.");
  const rows = [...periods].reverse().map((p) => h("tr", { dataset: { from: p.valid_from } },
    h("td", { "data-label": "From" }, date(p.valid_from)),
    h("td", { "data-label": "Until" }, p.valid_to ? date(p.valid_to) : "now"),
    h("td", { "data-label": "Tiers" }, p.classifications.length
      ? p.classifications.map((t) => h("span", { class: `badge badge-${t}`, dataset: { tier: t } }, tierOf.get(t)?.badge ?? t))
      : h("span", { class: "muted" }, "none")),
    h("td", { "data-label": "Note" }, p.backfilled ? "worked out afterwards" : "")));
  return h("div", { class: "table-wrap" }, h("table", { id: "timeline" },
    h("caption", { class: "visually-hidden" }, "Tier periods, newest first"),
    h("thead", {}, h("tr", {}, ["From", "Until", "Tiers", "Note"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));
}

function overridePanel(item, override) {
  const panel = h("section", { class: "panel", id: "override", "aria-labelledby": "p-override-title" },
    h("h3", { id: "p-override-title" }, "Manual change"));
  if (!override) {
    panel.append(h("p", { class: "muted" }, "None: every value comes from the store."));
    return panel;
  }
  const fields = Object.entries(override.fields || {});
  panel.append(
    h("p", {}, override.deleted ? "Deleted by hand; kept deleted across refreshes." : "Changed by hand; kept across refreshes:"),
    h("dl", { class: "facts", id: "override-fields" }, fields.flatMap(([k, v]) => fact(EDITABLE[k] ?? k, Array.isArray(v) ? v.join(", ") : String(v)))),
    h("p", { class: "error", id: "override-error", role: "alert" }));
  if (!opts.canEdit) return panel;
  const editable = fields.filter(([k]) => k in EDITABLE);
  const actions = h("div", { class: "dialog-actions start" });
  if (editable.length && !override.deleted) {
    actions.append(h("button", { type: "button", class: "btn", id: "override-edit", onclick: () => editForm(panel, item, editable) }, "Edit"));
  }
  actions.append(h("button", { type: "button", class: "btn", id: "override-remove", onclick: () => remove(panel, item) }, "Remove"));
  panel.append(actions);
  return panel;
}

function editForm(panel, item, fields) {
  const form = h("form", { id: "override-form", class: "override-form", novalidate: true },
    fields.map(([k, v]) => {
      const id = `ov-${k}`;
      return k === "is_active"
        ? h("div", { class: "check" }, h("input", { id, name: k, type: "checkbox", checked: Boolean(item[k]) }), h("label", { for: id }, EDITABLE[k]))
        : h("div", { class: "field" }, h("label", { for: id }, EDITABLE[k]), h("input", { id, name: k, type: "text", value: item[k] ?? v ?? "" }));
    }),
    h("div", { class: "dialog-actions start" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Save change"),
      h("button", { type: "button", class: "btn", onclick: () => form.remove() }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    for (const [k] of fields) {
      const input = form.elements[k];
      body[k] = k === "is_active" ? input.checked : input.value.trim() || null;
    }
    try {
      await request(`${LIST}/${enc(item.artifact_id)}`, { method: "PUT", body });
      await renderProduct(item.artifact_id, opts.currency?.() ?? "USD");
      $("override")?.append(h("p", { class: "note", role: "status" }, "Saved."));
    } catch (err) {
      $("override-error").textContent = err.message;
    }
  });
  $("override-form")?.remove();
  panel.append(form);
  form.querySelector("input")?.focus();
}

async function remove(panel, item) {
  const button = $("override-remove");
  if (button.dataset.confirm !== "1") { // a second click confirms: nothing is undone by accident
    button.dataset.confirm = "1";
    button.textContent = "Remove: are you sure?";
    return;
  }
  try {
    const { data } = await request(`${LIST}/overrides/${enc(item.artifact_id)}`, { method: "DELETE" });
    panel.replaceChildren(h("h3", { id: "p-override-title" }, "Manual change"),
      h("p", { role: "status", id: "override-removed" }, data?.message ?? "Removed."));
  } catch (err) {
    $("override-error").textContent = err.message;
  }
}
