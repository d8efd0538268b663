// The Shopify tags dialog (editors and admins): what a tag push would add and remove, read from
// the shop before anything is written (POST /api/shopify/tags/preview), with counts, the counts per
// tag and the first changes. Admins can start the push (POST /api/shopify/tags/push, a `tags` run
// the Sync history follows) when shopify_tags_enabled is on; otherwise the dialog says how to push.
// Everything is built with DOM calls; no server text is ever parsed as HTML.

import { post } from "./api.js";
import { h, int } from "./format.js";

const PREVIEW = "/api/shopify/tags/preview";
const PUSH = "/api/shopify/tags/push";
/** Error codes that mean "a setting is missing or wrong": the message says which one. */
const SETUP_CODES = new Set(["shopify_not_configured", "configuration", "shopify_auth", "shopify_access_denied"]);
const COUNTS = [
  ["shop_products", "Products in the shop"],
  ["products_to_change", "Products to change"],
  ["tags_to_add", "Tags to add"],
  ["tags_to_remove", "Tags to remove"],
  ["not_in_shop", "Tiered products not in the shop"],
];

let opts = { canPush: false, startRun: async () => null, onError: () => {} };
let dialog = null;

const $ = (id) => document.getElementById(id);

/** Adds the "Shopify tags" button to the top bar and builds the dialog (editors and admins).
 *  `canPush`: the session is an admin's; `startRun(path, label)`: runs.js's, follows the run. */
export function initTags(options) {
  opts = { ...opts, ...options };
  const button = h("button", { type: "button", id: "open-tags", class: "btn" }, "Shopify tags");
  button.addEventListener("click", open);
  $("topbar-actions").insertBefore(button, $("sign-out"));
  const close = h("button", { type: "button", class: "btn" }, "Close");
  close.addEventListener("click", () => dialog.close());
  dialog = h("dialog", { id: "shopify-tags", "aria-labelledby": "tg-title" },
    h("h2", { id: "tg-title" }, "Shopify tags"),
    h("p", { class: "note" }, "Each product gets one tag per tier it is in; tags under the prefix that no longer hold are removed; other tags are never touched. Nothing is written until a push."),
    h("p", { id: "tg-status", role: "status", "aria-live": "polite" }),
    h("div", { id: "tg-plan", hidden: true }),
    h("div", { id: "tg-push" }),
    h("div", { class: "dialog-actions" }, close));
  document.body.append(dialog);
}

async function open() {
  $("tg-plan").hidden = true;
  $("tg-push").replaceChildren();
  dialog.showModal();
  await load();
}

async function load() {
  const status = $("tg-status");
  status.textContent = "Reading the shop's tags…";
  dialog.setAttribute("aria-busy", "true");
  try {
    const { data } = await post(PREVIEW);
    status.textContent = data.products_to_change
      ? `A push would change ${int(data.products_to_change)} product${data.products_to_change === 1 ? "" : "s"}.`
      : "Nothing to push: the shop's tags match the tiers.";
    render(data);
  } catch (err) {
    status.textContent = SETUP_CODES.has(err.code) ? `Shopify is not set up for tags: ${err.message}` : err.message;
  } finally {
    dialog.setAttribute("aria-busy", "false");
  }
}

function table(id, caption, head, rows, empty) {
  return h("div", { class: "table-wrap" }, h("table", { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
    h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: String(head.length), class: "note" }, empty))]))));
}

function render(plan) {
  const counts = h("dl", { class: "facts", id: "tg-counts" },
    ...COUNTS.flatMap(([key, label]) => [h("dt", {}, label), h("dd", { dataset: { count: key } }, int(plan[key]))]));
  const byTag = Object.entries(plan.by_tag).map(([tag, n]) => h("tr", { dataset: { tag } },
    h("td", {}, tag), h("td", { class: "num" }, `+${int(n.add)}`), h("td", { class: "num" }, `−${int(n.remove)}`)));
  const list = (tags) => tags.length ? tags.join(", ") : "—";
  const changes = plan.sample.map((c) => h("tr", { dataset: { product: c.artifact_id } },
    h("td", {}, c.artifact_id), h("td", {}, list(c.add)), h("td", {}, list(c.remove))));
  const shown = plan.sample.length < plan.products_to_change
    ? `The first ${int(plan.sample.length)} of ${int(plan.products_to_change)} products to change`
    : "Products to change";
  $("tg-plan").replaceChildren(
    h("p", { class: "hint" }, `Prefix ${plan.prefix} · tiers tagged: ${plan.tiers.join(", ") || "none"}`),
    counts,
    table("tg-by-tag", "Per tag", ["Tag", "Add", "Remove"], byTag, "No tag changes."),
    table("tg-changes", shown, ["Product", "Add", "Remove"], changes, "No product changes."));
  $("tg-plan").hidden = false;
  renderPush(plan);
}

/** The push button (admins, tags enabled, write scope, something to do), or why there is none. */
function renderPush(plan) {
  const box = $("tg-push");
  const note = (text) => box.replaceChildren(h("p", { class: "note", id: "tg-push-note" }, text));
  if (!opts.canPush) return note("An admin can push these tags from here, or run perftiers shopify push-tags.");
  if (!plan.enabled) return note("Pushing from the dashboard is off: set shopify_tags_enabled=true (then a push also follows each refresh), or run perftiers shopify push-tags.");
  if (!plan.write_scope) return note("The Shopify app lacks the write_products scope a push needs; add it to the app (see docs/shopify.md).");
  if (!plan.products_to_change) return note("");
  const button = h("button", { type: "button", class: "btn btn-primary", id: "tg-push-button" },
    `Push tags to Shopify (${int(plan.products_to_change)} product${plan.products_to_change === 1 ? "" : "s"})`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    const run = await opts.startRun(PUSH, "Tag push");
    note(run ? `Tag push started (run ${run.run_id}); Sync history shows its added, removed and failed counts.` : "The push did not start.");
  });
  box.replaceChildren(button);
}
