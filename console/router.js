/**
 * Hash routing and polling. Every navigation starts a new generation; polls and other async page
 * work started under an older generation stop by themselves.
 */
import { ApiError, clearKey } from "./api.js";

let generation = 0;

/** Starts a navigation; returns its generation. */
export function beginNavigation() {
  generation += 1;
  return generation;
}

export function generationNow() {
  return generation;
}

/** @param {number} gen */
export function isCurrent(gen) {
  return gen === generation;
}

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
 * Runs `tick` now and then every `ms` (after the previous tick finished) until the page changes
 * or `tick` returns false. A 401 signs the operator out.
 *
 * @param {() => Promise<boolean | undefined>} tick
 * @param {number} ms
 */
export function poll(tick, ms) {
  const mine = generation;
  const loop = async () => {
    if (mine !== generation) return;
    let again = true;
    try {
      again = (await tick()) !== false;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return signOut("The API key was not accepted.");
    }
    if (again && mine === generation) setTimeout(loop, ms);
  };
  void loop();
}

/** Forgets the key and shows the key page (with the reason). @param {string} [reason] */
export function signOut(reason) {
  clearKey();
  sessionStorage.setItem("tenant-provisioning.signOutReason", reason ?? "");
  navigate("#/key");
}
