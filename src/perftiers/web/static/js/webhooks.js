// The alerts dialog (admins): webhook subscriptions, a form to add one (its secret is shown once),
// enable/disable, send a test event, delete, and each subscription's delivery log.
// Everything is built with DOM calls; no server text is ever parsed as HTML.

import { get, post, request } from "./api.js";
import { dateTime } from "./format.js";

const PATH = "/api/webhooks";
const EVENTS = ["tier.entered", "tier.left", "sync.failed", "refresh.failed", "tags.failed"];
let tiers = []; // [key, plural label] per tier, from the API's /schema
let hooks = { onError: () => {} };
let dialog = null;
let shownLog = null;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function checkboxes(name, items) {
  return el("fieldset", { class: "wh-choices" }, el("legend", {}, name === "event" ? "Events" : "Tiers (for tier events)"),
    ...items.map(([value, label]) => el("label", {}, el("input", { type: "checkbox", name, value, checked: true }), ` ${label}`)));
}

const when = (iso) => (iso ? dateTime(iso) : ""); // the page's one date format

/** Adds the "Alerts" button to the top bar and builds the dialog (call for admins only).
 *  `opts.tiers`: the API's tier table (/schema), one tier choice each. */
export function initWebhooks(opts) {
  hooks = opts;
  tiers = opts.tiers.map((t) => [t.key, t.plural]);
  const button = el("button", { type: "button", id: "open-webhooks", class: "btn", onclick: open }, "Alerts");
  const actions = document.getElementById("topbar-actions");
  actions.insertBefore(button, document.getElementById("sign-out"));
  dialog = el("dialog", { id: "webhooks", "aria-labelledby": "wh-title" },
    el("h2", { id: "wh-title" }, "Alerts (webhooks)"),
    el("p", { class: "note" }, "Send tier moves and failed runs to Slack or any HTTPS endpoint. JSON deliveries are signed; see docs/webhooks.md."),
    el("div", { class: "table-wrap" }, el("table", { id: "wh-table" },
      el("caption", { class: "visually-hidden" }, "Webhook subscriptions"),
      el("thead", {}, el("tr", {}, ...["URL", "Format", "Events", "Status", ""].map((t) => el("th", { scope: "col" }, t)))),
      el("tbody", { id: "wh-rows" }))),
    el("section", { id: "wh-log", hidden: true, "aria-live": "polite" }),
    el("form", { id: "wh-form", novalidate: true, onsubmit: add },
      el("h3", {}, "Add a subscription"),
      el("label", { for: "wh-url" }, "URL"),
      el("input", { id: "wh-url", name: "url", type: "url", required: true, placeholder: "https://hooks.slack.com/services/…" }),
      el("label", { for: "wh-format" }, "Format"),
      el("select", { id: "wh-format", name: "format" }, el("option", { value: "json" }, "JSON (signed)"), el("option", { value: "slack" }, "Slack")),
      checkboxes("event", EVENTS.map((e) => [e, e])),
      checkboxes("tier", tiers),
      el("div", { class: "dialog-actions" }, el("button", { type: "submit", class: "btn btn-primary" }, "Add"))),
    el("div", { id: "wh-secret", hidden: true, role: "status" }),
    el("p", { id: "wh-error", class: "error", role: "alert" }),
    el("div", { class: "dialog-actions" }, el("button", { type: "button", class: "btn", onclick: () => dialog.close() }, "Close")));
  dialog.addEventListener("close", forgetSecret);
  document.body.append(dialog);
}

/** The secret leaves the page (not only the view) once the dialog closes or reopens. */
function forgetSecret() {
  const box = document.getElementById("wh-secret");
  box.replaceChildren();
  box.hidden = true;
}

function fail(err) {
  document.getElementById("wh-error").textContent = err.message;
}

async function open() {
  document.getElementById("wh-error").textContent = "";
  forgetSecret();
  document.getElementById("wh-log").hidden = true;
  shownLog = null;
  dialog.showModal();
  await load();
}

async function load() {
  try {
    const { items } = await get(PATH);
    document.getElementById("wh-rows").replaceChildren(...(items.length ? items.map(row)
      : [el("tr", {}, el("td", { colSpan: 5, class: "note" }, "No subscriptions yet."))]));
  } catch (err) {
    fail(err);
  }
}

function row(sub) {
  const status = sub.enabled ? "enabled" : `disabled${sub.disabled_reason ? ` (${sub.disabled_reason})` : ""}`;
  const act = (label, fn) => el("button", { type: "button", class: "btn", onclick: () => fn(sub).catch(fail) }, label);
  return el("tr", {},
    el("td", { class: "error-cell" }, sub.url),
    el("td", {}, sub.format),
    el("td", {}, `${sub.events.join(", ")}${sub.events.some((e) => e.startsWith("tier.")) ? ` · ${sub.tiers.join(", ")}` : ""}`),
    el("td", {}, status),
    el("td", {},
      act(sub.enabled ? "Disable" : "Enable", toggle),
      act("Send test", sendTest),
      act("Deliveries", showLog),
      act("Delete", remove)));
}

async function toggle(sub) {
  await request(`${PATH}/${sub.id}`, { method: "PATCH", body: { enabled: !sub.enabled } });
  await load();
}

async function sendTest(sub) {
  await post(`${PATH}/${sub.id}/test`);
  await showLog(sub);
}

async function remove(sub) {
  if (!window.confirm(`Delete the subscription to ${sub.url} and its delivery log?`)) return;
  await request(`${PATH}/${sub.id}`, { method: "DELETE" });
  if (shownLog === sub.id) document.getElementById("wh-log").hidden = true;
  await load();
}

async function showLog(sub) {
  shownLog = sub.id;
  const { items } = await get(`${PATH}/${sub.id}/deliveries`, new URLSearchParams({ limit: "20" }));
  const log = document.getElementById("wh-log");
  const head = ["Event", "Status", "Attempts", "HTTP", "Created", "Next try", "Last error"];
  log.replaceChildren(
    el("h3", {}, `Deliveries to ${sub.url}`),
    el("div", { class: "table-wrap" }, el("table", { id: "wh-deliveries" },
      el("thead", {}, el("tr", {}, ...head.map((t) => el("th", { scope: "col" }, t)))),
      el("tbody", {}, ...(items.length ? items.map((d) => el("tr", {},
        el("td", {}, d.event), el("td", {}, d.status), el("td", {}, String(d.attempts)),
        el("td", {}, d.last_status_code ? String(d.last_status_code) : ""), el("td", {}, when(d.created_at)),
        el("td", {}, when(d.next_attempt_at)), el("td", { class: "error-cell" }, d.last_error || "")))
        : [el("tr", {}, el("td", { colSpan: 7, class: "note" }, "Nothing sent yet."))])))),
    el("button", { type: "button", class: "btn", onclick: () => showLog(sub).catch(fail) }, "Reload log"));
  log.hidden = false;
}

async function add(e) {
  e.preventDefault();
  const form = e.target;
  document.getElementById("wh-error").textContent = "";
  const picked = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
  try {
    const { data } = await post(PATH, { url: form.url.value.trim(), format: form.format.value, events: picked("event"), tiers: picked("tier") });
    form.url.value = "";
    const box = document.getElementById("wh-secret");
    box.replaceChildren(
      el("p", {}, el("strong", {}, "Signing secret (shown only now; copy it to your receiver): ")),
      el("code", { id: "wh-secret-value" }, data.secret));
    box.hidden = false;
    await load();
  } catch (err) {
    fail(err);
  }
}
