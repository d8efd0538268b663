// The API client: JSON in and out, CSRF header on writes, the SPEC error shape turned into
// an ApiError whose message is what the page shows.

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `Request failed (HTTP ${status})`);
    this.status = status;
    this.code = error?.code || `http_${status}`;
    this.details = error?.details ?? null;
  }
}

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

let onUnauthorized = () => {};
const inflight = new Set();
let closing = false;

/** Signing out: refuse new requests (they would only be answered 401) until the page is left. */
export function refuseNewRequests() {
  closing = true;
}

/** Resolves once every request already sent has been answered (or has failed). */
export async function settled() {
  while (inflight.size) await Promise.allSettled([...inflight]);
}

/** Called with the ApiError when any request answers 401 (the session ended). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** fetch + JSON, counted while in flight. Returns `{data, response}`; throws ApiError for non-2xx answers. */
export async function request(path, options = {}) {
  if (closing && !options.whileClosing) throw new ApiError(0, { code: "signed_out", message: "Signed out." });
  const pending = send(path, options);
  inflight.add(pending);
  try {
    return await pending;
  } finally {
    inflight.delete(pending);
  }
}

async function send(path, { method = "GET", body, headers = {}, quiet401 = false } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (method !== "GET" && method !== "HEAD") h["X-CSRF-Token"] = cookie("perftiers_csrf");
  let payload;
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: h, body: payload, credentials: "same-origin" });
  } catch (err) {
    throw new ApiError(0, { code: "network", message: "The server could not be reached. Check that perftiers serve is running." });
  }
  // Read every body to its end (even a 204's): until then the request is still open, and
  // leaving the page (sign-out) would abort it.
  const text = await response.text().catch(() => "");
  let data = null;
  if (text && (response.headers.get("content-type") || "").includes("json")) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data?.error ?? (typeof data?.detail === "string" ? { message: data.detail } : null));
    if (response.status === 401 && !quiet401) onUnauthorized(error);
    throw error;
  }
  return { data, response };
}

export async function get(path, params) {
  const qs = params && params.toString() ? `?${params}` : "";
  return (await request(`${path}${qs}`)).data;
}

export const post = (path, body, opts = {}) => request(path, { ...opts, method: "POST", body });
export const put = (path, body, opts = {}) => request(path, { ...opts, method: "PUT", body });
