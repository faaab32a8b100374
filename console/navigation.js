/**
 * Navigations. Each hash change starts one; it ends when the next one starts. A page renders only
 * while its navigation is current, and the API calls started under it are aborted when it ends, so
 * a slow page can never draw over the page the operator has moved on to.
 */

/** Thrown (and ignored by the app) when work of an ended navigation tries to go on. */
export class NavigationAbandoned extends Error {
  constructor() {
    super("the page was left before this finished");
    this.name = "NavigationAbandoned";
  }
}

/**
 * @typedef {object} Navigation
 * @property {number} id
 * @property {AbortSignal} signal  aborted when the navigation ends
 * @property {() => boolean} isCurrent
 */

let sequence = 0;
/** @type {{id: number, controller: AbortController}} */
let current = { id: 0, controller: new AbortController() };

/** Ends the current navigation (aborting its requests) and starts a new one. @returns {Navigation} */
export function beginNavigation() {
  current.controller.abort();
  sequence += 1;
  const mine = { id: sequence, controller: new AbortController() };
  current = mine;
  return { id: mine.id, signal: mine.controller.signal, isCurrent: () => current === mine };
}

/** The signal of the navigation in progress: requests default to it. */
export function currentSignal() {
  return current.controller.signal;
}
