// Filter controls and stat cards. Controls only ever call `navigate`; `renderFilters` copies
// the URL state back into them, so history moves and pasted links restore what they show.

import { FILTER_KEYS, hasFilters, navigate } from "./state.js";
import { debounce, h, int, keepFocus } from "./format.js";

const $ = (id) => document.getElementById(id);
const SEARCH_DEBOUNCE_MS = 300;

let cardDefs = [];

/** `tiers`: the API's tier table (/schema), which gives a card and a Tier choice per tier. */
export function initFilters({ tiers }) {
  cardDefs = [
    { id: "all", label: "All products", field: "total_artifacts", tier: "" },
    ...tiers.map((t) => ({ id: t.key, label: t.plural, field: t.summary_field, tier: t.key })),
    { id: "lifetime", label: "Lifetime units sold", field: "aggregate_measurement_total" },
    { id: "last30", label: "Units sold, last 30 days", field: "sales_last_30_days" },
  ];
  $("f-classification").append(...tiers.map((t) => h("option", { value: t.key }, t.plural)));
  const form = $("filters");
  form.addEventListener("submit", (e) => e.preventDefault());
  const search = $("f-search");
  // One history entry per typing session: later pauses replace it, so Back undoes the search.
  let typed = false;
  const commit = () => {
    navigate({ search: search.value.trim() ? search.value : "" }, { replace: typed });
    typed = true;
  };
  const commitSearch = debounce(commit, SEARCH_DEBOUNCE_MS);
  search.addEventListener("input", commitSearch);
  search.addEventListener("blur", () => { typed = false; });
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      commit();
    }
  });
  const bind = (id, key) => $(id).addEventListener("change", (e) => navigate({ [key]: e.target.value }));
  bind("f-classification", "classification");
  bind("f-product-type", "product_type");
  bind("f-vendor", "vendor");
  bind("f-active", "is_active");
  bind("f-launched-from", "launched_from");
  bind("f-launched-to", "launched_to");
  $("tag-groups").addEventListener("change", (e) => {
    if (e.target.name !== "tag") return;
    const tags = [...document.querySelectorAll('#tag-groups input[name="tag"]:checked')].map((i) => i.value);
    navigate({ tag: tags.sort() });
  });
  $("clear-filters").addEventListener("click", () => {
    navigate(Object.fromEntries(FILTER_KEYS.map((k) => [k, k === "tag" ? [] : ""])));
    search.focus();
  });
}

/** Copy `state` into the controls. The search box is left alone while someone types in it,
 *  unless the state comes from history (back/forward). */
export function renderFilters(state, { fromHistory = false } = {}) {
  const search = $("f-search");
  if (fromHistory || document.activeElement !== search) search.value = state.search;
  $("f-classification").value = state.classification;
  setSelect($("f-product-type"), state.product_type);
  setSelect($("f-vendor"), state.vendor);
  $("f-active").value = state.is_active;
  $("f-launched-from").value = state.launched_from;
  $("f-launched-to").value = state.launched_to;
  $("f-launched-to").min = state.launched_from || "";
  $("f-launched-from").max = state.launched_to || "";
  for (const box of document.querySelectorAll('#tag-groups input[name="tag"]')) box.checked = state.tag.includes(box.value);
  $("clear-filters").disabled = !hasFilters(state);
}

/** Select `value`, adding it as an option if the facets did not list it (e.g. a pasted link). */
function setSelect(select, value) {
  if (value && ![...select.options].some((o) => o.value === value)) select.append(h("option", { value }, value));
  select.value = value;
}

function fillSelect(select, allLabel, entries, selected) {
  const options = [h("option", { value: "" }, allLabel)];
  for (const { value, count } of entries) options.push(h("option", { value }, `${value} (${int(count)})`));
  select.replaceChildren(...options);
  setSelect(select, selected);
}

/** Normalise one facet list to [{value, count}] whatever key the API uses for the value. */
function entries(list) {
  return (list || []).map((e) => (typeof e === "string" ? { value: e, count: null } : {
    value: e.value ?? e.name ?? e.tag ?? e.product_type ?? e.vendor,
    count: e.count ?? e.n ?? null,
    tag: e.tag,
  }));
}

