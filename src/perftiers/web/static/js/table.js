// The products table: sortable headers, rows with one badge per flag, pagination.

import { navigate, productHref } from "./state.js";
import { date, daysBetween, h, int, money, plural } from "./format.js";

// key: the item field shown; sort: the API sort column (null = not sortable); short: the visible
// header where the full label (kept for screen readers and the tooltip) would crowd the table.
const COLUMNS = [
  { key: "product_name", label: "Product", sort: "product_name" },
  { key: "nominal_classification", label: "Tiers", sort: "nominal_classification" },
  { key: "product_type", label: "Type", sort: "product_type" },
  { key: "vendor", label: "Vendor", sort: "vendor" },
  { key: "launch_date", label: "Launched", sort: "launch_date" },
  { key: "sales_first_7_days", label: "First 7 days", short: "First 7 d", sort: "sales_first_7_days", num: true },
  { key: "sales_first_14_days", label: "First 14 days", short: "First 14 d", sort: "sales_first_14_days", num: true },
  { key: "sales_last_30_days", label: "Last 30 days", short: "Last 30 d", sort: "sales_last_30_days", num: true },
  { key: "aggregate_measurement_value", label: "Lifetime units", short: "Lifetime", sort: "aggregate_measurement_value", num: true },
  { key: "revenue_last_30_days", label: "Revenue 30 days", short: "Revenue 30 d", sort: "revenue_last_30_days", num: true, money: true },
];

let sortable = null; // Set of sort columns the API accepts, once known
let tiers = new Map(); // tier key -> the API's tier (labels), from /schema
let defaultSort = null; // the API's order without `sort` (/schema default_sort[0]): shown on its header
const WINDOWS = { sales_first_7_days: 7, sales_first_14_days: 14 }; // launch windows: days long

/** Restrict clickable headers to the columns the API can sort by. */
export function setSortable(columns) {
  sortable = columns ? new Set(columns) : null;
}

/** Whether the API sorts by `param` (true until the API's list is known). */
export function isSortable(param) {
  return !sortable || sortable.has(param);
}

const canSort = (col) => col.sort && (!sortable || sortable.has(col.sort));
const $ = (id) => document.getElementById(id);

export function renderHead(state) {
  const row = $("head-row");
  const focused = document.activeElement?.closest?.("#head-row button.sort")?.dataset.sort;
  row.replaceChildren(
    ...COLUMNS.map((col) => {
      // Without `sort` the API's default order is in force: its first key's header says so.
      const byDefault = !state.sort && defaultSort?.param === col.sort;
      const active = (state.sort === col.sort || byDefault) && canSort(col);
      const dir = active ? (byDefault ? defaultSort.order : state.order || "asc") : null;
      const th = h("th", {
        scope: "col",
        class: col.num ? "num" : null,
        "aria-sort": active ? (dir === "asc" ? "ascending" : "descending") : canSort(col) ? "none" : null,
      });
      if (!canSort(col)) {
        th.append(col.short ? h("abbr", { title: col.label }, col.short) : col.label);
        return th;
      }
      const arrow = h("span", { class: "arrow", "aria-hidden": "true" }, active ? (dir === "asc" ? "▲" : "▼") : "↕");
      const note = byDefault ? h("span", { class: "default-order" }, "default") : null;
      const how = col.sort === "nominal_classification" ? ` (${[...tiers.values()].map((t) => t.label.toLowerCase()).join(", ")}, none)` : "";
      th.append(
        h("button", {
          type: "button",
          class: "sort",
          dataset: { sort: col.sort },
          "aria-label": `Sort by ${col.label}${active ? `, now ${dir === "asc" ? "ascending" : "descending"}${byDefault ? " (the default order)" : ""}` : ""}`,
          title: byDefault ? `Default order: ${col.label.toLowerCase()}${how}, then lifetime units` : col.short ? col.label : null,
          onclick: () => {
            const order = active ? (dir === "asc" ? "desc" : "asc") : col.num ? "desc" : "asc";
            navigate({ sort: col.sort, order, page: 1 });
          },
        }, col.short || col.label, arrow, note),
      );
      return th;
    }),
  );
  if (focused) row.querySelector(`button[data-sort="${focused}"]`)?.focus();
}

/** One badge per tier the row carries (`classifications`, in precedence order), its reasons as the tip.
 *  Badges are not Tab stops (a page of them would be hundreds): the reasons are part of the row's text
 *  for screen readers, a hover tip for the pointer, and written out on the product page. */
export function badges(item) {
  const held = item.classifications || [];
  if (!held.length) return [h("span", { class: "muted" }, "—")];
  return held.map((tier) => {
    const info = tiers.get(tier) ?? { label: tier, badge: tier };
    const why = (item.reasons || []).filter((r) => r.tier === tier).map((r) => r.text);
    const tip = why.length ? why.join("\n") : info.label;
    return h("span", {
      class: `badge badge-${tier}${item.nominal_classification === tier ? " nominal" : ""}`,
      dataset: { tier, tip },
    }, info.badge, why.length ? h("span", { class: "visually-hidden" }, `: ${why.join("; ")}.`) : null);
  });
}

/** A launch window's units; "13 (day 3 of 7)" while the window has not ended on the reference date. */
export function windowValue(item, key) {
  const length = WINDOWS[key];
  const launch = item.launch_date;
  if (!length || !launch || !item.as_of) return int(item[key]);
  const day = daysBetween(launch, item.as_of) + 1;
  if (day >= length) return int(item[key]);
  return h("span", { class: "partial", title: `The ${length}-day window from launch ends after day ${length}` },
    int(item[key]), " ", h("span", { class: "day-of" }, `(day ${Math.max(day, 1)} of ${length})`));
}

