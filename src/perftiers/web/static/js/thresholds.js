// The thresholds dialog: current values, validation, a live preview of the tier counts the
// proposed values would give, save with If-Match (editors), the pending state and "refresh now".

import { post, request } from "./api.js";
import { debounce, h, int } from "./format.js";
import { startRun } from "./runs.js";

const $ = (id) => document.getElementById(id);
const PATH = "/api/performance-metrics/settings/classification";

let fields = []; // the API's thresholds (/schema): name, label, description, minimum, maximum
let tiers = []; // the API's tiers (/schema): one preview row each
let settings = null;
let etag = null;
let canEdit = false;
let previewSeq = 0;
let hooks = { onSaved: () => {}, onError: () => {} };

/** `opts.thresholds` and `opts.tiers` are the API's /schema lists: the dialog's fields and preview rows. */
export function initThresholds(opts) {
  canEdit = opts.canEdit;
  hooks = opts;
  fields = opts.thresholds;
  tiers = opts.tiers;
  const dialog = $("thresholds");
  $("th-fields").replaceChildren(...fields.map(field));
  $("open-thresholds").addEventListener("click", open);
  $("th-close").addEventListener("click", () => dialog.close());
  $("th-save").hidden = !canEdit;
  $("th-refresh").hidden = !canEdit;
  $("pending-refresh").hidden = !canEdit;
  $("th-when").hidden = !canEdit;
  const refreshNow = async () => {
    const run = await startRun("/api/performance-metrics/refresh", "Refresh");
    if (run) {
      const text = "Refresh started; the new thresholds apply when it finishes.";
      $("th-status").textContent = text;
      $("pending-banner-text").textContent = text;
    }
  };
  $("th-refresh").addEventListener("click", refreshNow);
  $("pending-refresh").addEventListener("click", refreshNow);
  const preview = debounce(runPreview, 250);
  $("th-fields").addEventListener("input", () => {
    validate();
    preview();
  });
  $("thresholds-form").addEventListener("submit", (e) => {
    e.preventDefault();
    save();
  });
}

function field({ name, label, description, minimum }) {
  const id = `th-${name}`;
  return h("div", { class: "th-field" },
    h("label", { for: id }, label),
    h("input", { id, name, type: "number", min: String(minimum), step: "1", inputmode: "numeric", required: true,
      readonly: !canEdit, "aria-describedby": `${id}-hint ${id}-error` }),
    h("small", { id: `${id}-hint`, class: "hint" }, description),
    h("small", { id: `${id}-error`, class: "error", "aria-live": "polite" }));
}

async function open() {
  const dialog = $("thresholds");
  $("th-error").textContent = "";
  $("th-status").textContent = canEdit ? "" : "Read only: your token is a viewer; an editor can change thresholds.";
  try {
    await loadSettings();
  } catch (err) {
    hooks.onError(err.message);
    return;
  }
  dialog.showModal();
  if (fields.length) $(`th-${fields[0].name}`).focus();
  runPreview();
}

/** After a run ends (and on start) the pending state may have changed: show it on the page and in
 *  the dialog (the inputs are left as they are: someone may be typing). */
export async function reloadIfOpen() {
  try {
    const { data, response } = await request(PATH);
    settings = data;
    etag = response.headers.get("ETag");
    renderPending();
    return settings;
  } catch (err) {
    if (err.status !== 401) hooks.onError(err.message);
    return null;
  }
}

export async function loadSettings() {
  const { data, response } = await request(PATH);
  settings = data;
  etag = response.headers.get("ETag");
  for (const { name } of fields) {
    const input = $(`th-${name}`);
    input.value = String(data[name]);
    input.setAttribute("aria-invalid", "false");
    $(`th-${name}-error`).textContent = "";
  }
  renderPending();
  return data;
}

function renderPending() {
  const pending = Boolean(settings?.pending);
  $("th-pending").hidden = !pending;
  $("pending-banner").hidden = !pending;
  if (pending) {
    const text = "New thresholds are saved and waiting for the next refresh; until then the table shows the tiers " +
      "from the thresholds before them.";
    $("th-pending-text").textContent = text;
    $("pending-banner-text").textContent = canEdit ? text : `${text} An editor can refresh now.`;
  }
}

/** Values from the inputs, or null with messages shown next to the bad ones. */
function validate() {
  const values = {};
  let ok = true;
  for (const { name, minimum, maximum } of fields) {
    const input = $(`th-${name}`);
    const raw = input.value.trim();
    let msg = "";
    if (raw === "") msg = "Enter a number.";
    else if (!/^-?\d+$/.test(raw)) msg = "Use a whole number.";
    else if (Number(raw) < minimum) msg = `Must be ${minimum} or more.`;
    else if (Number(raw) > maximum) msg = "That is too large.";
    $(`th-${name}-error`).textContent = msg;
    input.setAttribute("aria-invalid", msg ? "true" : "false");
    if (msg) ok = false;
    else values[name] = Number(raw);
  }
  $("th-save").disabled = !ok;
  return ok ? values : null;
}


async function runPreview() {
  const values = validate();
  const seq = ++previewSeq;
  if (!values) {
    renderPreview(null);
    return;
  }
  try {
    const { data } = await post(`${PATH}/preview`, values);
    if (seq === previewSeq) renderPreview(data);
  } catch (err) {
    if (seq !== previewSeq) return;
    renderPreview(null);
    showFieldErrors(err);
  }
}

/** `data` is the preview answer: `counts` with the proposed values, `current` as served now. */
function renderPreview(data) {
  $("th-preview").replaceChildren(...tiers.map(({ key: tier, plural: label }) => {
    const now = data?.current?.[tier] ?? null;
    const next = data?.counts?.[tier] ?? null;
    const delta = now != null && next != null ? next - now : null;
    return h("tr", { dataset: { tier } },
      h("th", { scope: "row" }, label),
      h("td", { class: "num" }, int(now)),
      h("td", { class: "num preview-value" }, next == null ? "—" : int(next),
        delta ? h("span", { class: "delta" }, ` (${delta > 0 ? "+" : ""}${int(delta)})`) : null));
  }));
}

/** Put API validation messages (422 details) next to the fields they name. */
function showFieldErrors(err) {
  const details = err.details;
  const list = Array.isArray(details) ? details : details?.errors || [];
  let placed = false;
  for (const d of list) {
    const name = Array.isArray(d.loc) ? d.loc.at(-1) : d.field;
    const slot = name && document.getElementById(`th-${name}-error`);
    if (slot) {
      slot.textContent = d.msg || d.message;
      $(`th-${name}`).setAttribute("aria-invalid", "true");
      placed = true;
    }
  }
  if (!placed) $("th-error").textContent = err.message;
}

async function save() {
  if (!canEdit) return;
  const values = validate();
  if (!values) return;
  $("th-error").textContent = "";
  $("th-save").disabled = true;
  try {
    const { data, response } = await request(PATH, { method: "PUT", body: values, headers: etag ? { "If-Match": etag } : {} });
    settings = data;
    etag = response.headers.get("ETag") || etag;
    renderPending();
    $("th-status").textContent = "Saved. They apply at the next refresh.";
    hooks.onSaved(data);
  } catch (err) {
    if (err.status === 412) {
      await loadSettings().catch(() => {});
      $("th-error").textContent = `${err.message} The latest values are shown; check them and save again.`;
    } else {
      showFieldErrors(err);
    }
  } finally {
    $("th-save").disabled = false;
  }
}