export function renderFacets(facets, state) {
  fillSelect($("f-product-type"), "All types", entries(facets.product_types), state.product_type);
  fillSelect($("f-vendor"), "All vendors", entries(facets.vendors), state.vendor);
  const groups = facets.tags || facets.tag_categories || [];
  const container = $("tag-groups");
  const open = new Set([...container.querySelectorAll("details[open]")].map((d) => d.dataset.category));
  const seen = new Set();
  keepFocus(container, () => container.replaceChildren(
    ...groups.map((group) => {
      const category = group.category ?? "";
      const values = entries(group.values ?? group.tags ?? group.items);
      const boxes = values.map(({ value, count, tag }) => {
        const full = tag ?? (category ? `${category}:${value}` : value);
        seen.add(full);
        const id = `tag-${safeId(full)}`;
        return h("li", {},
          h("input", { type: "checkbox", name: "tag", id, value: full, checked: state.tag.includes(full) }),
          h("label", { for: id }, value, count != null ? h("span", { class: "count" }, ` (${int(count)})`) : null));
      });
      const chosen = values.filter((v) => state.tag.includes(v.tag ?? `${category}:${v.value}`)).length;
      const label = category || "other";
      return h("details", { class: "tag-group", dataset: { category: label }, open: open.has(label) },
        h("summary", { id: `tag-group-${safeId(label)}` }, label, chosen ? h("span", { class: "chosen" }, ` · ${chosen} chosen`) : null),
        h("ul", { role: "group", "aria-label": `${label} tags` }, boxes));
    }),
  ));
  // Tags from the URL the facets no longer list stay visible so they can be unticked.
  const orphans = state.tag.filter((t) => !seen.has(t));
  if (orphans.length) {
    container.append(h("details", { class: "tag-group", open: true, dataset: { category: "selected" } },
      h("summary", {}, "selected"),
      h("ul", { role: "group", "aria-label": "selected tags" }, orphans.map((t) => {
        const id = `tag-orphan-${safeId(t)}`;
        return h("li", {}, h("input", { type: "checkbox", name: "tag", id, value: t, checked: true }), h("label", { for: id }, t));
      }))));
  }
  $("f-tags").hidden = groups.length === 0 && orphans.length === 0;
}

/** An id fragment for any text: unsafe characters become `_` plus their code, so ids stay unique. */
function safeId(text) {
  return text.replace(/[^a-zA-Z0-9-]/g, (c) => `_${c.codePointAt(0).toString(16)}`);
}

/** "+12 / -5 since the previous refresh" under a tier card (the summary's entered/left). */
function moves(summary, tier) {
  const entered = summary?.entered?.[tier];
  const left = summary?.left?.[tier];
  if (!tier || entered == null || left == null || !summary.previous_as_of) return null;
  return h("span", { class: "card-change", dataset: { entered, left } },
    h("span", { "aria-hidden": "true" }, `+${int(entered)} / -${int(left)}`),
    h("span", { class: "visually-hidden" }, `${int(entered)} entered and ${int(left)} left`),
    h("span", { class: "card-since" }, ` since ${summary.previous_as_of}`));
}

export function renderCards(summary, state) {
  const cards = $("cards");
  keepFocus(cards, () => cards.replaceChildren(
    ...cardDefs.map((card) => {
      const value = int(summary?.[card.field]);
      const body = [h("span", { class: "card-value" }, value), h("span", { class: "card-label" }, card.label), moves(summary, card.tier)];
      // Totals are figures, not filters: no button, no pointer, no hover.
      if (card.tier === undefined) return h("div", { class: "card card-static", dataset: { card: card.id } }, body);
      const active = state.classification === card.tier;
      return h("button", {
        type: "button",
        id: `card-${card.id}`,
        class: `card card-${card.id}${active ? " active" : ""}`,
        "aria-pressed": String(active),
        dataset: { card: card.id },
        onclick: () => navigate({ classification: card.tier }),
      }, body);
    }),
  ));
}
