// Formatting and tiny DOM helpers shared by the page's parts.

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const pctFmt = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero" });

export function int(value) {
  return value == null || value === "" ? "—" : intFmt.format(Number(value));
}

export function money(value, currency = "USD", digits = 2) {
  if (value == null || value === "") return "—";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: digits, minimumFractionDigits: digits }).format(Number(value));
  } catch {
    return `${Number(value).toFixed(digits)} ${currency}`;
  }
}

/** Relative change from `before` to `now`, or null when there is no base to compare with. */
export function change(now, before) {
  const a = Number(now);
  const b = Number(before);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return (a - b) / b;
}

export function percent(ratio) {
  return pctFmt.format(ratio);
}

// One date format everywhere: days as YYYY-MM-DD (store days, as the API gives them), times as
// "YYYY-MM-DD HH:MM <zone>" in the store's timezone (from /schema), so no two places disagree.
let storeZone = "UTC";

export function setTimeZone(zone) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    storeZone = zone;
  } catch {
    storeZone = "UTC";
  }
}

export function date(value) {
  if (!value) return "—";
  return String(value).slice(0, 10);
}

export function dateTime(value) {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
    timeZone: storeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", timeZoneName: "short",
  }).formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}

/** "1 product", "2 products". */
export function plural(n, one, many = `${one}s`) {
  return `${int(n)} ${Number(n) === 1 ? one : many}`;
}

/** Whole days from `a` to `b` (YYYY-MM-DD). */
export function daysBetween(a, b) {
  return Math.round((Date.parse(`${String(b).slice(0, 10)}T00:00:00Z`) - Date.parse(`${String(a).slice(0, 10)}T00:00:00Z`)) / 86400000);
}

/** `iso` (YYYY-MM-DD) moved by `n` days. */
export function addDays(iso, n) {
  const d = new Date(`${String(iso).slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export function duration(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function humanize(key) {
  return String(key).replaceAll("_", " ");
}

/** Create an element: h("td", {class: "num", title: "x"}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Run `redraw` (which replaces children of `container`) and give focus back to the element
 *  with the same id, so keyboard users keep their place when a redraw follows their action. */
export function keepFocus(container, redraw) {
  const active = document.activeElement;
  const id = active && container.contains(active) ? active.id : "";
  redraw();
  if (id && document.activeElement !== document.getElementById(id)) document.getElementById(id)?.focus();
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Local calendar date as YYYY-MM-DD, `offset` days from `base`. */
export function isoDay(base, offset = 0) {
  const d = new Date(base.getFullYear(), base.getMonth(), base.getDate() + offset);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
