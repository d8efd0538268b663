// The performance tracking page: sign-in, then one `render(state)` that draws the URL's state
// and loads what it needs from the API. Later answers to older states are dropped.

import { ApiError, get, post, refuseNewRequests, request, setUnauthorizedHandler, settled } from "./api.js";
import { forgetToday, loadCommerce, renderCommerce } from "./commerce.js";
import { initFilters, renderCards, renderFacets, renderFilters } from "./filters.js";
import { FILTER_KEYS, current, onStateChange, queryString, setTiers, toParams, navigate } from "./state.js";
import { initRuns, loadRuns, renderFreshness, stopPolling } from "./runs.js";
import { initTable, isSortable, renderHead, renderPager, renderRows, setSortable } from "./table.js";
import { initThresholds, reloadIfOpen } from "./thresholds.js";
import { initWebhooks } from "./webhooks.js";

const $ = (id) => document.getElementById(id);
const LIST = "/api/performance-metrics";
let seq = 0;
let shownPeriod = null;
let session = null;
let currency = "USD";
let signingOut = false;

function showError(message) {
  if (signingOut) return;
  $("alert-text").textContent = message;
  $("alert").hidden = false;
}

function clearError() {
  $("alert").hidden = true;
}

async function render(state, { fromHistory = false } = {}) {
  if (state.sort && !isSortable(state.sort)) {
    navigate({ sort: "", order: "" }, { replace: true }); // e.g. an old link naming a removed column
    return;
  }
  const mine = ++seq;
  renderFilters(state, { fromHistory });
  renderHead(state);
  $("period").value = String(state.period);
  const exportParams = toParams(state, { omit: ["page", "pageSize", "period"] });
  exportParams.set("format", "csv");
  $("export-csv").href = `${LIST}/export${queryString(exportParams)}`;

  const filters = toParams(state, { keys: FILTER_KEYS });
  const summaryFilters = toParams(state, { keys: FILTER_KEYS, omit: ["classification"] });
  const listParams = toParams(state, { omit: ["period"], keepDefaults: true });
  listParams.delete("period");
  $("results").setAttribute("aria-busy", "true");
  const periodChanged = shownPeriod !== state.period;
  try {
    const [page, summary, facets, commerce] = await Promise.all([
      get(LIST, listParams),
      get(`${LIST}/stats/summary`, summaryFilters),
      get(`${LIST}/facets`, filters),
      periodChanged ? loadCommerce(state.period) : null,
    ]);
    if (mine !== seq) return;
    if (page.total > 0 && page.page > page.totalPages) {
      navigate({ page: page.totalPages }, { replace: true });
      return;
    }
    clearError();
    renderRows(page, currency);
    renderPager(page);
    renderCards(summary, state);
    renderFacets(facets, state);
    const first = page.items[0];
    if (first?.as_of) renderFreshness({ asOf: first.as_of, refreshedAt: first.refreshed_at, specVersion: first.spec_version });
    if (commerce) {
      currency = commerce.overview.currency || currency;
      renderCommerce(commerce);
      shownPeriod = state.period;
    }
  } catch (err) {
    if (mine !== seq || err.status === 401) return;
    showError(err.message);
  } finally {
    if (mine === seq) $("results").setAttribute("aria-busy", "false");
  }
}

/** The sortable columns, the tiers (cards, badges, Tier choices) and the thresholds' labels and help
 *  come from the API's own tables (`/schema`), so the page never names a tier itself. */
async function discover() {
  try {
    const schema = await get(`${LIST}/schema`);
    setSortable(schema.sorts.map((s) => s.param));
    return schema;
  } catch (err) {
    setSortable(null);
    showError(err.message);
    return { tiers: [], thresholds: [] };
  }
}

async function start(who) {
  session = who;
  const canEdit = who.role === "editor" || who.role === "admin";
  $("signin").hidden = true;
  $("app").hidden = false;
  $("topbar-actions").hidden = false;
  $("whoami").textContent = `${who.name} · ${who.role}`;
  $("sign-out").addEventListener("click", signOut);
  const { tiers, thresholds } = await discover();
  setTiers(tiers.map((t) => t.key));
  initTable({ tiers });
  initFilters({ tiers });
  initRuns({
    canRun: canEdit,
    onError: showError,
    onRunFinished: () => {
      shownPeriod = null;
      forgetToday();
      render(current());
      reloadIfOpen();
    },
  });
  initThresholds({ canEdit, tiers, thresholds, onError: showError, onSaved: () => loadRuns().catch(() => {}) });
  if (who.role === "admin") initWebhooks({ tiers, onError: showError });
  $("period").addEventListener("change", (e) => navigate({ period: Number(e.target.value) }));
  $("sync-history").addEventListener("toggle", (e) => {
    if (e.target.open) loadRuns().catch((err) => showError(err.message));
  });
  onStateChange(render);
  await Promise.all([render(current()), loadRuns().then(freshnessFromRuns).catch((err) => showError(err.message))]);
}

/** Before the table has rows, the last successful refresh tells how fresh the data is. */
function freshnessFromRuns(runs) {
  if ($("freshness").textContent) return;
  const last = runs.find((r) => r.kind === "refresh" && r.status === "succeeded");
  renderFreshness({ asOf: last?.as_of ?? last?.counts?.as_of, refreshedAt: last?.finished_at, specVersion: last?.spec_version });
}

/**
 * The one sign-out path: stop background work, let the answers to requests already sent arrive
 * (while the session still exists, so none is answered 401), end the session, then leave the
 * page. The sign-in form appears only after the session has ended, so nothing is in flight when
 * a person sees it, and a reload then aborts nothing.
 */
async function signOut() {
  if (signingOut) return;
  signingOut = true;
  const button = $("sign-out");
  button.disabled = true;
  button.textContent = "Signing out…";
  stopPolling();
  refuseNewRequests();
  await settled();
  try {
    await request("/api/session", { method: "DELETE", quiet401: true, whileClosing: true });
  } catch (err) {
    if (err.status !== 401) { // 401: the session had ended already
      signingOut = false;
      button.disabled = false;
      button.textContent = "Sign out";
      showError(`Could not sign out: ${err.message}. Reload the page and try again.`);
      return;
    }
  }
  location.assign("/");
}

function showSignIn() {
  $("app").hidden = true;
  $("topbar-actions").hidden = true;
  $("signin").hidden = false;
  $("signin-token").focus();
}

async function boot() {
  $("alert-close").addEventListener("click", clearError);
  setUnauthorizedHandler(() => {
    if (signingOut) return;
    if (session) showError("Your session has ended. Sign in again.");
    session = null;
    showSignIn();
  });
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("signin-error").textContent = "";
    try {
      const { data } = await post("/api/session", { token: $("signin-token").value.trim() }, { quiet401: true });
      $("signin-token").value = "";
      const who = data?.role ? data : (await request("/api/session")).data;
      if (session === null && !$("app").dataset.started) {
        $("app").dataset.started = "1";
        await start(who);
      } else {
        location.reload();
      }
    } catch (err) {
      $("signin-error").textContent = err.message;
    }
  });
  try {
    const { data } = await request("/api/session", { quiet401: true });
    $("app").dataset.started = "1";
    await start(data);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showSignIn();
    else showError(err.message);
  }
}

boot();
