/**
 * The web console: a hash-routed single page over the public REST API (static files, no build
 * step). Pages: API key entry, runs (live), a run with its state machine graph (live), new
 * provisioning, a batch of provisionings (live), a template upgrade rollout with its waves (live),
 * templates, tenants, statistics, alerts, webhooks and cells. The API's paths, enums and defaults come
 * from the contract module the service generates from its route table (`/contract.js`); which
 * pages and actions are offered follows the signed-in key's role (`GET /whoami`).
 */
import { ApiError, getKey } from "./api.js";
import { h } from "./dom.js";
import { beginNavigation, NavigationAbandoned } from "./navigation.js";
import { alertsPage } from "./pages/alerts.js";
import { batchPage } from "./pages/batch.js";
import { cellsPage } from "./pages/cells.js";
import { keyPage } from "./pages/key.js";
import { provisionPage } from "./pages/provision.js";
import { rolloutPage } from "./pages/rollout.js";
import { runPage } from "./pages/run.js";
import { runsPage } from "./pages/runs.js";
import { statsPage } from "./pages/stats.js";
import { templatePage, templatesPage } from "./pages/templates.js";
import { tenantPage, tenantsPage } from "./pages/tenants.js";
import { webhookPage, webhooksPage } from "./pages/webhooks.js";
import { currentRoute, navigate, signOut } from "./router.js";
import { can, whoami } from "./session.js";
import { errorPage, page } from "./ui.js";

/** @typedef {import("./navigation.js").Navigation} Navigation */

const main = /** @type {HTMLElement} */ (document.getElementById("main"));

/**
 * The sections of the nav, each with the operation its page lists: shown only when the key may
 * call it.
 */
const SECTIONS = [
  { id: "runs", label: "Runs", operation: "listProgress" },
  { id: "provision", label: "New provisioning", operation: "provisionFromTemplate" },
  { id: "templates", label: "Templates", operation: "listTemplates" },
  { id: "tenants", label: "Tenants", operation: "listTenants" },
  { id: "stats", label: "Statistics", operation: "getProvisioningStats" },
  { id: "alerts", label: "Alerts", operation: "listAlerts" },
  { id: "webhooks", label: "Webhooks", operation: "listWebhooks" },
  { id: "cells", label: "Cells", operation: "listCells" },
];

/** @param {import("./session.js").Me | null} me */
function renderNav(me) {
  const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
  const session = /** @type {HTMLElement} */ (document.getElementById("session"));
  nav.hidden = !me;
  session.hidden = !me;
  if (!me) return;
  const key = getKey() ?? "";
  /** @type {HTMLElement} */ (document.getElementById("session-key")).textContent =
    `${me.role === "admin" ? "Admin" : "Tenant admin"} · …${key.slice(-4)}`;
  const section = currentRoute().path[0] ?? "runs";
  nav.replaceChildren(
    h(
      "ul",
      {},
      SECTIONS.filter((s) => can(s.operation)).map((s) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#/${s.id}`,
              "data-testid": `nav-${s.id}`,
              "aria-current": section === s.id ? "page" : undefined,
            },
            s.label,
          ),
        ),
      ),
    ),
  );
}

/** @param {Navigation} nav */
function notAllowed(nav) {
  page(
    nav,
    "Not available",
    h("h1", {}, "Not available with this key"),
    h("p", {}, "This page needs an admin key. ", h("a", { href: "#/runs" }, "Go to runs")),
  );
}

async function render() {
  const nav = beginNavigation();
  const { path, params } = currentRoute();
  try {
    if (path[0] === "key") {
      renderNav(null);
      return keyPage(nav);
    }
    if (!getKey()) {
      navigate("#/key");
      return;
    }
    const me = await whoami();
    if (!nav.isCurrent()) return;
    renderNav(me);
    const section = SECTIONS.find((s) => s.id === path[0]);
    if (section && !can(section.operation)) return notAllowed(nav);
    switch (path[0]) {
      case "runs":
        return path[1] ? await runPage(nav, path[1]) : await runsPage(nav, params);
      case "batches":
        return path[1] ? await batchPage(nav, path[1]) : notAllowed(nav);
      case "rollouts":
        return path[1] && can("getRollout") ? await rolloutPage(nav, path[1]) : notAllowed(nav);
      case "provision":
        return await provisionPage(nav, params);
      case "templates":
        return path[1] ? await templatePage(nav, path[1], params) : await templatesPage(nav, params);
      case "tenants":
        return path[1] ? await tenantPage(nav, path[1]) : await tenantsPage(nav, params);
      case "stats":
        return await statsPage(nav, params);
      case "alerts":
        return await alertsPage(nav, params);
      case "webhooks":
        return path[1] ? await webhookPage(nav, path[1]) : await webhooksPage(nav);
      case "cells":
        return await cellsPage(nav);
      default:
        page(
          nav,
          "Not found",
          h("h1", {}, "Page not found"),
          h("p", {}, h("a", { href: "#/runs" }, "Go to runs")),
        );
    }
  } catch (error) {
    // Work of a page the operator has left: the newer page is (or will be) drawn instead.
    if (error instanceof NavigationAbandoned || !nav.isCurrent()) return;
    if (error instanceof ApiError && error.status === 401) return signOut("The API key was not accepted.");
    errorPage(nav, error);
  } finally {
    if (nav.isCurrent() && document.activeElement === document.body) main.focus({ preventScroll: true });
  }
}

/** @type {HTMLElement} */ (document.getElementById("sign-out")).addEventListener("click", () => {
  signOut();
});
window.addEventListener("hashchange", () => void render());
void render();
