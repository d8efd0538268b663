// The performance tracking page: sign-in, then one `render(state)` that draws the URL's state
// and loads what it needs from the API. Later answers to older states are dropped.

import { get, post, refuseNewRequests, request, setUnauthorizedHandler, settled } from "./api.js";
import { forgetAsOf, initChanges, loadChanges, renderChanges } from "./changes.js";
import { forgetToday, loadCommerce, renderCommerce } from "./commerce.js";
import { initFilters, renderCards, renderFacets, renderFilters } from "./filters.js";
import { h, setTimeZone } from "./format.js";
import { initProduct, renderProduct } from "./product.js";
import { FILTER_KEYS, current, onStateChange, queryString, setTiers, tidyUrl, toParams, navigate } from "./state.js";
import { initRuns, loadRuns, renderFreshness, startRun, stopPolling } from "./runs.js";
import { initTable, isSortable, renderHead, renderPager, renderRows, setSortable } from "./table.js";
import { initTags } from "./tags.js";
import { initThresholds, reloadIfOpen } from "./thresholds.js";
import { initWebhooks } from "./webhooks.js";

const $ = (id) => document.getElementById(id);
const LIST = "/api/performance-metrics";
let seq = 0;
let shownPeriod = null;
let session = null;
let currency = "USD";
let signingOut = false;
let listSeen = false; // a list or Changes view was shown in this tab: the product page's Back is history.back()
const SIGNIN_ERRORS = {
  invalid_link: "That sign-in link did not work: its token is unknown or has been revoked. " +
    "Paste a token below, or ask an admin for a new link.",
};

function showError(message) {
  if (signingOut) return;
  $("alert-text").textContent = message;
  $("alert").hidden = false;
}

function clearError() {
  $("alert").hidden = true;
}

function viewOf(state) {
  return state.product ? "product" : state.view === "changes" ? "changes" : "list";
}

/** The Products / Changes switch keeps the filters (the same URL state drives both). */
function renderViewLinks(state) {
  const view = viewOf(state);
  for (const [id, target] of [["view-list", ""], ["view-changes", "changes"]]) {
    const link = $(id);
    const next = { ...state, view: target, page: 1, product: "" };
    link.href = `${location.pathname}${queryString(toParams(next))}`;
    if ((target || "list") === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    link.onclick = (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate({ view: target, page: 1 });
    };
  }
}

async function render(state, { fromHistory = false } = {}) {
  if (state.sort && !isSortable(state.sort)) {
    navigate({ sort: "", order: "" }, { replace: true }); // e.g. an old link naming a removed column
    return;
  }
  tidyUrl(state);
  const view = viewOf(state);
  const before = document.body.dataset.view;
  document.body.dataset.view = view;
  if (view === "product") {
    seq++;
    if (before !== "product") window.scrollTo(0, 0);
    $("product-title").focus({ preventScroll: true });
    await renderProduct(state.product, currency);
    return;
  }
  document.title = "perftiers · product performance";
  listSeen = true;
  renderViewLinks(state);
  if (view === "changes") return renderChangesView(state, { fromHistory });
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

async function renderChangesView(state, { fromHistory }) {
  const mine = ++seq;
  renderFilters(state, { fromHistory });
  const filters = toParams(state, { keys: FILTER_KEYS });
  const summaryFilters = toParams(state, { keys: FILTER_KEYS, omit: ["classification"] });
  $("changes-view").setAttribute("aria-busy", "true");
  try {
    const [changes, summary, facets] = await Promise.all([
      loadChanges(state),
      get(`${LIST}/stats/summary`, summaryFilters),
      get(`${LIST}/facets`, filters),
    ]);
    if (mine !== seq) return;
    if (changes.total > 0 && changes.page > changes.totalPages) {
      navigate({ page: changes.totalPages }, { replace: true });
      return;
    }
    clearError();
    renderChanges(state, changes);
    renderCards(summary, state);
    renderFacets(facets, state);
  } catch (err) {
    if (mine !== seq || err.status === 401) return;
    showError(err.message);
  } finally {
    if (mine === seq) $("changes-view").setAttribute("aria-busy", "false");
  }
}

/** What each tier means, with the thresholds in force (the archive rule has none). */
function renderLegend(tiers, thresholds, settings) {
  $("legend-list").replaceChildren(...tiers.map((t) => {
    const own = thresholds.filter((th) => th.name.startsWith(`${t.key}_`));
    const values = own.map((th) => `${th.label}: ${settings?.[th.name] ?? th.default}`);
    return h("div", { class: "legend-item", dataset: { tier: t.key } },
      h("dt", {}, h("span", { class: `badge badge-${t.key}` }, t.badge)),
      h("dd", {}, t.rule, values.length ? h("span", { class: "legend-now" }, ` Now: ${values.join("; ")}.`) : null));
  }));
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
    return { tiers: [], thresholds: [], default_sort: [], store: {} };
  }
}

async function start(who) {
  session = who;
  const canEdit = who.role === "editor" || who.role === "admin";
  $("signin").hidden = true;
  $("booting").hidden = true;
  $("app").hidden = false;
  $("topbar-actions").hidden = false;
  $("whoami").textContent = `${who.name} · ${who.role}`;
  $("sign-out").addEventListener("click", signOut);
  const { tiers, thresholds, default_sort: defaultSort = [], store = {} } = await discover();
  setTimeZone(store.timezone || "UTC");
  setTiers(tiers.map((t) => t.key));
  initTable({ tiers, defaultSort });
  initFilters({ tiers });
  initChanges({ tiers });
  initProduct({
    canEdit, tiers, store, onError: showError, currency: () => currency,
    onBack: () => (listSeen ? history.back() : navigate({ product: "" })),
  });
  initRuns({
    canRun: canEdit,
    onError: showError,
    onRunFinished: () => {
      shownPeriod = null;
      forgetToday();
      forgetAsOf();
      render(current());
      reloadIfOpen().then((s) => renderLegend(tiers, thresholds, s));
    },
  });
  initThresholds({ canEdit, tiers, thresholds, onError: showError, onSaved: () => loadRuns().catch(() => {}) });
  renderLegend(tiers, thresholds, null);
  reloadIfOpen().then((s) => renderLegend(tiers, thresholds, s));
  if (who.role === "admin") initWebhooks({ tiers, onError: showError });
  if (canEdit) initTags({ canPush: who.role === "admin", startRun, onError: showError });
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
  $("booting").hidden = true;
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
  // A refused login link lands here with ?signin_error=...: say why on the form, then drop it from the URL.
  const refused = new URLSearchParams(location.search).get("signin_error");
  if (refused) {
    history.replaceState(null, "", location.pathname);
    $("signin-error").textContent = SIGNIN_ERRORS[refused] ?? "That sign-in link did not work. Paste a token below.";
  }
  try {
    // /api/session/status answers 200 signed in or not, so a signed-out visit logs no failed request.
    const { data } = await request("/api/session/status");
    if (!data?.signed_in) {
      showSignIn();
      return;
    }
    $("app").dataset.started = "1";
    await start(data);
  } catch (err) {
    $("booting").hidden = true;
    showError(err.message);
  }
}

boot();
