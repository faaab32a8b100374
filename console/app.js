/**
 * The web console: a hash-routed single page over the public REST API (static files, no build
 * step). Pages: API key entry, runs (live), a run with its state machine graph (live), new
 * provisioning, templates, tenants, statistics, alerts and webhooks. Tenants, deprovisioning,
 * statistics, alerts and webhooks appear when the service's OpenAPI document lists their endpoints.
 */
import { clearKey, getKey, hasOperation } from "./api.js";
import { h } from "./dom.js";
import { alertsPage } from "./pages/alerts.js";
import { keyPage } from "./pages/key.js";
import { provisionPage } from "./pages/provision.js";
import { runPage } from "./pages/run.js";
import { runsPage } from "./pages/runs.js";
import { statsPage } from "./pages/stats.js";
import { templatePage, templatesPage } from "./pages/templates.js";
import { tenantPage, tenantsPage } from "./pages/tenants.js";
import { WEBHOOK_OPS, webhookPage, webhooksPage } from "./pages/webhooks.js";
import { beginNavigation, currentRoute, isCurrent, navigate } from "./router.js";
import { errorPage, OPS, page } from "./ui.js";

const main = /** @type {HTMLElement} */ (document.getElementById("main"));

async function renderNav() {
  const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
  const session = /** @type {HTMLElement} */ (document.getElementById("session"));
  const key = getKey();
  nav.hidden = !key;
  session.hidden = !key;
  if (!key) return;
  const keyLabel = /** @type {HTMLElement} */ (document.getElementById("session-key"));
  keyLabel.textContent = `Key …${key.slice(-4)}`;
  const links = [
    ["runs", "Runs"],
    ["provision", "New provisioning"],
    ["templates", "Templates"],
  ];
  if (await hasOperation(OPS.listTenants)) links.push(["tenants", "Tenants"]);
  if (await hasOperation(OPS.stats)) links.push(["stats", "Statistics"]);
  if (await hasOperation(OPS.alerts)) links.push(["alerts", "Alerts"]);
  if (await hasOperation(WEBHOOK_OPS.list)) links.push(["webhooks", "Webhooks"]);
  const section = currentRoute().path[0] ?? "runs";
  nav.replaceChildren(
    h(
      "ul",
      {},
      links.map(([id, label]) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#/${id}`,
              "data-testid": `nav-${id}`,
              "aria-current": section === id ? "page" : undefined,
            },
            label,
          ),
        ),
      ),
    ),
  );
}

async function render() {
  const mine = beginNavigation();
  const { path, params } = currentRoute();
  if (!getKey() && path[0] !== "key") {
    navigate("#/key");
    return;
  }
  await renderNav();
  if (!isCurrent(mine)) return;
  try {
    switch (path[0]) {
      case "key":
        return keyPage();
      case "runs":
        return path[1] ? await runPage(path[1]) : await runsPage(params);
      case "provision":
        return await provisionPage(params);
      case "templates":
        return path[1] ? await templatePage(path[1], params) : await templatesPage();
      case "tenants":
        return path[1] ? await tenantPage(path[1]) : await tenantsPage(params);
      case "stats":
        return await statsPage(params);
      case "alerts":
        return await alertsPage(params);
      case "webhooks":
        return path[1] ? await webhookPage(path[1]) : await webhooksPage();
      default:
        page(
          "Not found",
          h("h1", {}, "Page not found"),
          h("p", {}, h("a", { href: "#/runs" }, "Go to runs")),
        );
    }
  } catch (error) {
    if (isCurrent(mine)) errorPage(error);
  } finally {
    if (isCurrent(mine) && document.activeElement === document.body) main.focus({ preventScroll: true });
  }
}

/** @type {HTMLElement} */ (document.getElementById("sign-out")).addEventListener("click", () => {
  clearKey();
  navigate("#/key");
});
window.addEventListener("hashchange", () => void render());
void render();
