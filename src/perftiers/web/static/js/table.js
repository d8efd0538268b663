// The products table: sortable headers, rows with one badge per flag, pagination.

import { navigate } from "./state.js";
import { date, h, int, money } from "./format.js";

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
      const active = state.sort === col.sort && canSort(col);
      const dir = active ? state.order || "asc" : null;
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
      th.append(
        h("button", {
          type: "button",
          class: "sort",
          dataset: { sort: col.sort },
          "aria-label": `Sort by ${col.label}${active ? `, now ${dir === "asc" ? "ascending" : "descending"}` : ""}`,
          title: col.short ? col.label : null,
          onclick: () => {
            const order = active ? (dir === "asc" ? "desc" : "asc") : col.num ? "desc" : "asc";
            navigate({ sort: col.sort, order, page: 1 });
          },
        }, col.short || col.label, arrow),
      );
      return th;
    }),
  );
  if (focused) row.querySelector(`button[data-sort="${focused}"]`)?.focus();
}

/** One badge per tier the row carries (`classifications`, in precedence order), its reasons as the tip. */
export function badges(item) {
  const held = item.classifications || [];
  if (!held.length) return [h("span", { class: "muted" }, "—")];
  return held.map((tier) => {
    const info = tiers.get(tier) ?? { label: tier, badge: tier };
    const why = (item.reasons || []).filter((r) => r.tier === tier).map((r) => r.text);
    const tip = why.length ? why.join("\n") : info.label;
    return h("button", {
      type: "button",
      class: `badge badge-${tier}${item.nominal_classification === tier ? " nominal" : ""}`,
      dataset: { tier, tip },
    }, info.badge, h("span", { class: "visually-hidden" }, `: ${why.join("; ")}`));
  });
}

function cell(col, item, currency) {
  const v = item[col.key];
  switch (col.key) {
    case "product_name":
      return h("td", { class: "product" },
        h("span", { class: "name" }, v || item.artifact_id),
        h("span", { class: "id" }, item.artifact_id),
        item.is_active ? null : h("span", { class: "pill pill-inactive" }, "inactive"),
        item.source === "manual" ? h("span", { class: "pill", title: "Changed by hand; kept across refreshes" }, "manual") : null);
    case "launch_date":
      return h("td", {}, date(v ?? item.launched_at));
    case "nominal_classification":
      return h("td", { class: "badges" }, badges(item));
    default:
      if (col.money) return h("td", { class: "num" }, money(v, currency, 0));
      if (col.num) return h("td", { class: "num" }, int(v));
      return h("td", {}, v ?? "—");
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
    ? `${int(page.total)} products · showing ${int(first)}–${int(last)}`
    : "0 products";
}

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
  $("pg-first").onclick = () => navigate({ page: 1 });
  $("pg-prev").onclick = () => navigate({ page: page.page - 1 });
  $("pg-next").onclick = () => navigate({ page: page.page + 1 });
  $("pg-last").onclick = () => navigate({ page: totalPages });
  input.onchange = () => {
    const n = Math.round(Number(input.value));
    if (Number.isFinite(n)) navigate({ page: Math.min(Math.max(n, 1), totalPages) });
    else input.value = String(page.page);
  };
}

/** `tiers`: the API's tier table (/schema), which labels the badges. */
export function initTable({ tiers: list }) {
  tiers = new Map(list.map((t) => [t.key, t]));
  $("pg-size").addEventListener("change", (e) => navigate({ pageSize: Number(e.target.value) }));
  $("pg-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      e.target.dispatchEvent(new Event("change"));
    }
  });
  initTooltip();
}

// One shared tooltip for badges: shown on hover and keyboard focus, toggled by tap.
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
  document.addEventListener("focusin", (e) => { const b = badgeOf(e); if (b) show(b); });
  document.addEventListener("focusout", (e) => { const b = badgeOf(e); if (b) hide(b); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !tip.hidden) hide(document.activeElement); });
  window.addEventListener("scroll", () => { tip.hidden = true; }, { passive: true, capture: true });
}
