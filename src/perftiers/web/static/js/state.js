// Page state <-> URL query string. The URL is the single source of truth: every change goes
// through `navigate`, and reload, back/forward and pasted links restore the same view.
// Parameter names are the API's own, so the list/summary/facets/export calls reuse them.

export const FILTER_KEYS = [
  "classification", "search", "product_type", "vendor", "tag",
  "launched_from", "launched_to", "is_active",
];
let tierKeys = []; // the tiers the API's /schema lists, set once before the first render
export const PAGE_SIZES = [25, 50, 100, 200];
export const PERIODS = [7, 30, 90];
const DEFAULTS = { page: 1, pageSize: 50, period: 30 };
export const SINCE_CHOICES = ["previous", "7", "30"]; // the Changes view's "since": a refresh, N days, or a date
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The tier keys a `classification` in the URL may name (from the API's /schema). */
export function setTiers(keys) {
  tierKeys = keys;
}

/** A real calendar date as YYYY-MM-DD (2025-02-30 is not one). */
function isDate(value) {
  if (!DATE_RE.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

function posInt(value, fallback) {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : fallback;
}

/** Parse a query string into a complete, sanitised state object. */
export function parseState(search) {
  const q = new URLSearchParams(search);
  const one = (k) => (q.get(k) ?? "").trim();
  const date = (k) => (isDate(one(k)) ? one(k) : "");
  const classification = tierKeys.includes(one("classification")) ? one("classification") : "";
  const pageSize = PAGE_SIZES.includes(Number(one("pageSize"))) ? Number(one("pageSize")) : DEFAULTS.pageSize;
  const period = PERIODS.includes(Number(one("period"))) ? Number(one("period")) : DEFAULTS.period;
  const since = one("since");
  return {
    // `product`: the product page (its own URL, nothing else in it); `view=changes`: the Changes view.
    product: one("product"),
    view: one("view") === "changes" ? "changes" : "",
    since: SINCE_CHOICES.includes(since) || isDate(since) ? since : "previous",
    classification,
    search: q.get("search") ?? "",
    product_type: one("product_type"),
    vendor: one("vendor"),
    tag: [...new Set(q.getAll("tag").filter(Boolean))].sort(),
    launched_from: date("launched_from"),
    launched_to: date("launched_to"),
    is_active: ["true", "false"].includes(one("is_active")) ? one("is_active") : "",
    sort: one("sort"),
    order: ["asc", "desc"].includes(one("order")) ? one("order") : "",
    page: posInt(one("page"), DEFAULTS.page),
    pageSize,
    period,
  };
}

/** Query parameters for `state`, leaving out empty values and defaults.
 *  `keys` limits the output (e.g. FILTER_KEYS for the summary call). */
export function toParams(state, { keys = null, omit = [], keepDefaults = false } = {}) {
  const p = new URLSearchParams();
  const wanted = (k) => (!keys || keys.includes(k)) && !omit.includes(k);
  if (wanted("product") && state.product) {
    p.set("product", state.product);
    return p;
  }
  if (wanted("view") && state.view) {
    p.set("view", state.view);
    if (state.since !== "previous") p.set("since", state.since);
  }
  for (const k of FILTER_KEYS) {
    if (!wanted(k)) continue;
    if (k === "tag") state.tag.forEach((t) => p.append("tag", t));
    else if (state[k] !== "" && state[k] != null) p.set(k, state[k]);
  }
  if (wanted("sort") && state.sort) {
    p.set("sort", state.sort);
    if (state.order) p.set("order", state.order);
  }
  for (const k of ["page", "pageSize", "period"]) {
    if (wanted(k) && (keepDefaults || state[k] !== DEFAULTS[k])) p.set(k, String(state[k]));
  }
  return p;
}

export function queryString(params) {
  const s = params.toString();
  return s ? `?${s}` : "";
}

export function hasFilters(state) {
  return FILTER_KEYS.some((k) => (k === "tag" ? state.tag.length > 0 : state[k] !== ""));
}

let listener = () => {};

/** Register the function that renders a state; called now and on every history move. */
export function onStateChange(fn) {
  listener = fn;
  window.addEventListener("popstate", () => listener(parseState(location.search), { fromHistory: true }));
}

export function current() {
  return parseState(location.search);
}

/** The address bar without the values parsing dropped or corrected (a bad sort, page size, date,
 *  tier...): replaced in place, so a shared or reloaded link is the view on screen. */
export function tidyUrl(state) {
  const url = `${location.pathname}${queryString(toParams(state))}`;
  if (url !== `${location.pathname}${location.search}`) history.replaceState(null, "", url);
}

/** A product page's URL (a link people can open in a new tab or share). */
export function productHref(id) {
  return `${location.pathname}?${new URLSearchParams({ product: id })}`;
}

/** Apply `changes` to the current state, record it in history and render it.
 *  A filter change goes back to page 1 unless `page` is part of the change. */
export function navigate(changes, { replace = false } = {}) {
  const before = current();
  const next = { ...before, ...changes };
  if (!("product" in changes)) next.product = ""; // any list or Changes change leaves the product page
  if (!("page" in changes) && Object.keys(changes).some((k) => FILTER_KEYS.includes(k) || k === "pageSize")) {
    next.page = 1;
  }
  const url = `${location.pathname}${queryString(toParams(next))}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listener(parseState(location.search), { fromHistory: false });
}
