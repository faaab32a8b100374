/**
 * Hash routing and polling. Every hash change starts a navigation (navigation.js); polls started
 * for a page stop by themselves once its navigation has ended.
 */
import { ApiError, clearKey } from "./api.js";
import { NavigationAbandoned } from "./navigation.js";
import { forgetSession } from "./session.js";

/** @typedef {import("./navigation.js").Navigation} Navigation */

/** @returns {{path: string[], params: URLSearchParams}} */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const [pathPart = "", queryPart = ""] = raw.split("?");
  return {
    path: pathPart.split("/").filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(queryPart),
  };
}

/** Goes to a hash route; re-renders when it is the current one. @param {string} hash */
export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

/**
 * Runs `tick` now and then every `ms` (after the previous tick finished) while `nav` is current
 * and `tick` does not return false. A 401 signs the operator out.
 *
 * @param {Navigation} nav
 * @param {() => Promise<boolean | undefined>} tick
 * @param {number} ms
 */
export function poll(nav, tick, ms) {
  const loop = async () => {
    if (!nav.isCurrent()) return;
    let again = true;
    try {
      again = (await tick()) !== false;
    } catch (error) {
      if (error instanceof NavigationAbandoned) return;
      if (error instanceof ApiError && error.status === 401) return signOut("The API key was not accepted.");
    }
    if (again && nav.isCurrent()) setTimeout(loop, ms);
  };
  void loop();
}

/** Forgets the key and shows the key page (with the reason). @param {string} [reason] */
export function signOut(reason) {
  clearKey();
  forgetSession();
  sessionStorage.setItem("tenant-provisioning.signOutReason", reason ?? "");
  navigate("#/key");
}
