// The Changes view (`?view=changes&since=...`): per tier, how many products entered and left it since
// the previous refresh, 7 or 30 days ago or a chosen date, under the table's filters; then the products
// that moved (their names open the product page), paginated like the table.

import { get } from "./api.js";
import { addDays, h, int } from "./format.js";
import { FILTER_KEYS, navigate, toParams } from "./state.js";
import { productLink } from "./table.js";

const $ = (id) => document.getElementById(id);
let tiers = new Map();
let asOf = null; // the current reference date (from the API), to turn "7 days" into a date

export function initChanges({ tiers: list }) {
  tiers = new Map(list.map((t) => [t.key, t]));
  $("ch-since").addEventListener("change", (e) => {
    const v = e.target.value;
    if (v === "date") {
      $("ch-date-field").hidden = false;
      $("ch-date").focus();
      if ($("ch-date").value) navigate({ since: $("ch-date").value });
      return;
    }
    navigate({ since: v });
  });
  $("ch-date").addEventListener("change", (e) => {
    if (e.target.value) navigate({ since: e.target.value });
  });
}

/** Forget the reference date (after a run). */
export function forgetAsOf() {
  asOf = null;
}

function sinceParam(since) {
  if (since === "7" || since === "30") return addDays(asOf, -Number(since));
  return since;
}

function sinceWords(state, data) {
  if (!data.since) return "There is no earlier refresh to compare with yet.";
  if (state.since === "previous") return `Since the previous refresh (data as of ${data.since})`;
  if (state.since === "7" || state.since === "30") return `Over the last ${state.since} days (since ${data.since})`;
  return `Since ${data.since}`;
}

/** The /changes answer for `state` ("7 days" needs the reference date: asked once, then kept). */
export async function loadChanges(state) {
  const filters = toParams(state, { keys: FILTER_KEYS });
  if (!asOf && state.since !== "previous") {
    asOf = (await get("/api/performance-metrics/changes", new URLSearchParams({ pageSize: "1" }))).as_of;
  }
  const params = new URLSearchParams(filters);
  params.set("since", sinceParam(state.since));
  params.set("page", String(state.page));
  params.set("pageSize", String(state.pageSize));
  const data = await get("/api/performance-metrics/changes", params);
  asOf = data.as_of ?? asOf;
  return data;
}

export function renderChanges(state, data) {
  const custom = !["previous", "7", "30"].includes(state.since);
  $("ch-since").value = custom ? "date" : state.since;
  $("ch-date-field").hidden = !custom;
  if (custom) $("ch-date").value = state.since;
  if (asOf) $("ch-date").max = addDays(asOf, -1);
  $("ch-summary").textContent = sinceWords(state, data);
  $("ch-tiers").replaceChildren(...data.tiers.map((m) => h("tr", { dataset: { tier: m.tier } },
    h("th", { scope: "row" }, tiers.get(m.tier)?.plural ?? m.tier),
    h("td", { class: "num entered" }, `+${int(m.entered)}`),
    h("td", { class: "num left" }, `-${int(m.left)}`))));
  const label = (list) => (list.length ? list.map((t) => tiers.get(t)?.label ?? t).join(", ") : "—");
  const tierName = (t) => (t == null ? "not tracked yet" : t === "none" ? "none" : tiers.get(t)?.label ?? t);
  $("ch-rows").replaceChildren(...data.items.map((m) => h("tr", { dataset: { id: m.artifact_id } },
    h("td", { class: "product", "data-label": "Product" },
      m.removed ? h("span", { class: "name" }, "Removed product") // no product page to link to
        : productLink(m.artifact_id, m.product_name || m.artifact_id, { class: "name" }),
      h("span", { class: "id" }, m.artifact_id)),
    h("td", { "data-label": "Then" }, tierName(m.previous_nominal_classification)),
    h("td", { "data-label": "Now" }, m.removed ? "removed" : tierName(m.nominal_classification)),
    h("td", { "data-label": "Entered", class: "entered" }, label(m.entered)),
    h("td", { "data-label": "Left", class: "left" }, label(m.left)))));
  $("ch-empty").hidden = data.items.length > 0;
  $("ch-table").classList.toggle("is-empty", data.items.length === 0);
  $("ch-total").textContent = `(${int(data.total)})`;
  const pages = Math.max(1, data.totalPages);
  $("ch-page").textContent = `Page ${int(data.page)} of ${int(pages)}`;
  $("ch-prev").disabled = data.page <= 1;
  $("ch-next").disabled = data.page >= pages;
  $("ch-prev").onclick = () => navigate({ page: data.page - 1 });
  $("ch-next").onclick = () => navigate({ page: data.page + 1 });
}
