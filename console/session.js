/**
 * Who the signed-in key is (`GET /whoami`), and what it may therefore do: an operation is offered
 * only when its access in the route table (through the contract) admits the key's role, so a
 * tenant_admin is never shown a button or page that could only answer 403.
 */
import { call, getKey, operation } from "./api.js";

/** @typedef {{keyId: string, name: string | null, role: "admin" | "tenant_admin", tenantId: string | null}} Me */

/** @type {{key: string, me: Promise<Me>} | undefined} */
let cached;
/** @type {Me | undefined} */
let known;

/** The signed-in key's identity (asked once per key). @returns {Promise<Me>} */
export function whoami() {
  const key = getKey();
  if (!key) return Promise.reject(new Error("not signed in"));
  if (cached?.key !== key) {
    known = undefined;
    const me = call("whoami", { signal: null }).then((m) => {
      if (cached?.key === key) known = m;
      return m;
    });
    me.catch(() => {
      if (cached?.key === key) cached = undefined;
    });
    cached = { key, me };
  }
  return cached.me;
}

/** Forgets the identity (sign-out). */
export function forgetSession() {
  cached = undefined;
  known = undefined;
}

/** The role, once `whoami()` has answered (the app waits for it before any page). */
export function role() {
  return known?.role ?? null;
}

/**
 * Whether the signed-in key may call an operation: public and tenant operations always, admin
 * ones only with an admin key.
 *
 * @param {string} operationId
 */
export function can(operationId) {
  const { access } = operation(operationId);
  return access !== "admin" || known?.role === "admin";
}
