// Sync history: the last 10 runs of every kind (sync, refresh, history backfill, tag push), buttons
// to start a sync or a refresh, the freshness note, and polling while a run is in progress (then
// the page reloads its data).

import { get, post } from "./api.js";
import { dateTime, duration, h, humanize, int } from "./format.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1500;
let pollTimer = null;
let wasRunning = false;
let awaitingRefreshAfter = null; // a sync started with then_refresh: keep following until its refresh ends
let idlePolls = 0;
let hooks = { onRunFinished: () => {}, onError: () => {} };

/** The API's run kinds (RunKind) in words; an unknown kind shows as sent. */
const KIND_LABELS = { sync: "sync", refresh: "refresh", backfill: "history backfill", tags: "tag push" };
/** The counts a run of this kind is about, shown first (a tag push records its plan too). */
const MAIN_COUNTS = { tags: ["added", "removed", "failed"] };
const kindLabel = (kind) => KIND_LABELS[kind] ?? kind;

export function initRuns({ canRun, onRunFinished, onError }) {
  hooks = { onRunFinished, onError };
  for (const [id, path, label] of [
    ["run-sync", "/api/sync", "Sync"],
    ["run-refresh", "/api/performance-metrics/refresh", "Refresh"],
  ]) {
    const button = $(id);
    button.hidden = !canRun;
    button.addEventListener("click", () => startRun(path, label));
  }
  $("runs-note").textContent = canRun ? "" : "Viewers can see runs; an editor can start them.";
}

/** POST a run, then follow it until it ends. Used by the thresholds dialog too. */
export async function startRun(path, label) {
  const note = $("runs-note");
  try {
    const { data } = await post(path);
    awaitingRefreshAfter = data?.then_refresh ? data.run_id : null;
    idlePolls = 0;
    note.textContent = `${label} started (run ${data?.run_id ?? "?"}).`;
    $("sync-history").open = true;
    await loadRuns();
    return data;
  } catch (err) {
    note.textContent = "";
    hooks.onError(err.status === 409 ? `${label} not started: ${err.message}` : err.message);
    return null;
  }
}

/** No more polling (signing out). */
export function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
  wasRunning = false;
}

export async function loadRuns() {
  const data = await get("/api/sync/runs", new URLSearchParams({ limit: "10" }));
  const runs = Array.isArray(data) ? data : data.items || data.runs || [];
  renderRuns(runs);
  let running = runs.some((r) => r.status === "running");
  // Between a sync's end and the start of the refresh it triggers, nothing runs for a moment.
  if (!running && awaitingRefreshAfter && runs[0]?.run_id === awaitingRefreshAfter &&
      runs[0].status === "succeeded" && idlePolls++ < 10) running = true;
  if (runs[0]?.kind === "refresh" || runs[0]?.status === "failed") awaitingRefreshAfter = null;
  for (const id of ["run-sync", "run-refresh", "th-refresh"]) $(id).disabled = running;
  clearTimeout(pollTimer);
  if (running) {
    pollTimer = setTimeout(() => loadRuns().catch((e) => hooks.onError(e.message)), POLL_MS);
    wasRunning = true;
  } else if (wasRunning) {
    wasRunning = false;
    const last = runs[0];
    $("runs-note").textContent = last ? `${kindLabel(last.kind)} ${last.status} in ${duration(last.duration_ms)}.` : "";
    if (last?.status === "failed") hooks.onError(`${kindLabel(last.kind)} failed: ${last.error ?? "see sync history"}`);
    hooks.onRunFinished(last);
  }
  return runs;
}

/** A run's counts; for kinds with MAIN_COUNTS only those (every count stays in the tooltip and the API). */
function counts(c, kind) {
  const all = Object.entries(c || {});
  const main = MAIN_COUNTS[kind];
  const entries = main ? main.filter((k) => k in (c || {})).map((k) => [k, c[k]]) : all;
  if (!entries.length) return "—";
  const text = (v) => (typeof v === "number" ? int(v) : String(v));
  const title = main ? all.map(([k, v]) => `${humanize(k)} ${text(v)}`).join(", ") : null;
  return h("ul", { class: "counts", title }, entries.map(([k, v]) => h("li", { dataset: { count: k } }, `${humanize(k)} `, h("strong", {}, text(v)))));
}

function renderRuns(runs) {
  const body = $("runs-rows");
  if (!runs.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "7", class: "empty" }, "No runs yet.")));
    return;
  }
  body.replaceChildren(
    ...runs.map((r) => h("tr", { dataset: { run: r.run_id, kind: r.kind } },
      // data-label: the column name, shown beside the value when the phone layout stacks rows.
      h("td", { "data-label": "Kind" }, kindLabel(r.kind)),
      h("td", { "data-label": "Trigger" }, r.trigger),
      h("td", { "data-label": "Status" }, h("span", { class: `status status-${r.status}` }, r.status)),
      h("td", { "data-label": "Started" }, h("time", { datetime: r.started_at }, dateTime(r.started_at))),
      h("td", { "data-label": "Duration", class: "num" }, r.status === "running" ? "running…" : duration(r.duration_ms)),
      h("td", { "data-label": "Counts" }, counts(r.counts, r.kind)),
      h("td", { "data-label": "Error", class: "error-cell" }, r.error || "—"),
    )),
  );
}

/** "Data as of …": the reference date and time of the snapshot the table shows. */
export function renderFreshness({ asOf, refreshedAt, specVersion }) {
  const el = $("freshness");
  if (!asOf && !refreshedAt) {
    el.textContent = "No refresh has run yet.";
    return;
  }
  el.replaceChildren(
    "Data as of ",
    h("strong", {}, asOf || "—"),
    refreshedAt ? ` · refreshed ${dateTime(refreshedAt)}` : "",
  );
}
