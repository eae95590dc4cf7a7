// api.js — the admin API client: bearer token from sessionStorage, JSON in and out, and
// errors carried as the API worded them ({"error": {"code", "message"}}).
const TOKEN_KEY = "agenthub.admin.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Path pieces are always encoded by the caller through p``.
export function p(strings, ...vals) {
  return strings.reduce((s, str, i) => s + str + (i < vals.length ? encodeURIComponent(vals[i]) : ""), "");
}

export async function api(method, path, body) {
  const opt = { method, headers: { Authorization: "Bearer " + getToken() } };
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opt);
  } catch (e) {
    throw new ApiError(0, "network", "the ingress cannot be reached (" + e.message + ")");
  }
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!r.ok) {
    const e = data && data.error;
    // an expired or revoked token: the panel goes back to its sign-in form (main.js)
    if (r.status === 401) window.dispatchEvent(new CustomEvent("agenthub-unauthorized", { detail: (e && e.message) || "unauthorized" }));
    throw new ApiError(r.status, (e && e.code) || "http_" + r.status, (e && e.message) || text || r.statusText);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

// A whole admin list: the API answers at most 1,000 rows a page and names the next page's
// offset (next_offset) while more follow.
export async function getAll(path) {
  const items = [];
  let offset = 0;
  for (;;) {
    const r = await get(path + (path.includes("?") ? "&" : "?") + "limit=1000&offset=" + offset);
    items.push(...((r && r.items) || []));
    if (!r || r.next_offset === undefined || r.next_offset === null) return { items };
    offset = r.next_offset;
  }
}