/** A link to the product page that stays in the page (history entry, no reload). */
export function productLink(id, text, attrs = {}) {
  return h("a", {
    ...attrs,
    href: productHref(id),
    onclick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return; // new tab etc.
      e.preventDefault();
      navigate({ product: id });
    },
  }, text);
}

function cell(col, item, currency) {
  const v = item[col.key];
  const td = (attrs, ...children) => h("td", { ...attrs, "data-label": col.label }, ...children);
  switch (col.key) {
    case "product_name":
      return td({ class: "product" },
        productLink(item.artifact_id, v || item.artifact_id, { class: "name" }),
        h("span", { class: "id" }, item.artifact_id),
        item.is_active ? null : h("span", { class: "pill pill-inactive" }, "inactive"),
        item.source === "manual" ? h("span", { class: "pill", title: "Changed by hand; kept across refreshes" }, "manual") : null);
    case "launch_date":
      return td({}, date(v ?? item.launched_at));
    case "nominal_classification":
      return td({ class: "badges" }, badges(item));
    default:
      if (col.money) return td({ class: "num" }, money(v, currency, 0));
      if (col.key in WINDOWS) return td({ class: "num" }, windowValue(item, col.key));
      if (col.num) return td({ class: "num" }, int(v));
      return td({}, v ?? "—");
  }
}

export function renderRows(page, currency) {
  const rows = $("rows");
  rows.replaceChildren(
    ...page.items.map((item) => h("tr", { dataset: { id: item.artifact_id } }, COLUMNS.map((c) => cell(c, item, currency)))),
  );
  $("empty").hidden = page.items.length > 0;
  $("products").classList.toggle("is-empty", page.items.length === 0);
  const first = page.total ? (page.page - 1) * page.pageSize + 1 : 0;
  const last = Math.min(page.total, page.page * page.pageSize);
  $("total").textContent = page.total
    ? `${plural(page.total, "product")} · showing ${int(first)}–${int(last)}`
    : "0 products";
}

let pendingScroll = false;

export function renderPager(page) {
  const totalPages = Math.max(1, page.totalPages || 1);
  const input = $("pg-input");
  input.value = String(page.page);
  input.max = String(totalPages);
  input.setAttribute("aria-label", `Page number, 1 to ${totalPages}`);
  $("pg-of").textContent = `of ${int(totalPages)}`;
  $("pg-first").disabled = $("pg-prev").disabled = page.page <= 1;
  $("pg-next").disabled = $("pg-last").disabled = page.page >= totalPages;
  $("pg-size").value = String(page.pageSize);
  // A new page starts at its first row: the table is scrolled back into view once it is drawn.
  const go = (n) => {
    pendingScroll = true;
    navigate({ page: n });
  };
  $("pg-first").onclick = () => go(1);
  $("pg-prev").onclick = () => go(page.page - 1);
  $("pg-next").onclick = () => go(page.page + 1);
  $("pg-last").onclick = () => go(totalPages);
  input.onchange = () => {
    const n = Math.round(Number(input.value));
    if (Number.isFinite(n)) go(Math.min(Math.max(n, 1), totalPages));
    else input.value = String(page.page);
  };
  if (pendingScroll) {
    pendingScroll = false;
    $("table-wrap").scrollTop = 0;
    const top = $("results").getBoundingClientRect().top;
    if (top < 0) $("results").scrollIntoView({ block: "start" });
  }
}

/** `tiers`: the API's tier table (/schema), which labels the badges. */
export function initTable({ tiers: list, defaultSort: order = [] }) {
  tiers = new Map(list.map((t) => [t.key, t]));
  defaultSort = order[0] ?? null;
  $("pg-size").addEventListener("change", (e) => navigate({ pageSize: Number(e.target.value) }));
  $("pg-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      e.target.dispatchEvent(new Event("change"));
    }
  });
  initTooltip();
}

// One shared tooltip for badges: shown on hover (the reasons are also in the row's text).
function initTooltip() {
  const tip = $("tooltip");
  const show = (el) => {
    tip.textContent = el.dataset.tip;
    tip.hidden = false;
    const r = el.getBoundingClientRect();
    const w = Math.min(360, window.innerWidth - 16);
    tip.style.maxWidth = `${w}px`;
    const left = Math.min(Math.max(8, r.left), window.innerWidth - tip.offsetWidth - 8);
    const below = r.bottom + 6 + tip.offsetHeight < window.innerHeight;
    tip.style.left = `${left}px`;
    tip.style.top = `${below ? r.bottom + 6 : r.top - tip.offsetHeight - 6}px`;
    el.setAttribute("aria-describedby", "tooltip");
  };
  const hide = (el) => {
    tip.hidden = true;
    el?.removeAttribute("aria-describedby");
  };
  const badgeOf = (e) => e.target.closest?.(".badge[data-tip]");
  document.addEventListener("mouseover", (e) => { const b = badgeOf(e); if (b) show(b); });
  document.addEventListener("mouseout", (e) => { const b = badgeOf(e); if (b) hide(b); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !tip.hidden) hide(document.activeElement); });
  // A scroll moves the badge: follow it while the pointer is still on it, else hide the tip.
  window.addEventListener("scroll", () => {
    if (tip.hidden) return;
    const hovered = document.querySelector(".badge[data-tip]:hover");
    if (hovered) show(hovered);
    else tip.hidden = true;
  }, { passive: true, capture: true });
}
