/**
 * The console's only way to the service: the public REST API on this origin, with the operator's
 * API key from sessionStorage (gone when the tab closes, never written to localStorage or cookies).
 */

const KEY_STORAGE = "tenant-provisioning.apiKey";
export const API = "/api/provisioning";

/** An API answer that was not 2xx: the service's `{error: {code, message, details}}`. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Field-level problems of a 400 (`details.fields`), keyed by field path. */
  fieldMessages() {
    /** @type {Record<string, string>} */
    const out = {};
    /** @type {{field: string, message: string}[] | undefined} */
    const fields = /** @type {any} */ (this.details)?.fields;
    for (const f of fields ?? []) out[f.field] ??= f.message;
    return out;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

/** @param {string} key */
export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/**
 * Calls the API. Resolves with the parsed JSON body; rejects with ApiError on a non-2xx answer
 * (the service's own message for 4xx) or on a network failure (status 0).
 *
 * @param {string} method
 * @param {string} path  starting with `/api/`
 * @param {{body?: unknown, key?: string | null, headers?: Record<string, string>}} [options]
 */
export async function request(method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: "application/json", ...options.headers };
  const key = options.key === undefined ? getKey() : options.key;
  if (key) headers.authorization = `Bearer ${key}`;
  /** @type {RequestInit} */
  const init = { method, headers, cache: "no-store" };
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "network_error", `the service did not answer (${String(error)})`);
  }
  const text = await res.text();
  /** @type {any} */
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = body?.error;
    throw new ApiError(
      res.status,
      err?.code ?? "http_error",
      err?.message ?? `${res.status} ${res.statusText}`,
      err?.details,
    );
  }
  return body;
}

/** @param {string} path */
export const get = (path) => request("GET", path);

/** @param {Record<string, string | number | undefined | null>} params */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** @type {Promise<Set<string>> | undefined} */
let operations;

/**
 * The API's operations (`METHOD /path` as in the route table), from the public OpenAPI document:
 * the console offers tenants, deprovisioning or statistics only when the service has them.
 *
 * @returns {Promise<Set<string>>}
 */
export function availableOperations() {
  operations ??= request("GET", "/api/openapi.json", { key: null }).then(
    (doc) => {
      const ops = new Set();
      for (const [path, methods] of Object.entries(doc?.paths ?? {})) {
        for (const method of Object.keys(methods)) ops.add(`${method.toUpperCase()} ${path}`);
      }
      return ops;
    },
    () => {
      operations = undefined;
      return new Set();
    },
  );
  return operations;
}

/** @param {string} op  e.g. `GET /api/provisioning/tenants` */
export async function hasOperation(op) {
  return (await availableOperations()).has(op);
}
