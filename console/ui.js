/** Pieces shared by the console's pages: layout, run helpers, confirmation dialog, action buttons. */
import { ApiError, call } from "./api.js";
import { h, notice, shortId } from "./dom.js";
import { NavigationAbandoned } from "./navigation.js";
import { signOut } from "./router.js";

/** @typedef {import("./navigation.js").Navigation} Navigation */

/** Run statuses in which a run still changes (the others are final). */
export const ACTIVE = new Set(["pending", "running"]);
export const RUN_POLL_MS = 1500;
export const LIST_POLL_MS = 2000;

const main = /** @type {HTMLElement} */ (document.getElementById("main"));

/**
 * Replaces the page's content — only while `nav` is current: a page whose data arrived after the
 * operator moved on throws NavigationAbandoned instead of drawing over the newer page (and stops
 * there, so it starts no polling either).
 *
 * @param {Navigation} nav
 * @param {string} title
 * @param {...(Node | string | null | undefined | false)} content
 */
export function page(nav, title, ...content) {
  if (!nav.isCurrent()) throw new NavigationAbandoned();
  document.title = `${title} · Tenant Provisioning Console`;
  main.replaceChildren(
    ...content
      .filter((c) => c !== null && c !== undefined && c !== false)
      .map((c) => (typeof c === "string" ? document.createTextNode(c) : c)),
  );
}

/** The API's message for a 4xx (with its status); anything else as text. @param {unknown} error */
export function errorMessage(error) {
  if (error instanceof ApiError)
    return error.status ? `${error.message} (HTTP ${error.status})` : error.message;
  return String(error);
}

/** @param {Navigation} nav @param {unknown} error */
export function errorPage(nav, error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut("The API key was not accepted.");
    return;
  }
  page(
    nav,
    "Error",
    h("h1", {}, "Something went wrong"),
    notice("error", errorMessage(error), { "data-testid": "page-error" }),
  );
}

/** @type {{at: number, items: any[]} | undefined} */
let templateCache;

/** Drops the cached templates (after one was restored). */
export function forgetTemplates() {
  templateCache = undefined;
}

/**
 * Templates (cached for a few seconds: runs and forms only need names and ids).
 *
 * @param {{fresh?: boolean}} [options]
 */
export async function templates(options = {}) {
  if (!options.fresh && templateCache && Date.now() - templateCache.at < 10_000) return templateCache.items;
  const pageBody = await call("listTemplates", { query: { limit: 200 } });
  templateCache = { at: Date.now(), items: pageBody.items };
  return pageBody.items;
}

/** A cleaned-up run cannot be resumed or cleaned up again. @param {any} run */
export function cleanedUp(run) {
  return Boolean(run.metadata?.cleanup);
}

/**
 * What a run is called: its tenant's name (joined by the API for every kind; a provisioning that
 * has not created its tenant yet has it in its metadata).
 *
 * @param {any} run
 */
export function runTitle(run) {
  const tenant = run.tenant ?? run.metadata?.tenant;
  if (tenant?.name) return tenant.name;
  if (tenant?.slug) return tenant.slug;
  return `Run ${shortId(run.id)}`;
}

/** @param {any} run */
export function runSlug(run) {
  return run.tenant?.slug ?? run.metadata?.tenant?.slug ?? null;
}

/** @param {any} run */
export function runDuration(run) {
  if (!run.startedAt) return null;
  const end = run.completedAt ? Date.parse(run.completedAt) : Date.now();
  return end - Date.parse(run.startedAt);
}

/** @param {any} run */
export function progressBar(run) {
  const total = Math.max(1, run.totalSteps);
  const fill = h("div", { class: "progress-fill" });
  // CSSOM, not a style attribute: the console's CSP allows no inline styles.
  fill.style.width = `${Math.round((run.completedSteps / total) * 100)}%`;
  return h(
    "div",
    { class: "progress-cell" },
    h(
      "div",
      {
        class: `progress progress-${run.status}`,
        role: "progressbar",
        "aria-valuemin": 0,
        "aria-valuemax": run.totalSteps,
        "aria-valuenow": run.completedSteps,
        "aria-label": `${run.completedSteps} of ${run.totalSteps} steps completed`,
      },
      fill,
    ),
    h(
      "span",
      { class: "muted small" },
      `${run.completedSteps}/${run.totalSteps}`,
      run.currentStep && ACTIVE.has(run.status) ? ` · ${run.currentStep}` : "",
    ),
  );
}

/**
 * A confirmation dialog. Resolves with the dialog's form fields when confirmed, null otherwise.
 *
 * @param {{title: string, message: string | Node, confirmLabel: string, danger?: boolean, fields?: Node}} options
 * @returns {Promise<FormData | null>}
 */
export function confirmDialog(options) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("confirm-dialog"));
  const form = /** @type {HTMLFormElement} */ (dialog.querySelector("form"));
  const ok = /** @type {HTMLButtonElement} */ (document.getElementById("confirm-ok"));
  /** @type {HTMLElement} */ (document.getElementById("confirm-title")).textContent = options.title;
  /** @type {HTMLElement} */ (document.getElementById("confirm-body")).replaceChildren(
    typeof options.message === "string" ? h("p", {}, options.message) : options.message,
    options.fields ?? "",
  );
  ok.textContent = options.confirmLabel;
  ok.className = options.danger ? "button button-danger" : "button";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? new FormData(form) : null), {
      once: true,
    });
    dialog.showModal();
  });
}

/**
 * A toolbar button that asks for confirmation, then calls the API; the result (or the API's
 * error message) is shown in `feedback`.
 *
 * @param {{label: string, testid: string, danger?: boolean, confirm: Parameters<typeof confirmDialog>[0], call: (form: FormData) => Promise<any>, done: (result: any) => void, feedback: HTMLElement, success: string | ((result: any) => HTMLElement)}} options
 */
export function actionButton(options) {
  const button = h(
    "button",
    {
      type: "button",
      class: options.danger ? "button button-danger-outline" : "button button-secondary",
      "data-testid": options.testid,
    },
    options.label,
  );
  button.addEventListener("click", async () => {
    const form = await confirmDialog(options.confirm);
    if (!form) return;
    button.setAttribute("disabled", "");
    button.setAttribute("aria-busy", "true");
    try {
      const result = await options.call(form);
      const shown =
        typeof options.success === "function" ? options.success(result) : notice("success", options.success);
      shown.setAttribute("data-testid", "action-result");
      options.feedback.replaceChildren(shown);
      options.done(result);
    } catch (error) {
      options.feedback.replaceChildren(
        notice("error", errorMessage(error), { "data-testid": "action-error" }),
      );
    } finally {
      button.removeAttribute("disabled");
      button.removeAttribute("aria-busy");
    }
  });
  return button;
}

/** @param {string} text @param {string} [href] */
export function crumb(text, href) {
  return href ? h("a", { href }, text) : h("span", { "aria-current": "page" }, text);
}

/** @param {...HTMLElement} items */
export function breadcrumbs(...items) {
  return h(
    "nav",
    { class: "breadcrumbs", "aria-label": "Breadcrumb" },
    h(
      "ol",
      {},
      items.map((i) => h("li", {}, i)),
    ),
  );
}

/**
 * @param {string} title
 * @param {...(Node | string | null | false | undefined)} body
 */
export function card(title, ...body) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...body);
}
