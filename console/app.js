/**
 * The web console: a hash-routed single page over the public REST API. Pages: API key entry,
 * runs (live), a run with its state machine graph (live), new provisioning, templates, tenants,
 * statistics and alerts. Tenants, deprovisioning, statistics and alerts appear when the service's
 * OpenAPI document lists their endpoints.
 */
import { API, ApiError, clearKey, get, getKey, hasOperation, query, request, setKey } from "./api.js";
import { drawWorkflowGraph, STATUS_SYMBOL } from "./asl-graph.js";
import { durationHistogram, horizontalBars } from "./charts.js";
import {
  definitionList,
  formatDuration,
  formatRate,
  formatTime,
  h,
  notice,
  shortId,
  statusBadge,
  table,
} from "./dom.js";

const RUN_STATUSES = ["pending", "running", "completed", "failed", "cancelled"];
const RUN_KINDS = ["provision", "deprovision"];
const ACTIVE = new Set(["pending", "running"]);
const RUN_POLL_MS = 1500;
const LIST_POLL_MS = 2000;

const OPS = {
  listTenants: `GET ${API}/tenants`,
  getTenant: `GET ${API}/tenants/{id}`,
  deprovision: `POST ${API}/tenants/{id}/deprovision`,
  listBackups: `GET ${API}/tenants/{id}/backups`,
  stats: `GET ${API}/stats`,
  alerts: `GET ${API}/alerts`,
  resolveAlert: `POST ${API}/alerts/{id}/resolve`,
};

const main = /** @type {HTMLElement} */ (document.getElementById("main"));

/* ------------------------------------------------------------------------------------------- */
/* Routing and polling                                                                          */
/* ------------------------------------------------------------------------------------------- */

/** Increments on every navigation; a page's async work stops when it no longer matches. */
let generation = 0;

/** @returns {{path: string[], params: URLSearchParams}} */
function currentRoute() {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const [pathPart = "", queryPart = ""] = raw.split("?");
  return {
    path: pathPart.split("/").filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(queryPart),
  };
}

/** @param {string} hash */
function navigate(hash) {
  if (location.hash === hash) void render();
  else location.hash = hash;
}

/**
 * Runs `tick` now and then every `ms` (after the previous tick finished) until the page changes
 * or `tick` returns false.
 *
 * @param {() => Promise<boolean | undefined>} tick
 * @param {number | (() => number)} ms
 */
function poll(tick, ms) {
  const mine = generation;
  const loop = async () => {
    if (mine !== generation) return;
    let again = true;
    try {
      again = (await tick()) !== false;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return signOut("The API key was not accepted.");
    }
    if (again && mine === generation) setTimeout(loop, typeof ms === "function" ? ms() : ms);
  };
  void loop();
}

/** @param {string} [reason] */
function signOut(reason) {
  clearKey();
  sessionStorage.setItem("tenant-provisioning.signOutReason", reason ?? "");
  navigate("#/key");
}

/**
 * @param {string} title
 * @param {...(Node | string | null | undefined | false)} content
 */
function page(title, ...content) {
  document.title = `${title} · Tenant Provisioning Console`;
  main.replaceChildren(
    ...content
      .filter((c) => c !== null && c !== undefined && c !== false)
      .map((c) => (typeof c === "string" ? document.createTextNode(c) : c)),
  );
}

/** @param {unknown} error */
function errorMessage(error) {
  if (error instanceof ApiError)
    return error.status ? `${error.message} (HTTP ${error.status})` : error.message;
  return String(error);
}

/** @param {unknown} error */
function errorPage(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut("The API key was not accepted.");
    return;
  }
  page(
    "Error",
    h("h1", {}, "Something went wrong"),
    notice("error", errorMessage(error), { "data-testid": "page-error" }),
  );
}

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
  generation += 1;
  const { path, params } = currentRoute();
  if (!getKey() && path[0] !== "key") {
    navigate("#/key");
    return;
  }
  await renderNav();
  const mine = generation;
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
      default:
        page(
          "Not found",
          h("h1", {}, "Page not found"),
          h("p", {}, h("a", { href: "#/runs" }, "Go to runs")),
        );
    }
  } catch (error) {
    if (mine === generation) errorPage(error);
  } finally {
    if (mine === generation && document.activeElement === document.body) main.focus({ preventScroll: true });
  }
}

/* ------------------------------------------------------------------------------------------- */
/* Shared pieces                                                                                */
/* ------------------------------------------------------------------------------------------- */

/** @type {{at: number, items: any[]} | undefined} */
let templateCache;

/** Templates (cached for a few seconds: runs and forms only need names and ids). */
async function templates() {
  if (templateCache && Date.now() - templateCache.at < 10_000) return templateCache.items;
  const pageBody = await get(`${API}/templates${query({ limit: 200 })}`);
  templateCache = { at: Date.now(), items: pageBody.items };
  return pageBody.items;
}

/** A cleaned-up run cannot be resumed or cleaned up again. @param {any} run */
function cleanedUp(run) {
  return Boolean(run.metadata?.cleanup);
}

/** @param {any} run */
function runTitle(run) {
  const tenant = run.metadata?.tenant;
  if (tenant?.name) return tenant.name;
  if (tenant?.slug) return tenant.slug;
  return `Run ${shortId(run.id)}`;
}

/** @param {any} run */
function runDuration(run) {
  if (!run.startedAt) return null;
  const end = run.completedAt ? Date.parse(run.completedAt) : Date.now();
  return end - Date.parse(run.startedAt);
}

/** @param {any} run */
function progressBar(run) {
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
function confirmDialog(options) {
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
 * @param {{label: string, testid: string, danger?: boolean, confirm: Parameters<typeof confirmDialog>[0], call: (form: FormData) => Promise<any>, done: (result: any) => void, feedback: HTMLElement, success: string}} options
 */
function actionButton(options) {
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
      options.feedback.replaceChildren(
        notice("success", options.success, { "data-testid": "action-result" }),
      );
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
function crumb(text, href) {
  return href ? h("a", { href }, text) : h("span", { "aria-current": "page" }, text);
}

/** @param {...HTMLElement} items */
function breadcrumbs(...items) {
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
function card(title, ...body) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...body);
}

/* ------------------------------------------------------------------------------------------- */
/* API key                                                                                      */
/* ------------------------------------------------------------------------------------------- */

function keyPage() {
  const reason = sessionStorage.getItem("tenant-provisioning.signOutReason");
  sessionStorage.removeItem("tenant-provisioning.signOutReason");
  const feedback = h("div", { class: "feedback" }, reason ? notice("error", reason) : null);
  const input = /** @type {HTMLInputElement} */ (
    h("input", {
      id: "api-key",
      name: "apiKey",
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      required: true,
      "data-testid": "key-input",
      "aria-describedby": "api-key-help",
    })
  );
  const submit = h("button", { type: "submit", class: "button", "data-testid": "key-submit" }, "Continue");
  const form = h(
    "form",
    { class: "stack" },
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
    h(
      "p",
      { id: "api-key-help", class: "help" },
      "An admin key (local mode writes one to ",
      h("code", {}, "$DATA_DIR/admin-api-key"),
      "). It stays in this browser tab's session storage and is sent only to this service.",
    ),
    feedback,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    submit.setAttribute("disabled", "");
    try {
      await request("GET", `${API}/progress${query({ limit: 1 })}`, { key });
      setKey(key);
      navigate("#/runs");
    } catch (error) {
      feedback.replaceChildren(
        notice(
          "error",
          error instanceof ApiError && error.status === 401
            ? "This API key was not accepted."
            : errorMessage(error),
          { "data-testid": "key-error" },
        ),
      );
    } finally {
      submit.removeAttribute("disabled");
    }
  });
  page(
    "Sign in",
    h(
      "div",
      { class: "signin" },
      h("h1", {}, "Tenant Provisioning Console"),
      h("p", { class: "lead" }, "Templates, provisioning runs and their state machines, live."),
      form,
    ),
  );
  input.focus();
}

/* ------------------------------------------------------------------------------------------- */
/* Runs                                                                                         */
/* ------------------------------------------------------------------------------------------- */

/** @param {URLSearchParams} params */
async function runsPage(params) {
  const limit = 25;
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const filters = {
    status: params.get("status") ?? "",
    kind: params.get("kind") ?? "",
    tenantId: params.get("tenant") ?? "",
  };
  const [tpls, tenantsAvailable] = await Promise.all([
    templates().catch(() => []),
    hasOperation(OPS.listTenants),
  ]);
  const templateNames = new Map(tpls.map((/** @type {any} */ t) => [t.id, t.name]));

  const setFilter = (/** @type {Record<string, string>} */ change) => {
    const next = new URLSearchParams(currentRoute().params);
    for (const [k, v] of Object.entries(change)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!("offset" in change)) next.delete("offset");
    const qs = next.toString();
    navigate(`#/runs${qs ? `?${qs}` : ""}`);
  };

  const select = (
    /** @type {string} */ id,
    /** @type {string} */ label,
    /** @type {string[]} */ options,
    /** @type {string} */ value,
    /** @type {string} */ param,
  ) =>
    h(
      "div",
      { class: "field field-inline" },
      h("label", { for: id }, label),
      h(
        "select",
        {
          id,
          "data-testid": id,
          onchange: (/** @type {Event} */ e) =>
            setFilter({ [param]: /** @type {HTMLSelectElement} */ (e.target).value }),
        },
        h("option", { value: "" }, "All"),
        options.map((o) => h("option", { value: o, selected: o === value }, o)),
      ),
    );

  let tenantControl;
  if (tenantsAvailable) {
    const tenantList = await get(`${API}/tenants${query({ limit: 200 })}`).catch(() => ({ items: [] }));
    tenantControl = h(
      "div",
      { class: "field field-inline" },
      h("label", { for: "filter-tenant" }, "Tenant"),
      h(
        "select",
        {
          id: "filter-tenant",
          "data-testid": "filter-tenant",
          onchange: (/** @type {Event} */ e) =>
            setFilter({ tenant: /** @type {HTMLSelectElement} */ (e.target).value }),
        },
        h("option", { value: "" }, "All"),
        (tenantList.items ?? []).map((/** @type {any} */ t) =>
          h("option", { value: t.id, selected: t.id === filters.tenantId }, t.name ?? t.slug ?? t.id),
        ),
      ),
    );
  } else {
    const input = h("input", {
      id: "filter-tenant",
      "data-testid": "filter-tenant",
      value: filters.tenantId,
      placeholder: "tenant ID (UUID)",
      size: 38,
      onchange: (/** @type {Event} */ e) =>
        setFilter({ tenant: /** @type {HTMLInputElement} */ (e.target).value.trim() }),
    });
    tenantControl = h(
      "div",
      { class: "field field-inline" },
      h("label", { for: "filter-tenant" }, "Tenant"),
      input,
    );
  }

  const filterBar = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter runs",
      onsubmit: (/** @type {Event} */ e) => e.preventDefault(),
    },
    select("filter-status", "Status", RUN_STATUSES, filters.status, "status"),
    select("filter-kind", "Kind", RUN_KINDS, filters.kind, "kind"),
    tenantControl,
    filters.status || filters.kind || filters.tenantId
      ? h(
          "button",
          { type: "button", class: "button button-ghost", onclick: () => navigate("#/runs") },
          "Clear filters",
        )
      : null,
  );

  const tbody = h("tbody", { "data-testid": "runs-body" });
  const feedback = h("div", { class: "feedback" });
  const pager = h("div", { class: "pager" });
  const updated = h("span", { class: "muted small", "data-testid": "runs-updated" });
  const head = ["Run", "Tenant", "Kind", "Template", "Status", "Progress", "Started", "Duration"];

  page(
    "Runs",
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Runs"),
      h("a", { class: "button", href: "#/provision", "data-testid": "new-provisioning" }, "New provisioning"),
    ),
    filterBar,
    feedback,
    h(
      "div",
      { class: "card card-flush" },
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { "data-testid": "runs-table" },
          h("caption", { class: "visually-hidden" }, "Runs, newest first, refreshed every 2 seconds"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              head.map((l) => h("th", { scope: "col" }, l)),
            ),
          ),
          tbody,
        ),
      ),
      h("div", { class: "card-foot" }, pager, updated),
    ),
  );

  poll(async () => {
    let result;
    try {
      result = await get(`${API}/progress${query({ ...filters, limit, offset })}`);
      feedback.replaceChildren();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      feedback.replaceChildren(notice("error", errorMessage(error)));
      return true;
    }
    tbody.replaceChildren(
      ...(result.items.length === 0
        ? [h("tr", {}, h("td", { colspan: head.length, class: "empty" }, "No runs match."))]
        : result.items.map((/** @type {any} */ run) =>
            h(
              "tr",
              { "data-testid": "run-row", "data-run-id": run.id, "data-status": run.status },
              h("td", {}, h("a", { href: `#/runs/${run.id}`, class: "mono" }, shortId(run.id))),
              h(
                "td",
                {},
                h("div", {}, runTitle(run)),
                run.metadata?.tenant?.slug
                  ? h("div", { class: "muted small mono" }, run.metadata.tenant.slug)
                  : null,
              ),
              h("td", {}, run.kind),
              h(
                "td",
                {},
                run.templateId
                  ? h(
                      "a",
                      { href: `#/templates/${run.templateId}` },
                      templateNames.get(run.templateId) ?? shortId(run.templateId),
                      run.templateVersion ? ` v${run.templateVersion}` : "",
                    )
                  : h("span", { class: "muted" }, run.kind === "provision" ? "custom" : "—"),
              ),
              h("td", {}, statusBadge(run.status)),
              h("td", {}, progressBar(run)),
              h("td", { class: "nowrap" }, formatTime(run.startedAt ?? run.createdAt)),
              h("td", { class: "nowrap" }, formatDuration(runDuration(run))),
            ),
          )),
    );
    const from = result.total === 0 ? 0 : offset + 1;
    const to = Math.min(offset + result.items.length, result.total);
    pager.replaceChildren(
      h("span", { class: "muted small" }, `${from}–${to} of ${result.total}`),
      h(
        "button",
        {
          type: "button",
          class: "button button-ghost",
          disabled: offset === 0,
          onclick: () => setFilter({ offset: String(Math.max(0, offset - limit)) }),
        },
        "Previous",
      ),
      h(
        "button",
        {
          type: "button",
          class: "button button-ghost",
          disabled: offset + limit >= result.total,
          onclick: () => setFilter({ offset: String(offset + limit) }),
        },
        "Next",
      ),
    );
    updated.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
    return true;
  }, LIST_POLL_MS);
}

/** @type {Map<string, Promise<any>>} */
const workflowCache = new Map();

/** @param {string} kind  provisioning | deprovisioning */
function workflow(kind) {
  let w = workflowCache.get(kind);
  if (!w) {
    w = get(`${API}/workflows/${kind}`).catch((error) => {
      workflowCache.delete(kind);
      throw error;
    });
    workflowCache.set(kind, w);
  }
  return w;
}

/** @param {string} id */
async function runPage(id) {
  let run = await get(`${API}/progress/${encodeURIComponent(id)}`);
  const kind = run.kind === "deprovision" ? "deprovisioning" : "provisioning";
  const [wf, tpls, canDeprovision, tenantPages] = await Promise.all([
    workflow(kind).catch(() => null),
    templates().catch(() => []),
    hasOperation(OPS.deprovision),
    hasOperation(OPS.getTenant),
  ]);
  const template = tpls.find((/** @type {any} */ t) => t.id === run.templateId);

  const heading = h("h1", { "data-testid": "run-title" });
  const chips = h("span", { class: "title-chips", "data-testid": "run-status", "aria-live": "polite" });
  const facts = h("div");
  const messages = h("div");
  const feedback = h("div", { class: "feedback", "data-testid": "run-feedback" });
  const toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Run actions" });
  const graphHolder = h("div", { class: "graph-holder", "data-testid": "graph-holder" });
  const stepsBody = h("tbody", { "data-testid": "steps-body" });
  const liveNote = h("div", { class: "muted small subtitle", "data-testid": "run-updated" });

  let lastSignature = "";
  let lastToolbar = "";

  const restartPolling = (/** @type {any} */ next) => {
    if (next) update(next);
    startPolling();
  };

  const buildToolbar = () => {
    const key = `${run.status}|${run.tenantId}|${run.kind}|${cleanedUp(run)}`;
    if (key === lastToolbar) return;
    lastToolbar = key;
    /** @type {HTMLElement[]} */
    const buttons = [];
    const base = `${API}/progress/${encodeURIComponent(run.id)}`;
    if (ACTIVE.has(run.status)) {
      buttons.push(
        actionButton({
          label: "Cancel run",
          testid: "action-cancel",
          danger: true,
          confirm: {
            title: "Cancel this run?",
            message: "No later step will run. Steps already done stay done until you clean up.",
            confirmLabel: "Cancel run",
            danger: true,
          },
          call: () => request("POST", `${base}/cancel`),
          done: restartPolling,
          feedback,
          success: "Run cancelled.",
        }),
      );
    }
    if (run.status === "failed" && !cleanedUp(run)) {
      buttons.push(
        actionButton({
          label: "Recover",
          testid: "action-recover",
          confirm: {
            title: "Recover this run?",
            message: "The run resumes from its first unfinished step; completed steps are not redone.",
            confirmLabel: "Recover",
          },
          call: () => request("POST", `${base}/recover`),
          done: restartPolling,
          feedback,
          success: "Run resumed.",
        }),
      );
    }
    if ((run.status === "failed" || run.status === "cancelled") && !cleanedUp(run)) {
      buttons.push(
        actionButton({
          label: "Clean up",
          testid: "action-cleanup",
          danger: true,
          confirm: {
            title: "Clean up this run?",
            message:
              "Everything this run created — schema, users, tenant data — is removed. This cannot be undone.",
            confirmLabel: "Clean up",
            danger: true,
          },
          call: () => request("POST", `${base}/cleanup`),
          done: restartPolling,
          feedback,
          success: "Run cleaned up.",
        }),
      );
    }
    if (canDeprovision && run.kind === "provision" && run.status === "completed" && run.tenantId) {
      buttons.push(deprovisionButton(run.tenantId, feedback));
    }
    toolbar.replaceChildren(...buttons);
  };

  const update = (/** @type {any} */ next) => {
    run = next;
    heading.replaceChildren(runTitle(run));
    chips.replaceChildren(
      h("span", { class: "kind-chip" }, run.kind),
      statusBadge(run.status, { "data-testid": "run-status-badge" }),
      cleanedUp(run)
        ? h("span", { class: "chip chip-muted", "data-testid": "run-cleaned-up" }, "cleaned up")
        : "",
    );
    facts.replaceChildren(
      definitionList([
        ["Run", h("span", { class: "mono" }, run.id), { class: "fact-wide" }],
        [
          "Tenant",
          run.tenantId
            ? tenantPages
              ? h(
                  "a",
                  { href: `#/tenants/${run.tenantId}` },
                  run.metadata?.tenant?.slug ?? shortId(run.tenantId),
                )
              : h(
                  "span",
                  {},
                  run.metadata?.tenant?.slug ?? "",
                  h("span", { class: "muted mono small" }, ` ${shortId(run.tenantId)}`),
                )
            : "—",
        ],
        [
          "Template",
          run.templateId
            ? h(
                "a",
                { href: `#/templates/${run.templateId}` },
                template?.name ?? shortId(run.templateId),
                run.templateVersion ? ` (v${run.templateVersion})` : "",
              )
            : run.kind === "provision"
              ? "custom (inline spec)"
              : "—",
        ],
        ["Progress", `${run.completedSteps} of ${run.totalSteps} steps`],
        ["Started", formatTime(run.startedAt)],
        ["Finished", formatTime(run.completedAt)],
        ["Duration", formatDuration(runDuration(run))],
        ["Attempt", String(run.attempt)],
      ]),
    );
    messages.replaceChildren(
      run.error
        ? notice(run.status === "failed" ? "error" : "info", run.error, { "data-testid": "run-error" })
        : "",
      ...(run.warnings ?? []).map((/** @type {any} */ w) =>
        notice("info", `${formatTime(w.at)} · ${w.code}: ${w.message}`),
      ),
    );
    buildToolbar();

    const signature = JSON.stringify([run.status, run.steps]);
    if (signature !== lastSignature) {
      lastSignature = signature;
      if (wf) {
        graphHolder.replaceChildren(
          drawWorkflowGraph(wf, run, { mapItems: template?.postProvisioningSteps ?? [] }),
          graphLegend(),
        );
      } else {
        graphHolder.replaceChildren(
          notice("info", `The ${kind} workflow definition is not available from this service.`),
        );
      }
      stepsBody.replaceChildren(
        ...run.steps.map((/** @type {any} */ step, /** @type {number} */ i) =>
          stepRow(run, step, i, feedback, restartPolling),
        ),
      );
    }
    liveNote.textContent = ACTIVE.has(run.status)
      ? `Live · updated ${new Date().toLocaleTimeString()}`
      : `Finished · last checked ${new Date().toLocaleTimeString()}`;
  };

  page(
    runTitle(run),
    breadcrumbs(crumb("Runs", "#/runs"), crumb(shortId(run.id))),
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("div", { class: "title-row" }, heading, chips), liveNote),
      toolbar,
    ),
    feedback,
    messages,
    card("Summary", facts),
    card("State machine", graphHolder),
    card(
      "Steps",
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { "data-testid": "steps-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["#", "Step", "Status", "Attempts", "Started", "Duration", "Error", ""].map((l) =>
                h("th", { scope: "col" }, l),
              ),
            ),
          ),
          stepsBody,
        ),
      ),
    ),
  );
  update(run);

  const mine = generation;
  let polling = false;
  function startPolling() {
    if (polling || mine !== generation) return;
    polling = true;
    poll(async () => {
      const next = await get(`${API}/progress/${encodeURIComponent(id)}`);
      update(next);
      if (!ACTIVE.has(next.status)) {
        polling = false;
        return false;
      }
      return true;
    }, RUN_POLL_MS);
  }
  if (ACTIVE.has(run.status)) startPolling();
}

function graphLegend() {
  const items = ["pending", "running", "completed", "failed", "skipped"];
  return h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    items.map((st) =>
      h(
        "li",
        {},
        h("span", { class: `swatch swatch-${st}`, "aria-hidden": "true" }),
        `${STATUS_SYMBOL[/** @type {keyof typeof STATUS_SYMBOL} */ (st)]} ${st}`,
      ),
    ),
    h("li", {}, h("span", { class: "line line-next", "aria-hidden": "true" }), "next"),
    h("li", {}, h("span", { class: "line line-choice", "aria-hidden": "true" }), "start at (Choice)"),
    h("li", {}, h("span", { class: "line line-catch", "aria-hidden": "true" }), "on error (Catch)"),
  );
}

/**
 * @param {any} run
 * @param {any} step
 * @param {number} i
 * @param {HTMLElement} feedback
 * @param {(next: any) => void} restart
 */
function stepRow(run, step, i, feedback, restart) {
  const firstUnfinished = run.steps.find(
    (/** @type {any} */ st) => st.status !== "completed" && st.status !== "skipped",
  );
  const retryable =
    !cleanedUp(run) &&
    (step.status === "failed" || (run.status === "cancelled" && firstUnfinished?.name === step.name));
  return h(
    "tr",
    { "data-testid": `step-row-${step.name}`, "data-status": step.status },
    h("td", { class: "muted" }, String(i + 1)),
    h(
      "td",
      {},
      h("div", { class: "strong" }, step.title ?? step.name),
      h("div", { class: "muted small mono" }, step.name),
      step.actions?.length
        ? h(
            "ul",
            { class: "action-list" },
            step.actions.map((/** @type {any} */ a) =>
              h(
                "li",
                {},
                statusBadge(a.status, { class: `badge badge-small status-${a.status}` }),
                " ",
                a.name,
                a.attempts > 1 ? h("span", { class: "muted small" }, ` · ${a.attempts} attempts`) : "",
                a.error ? h("div", { class: "error-text small" }, `${a.error.name}: ${a.error.message}`) : "",
              ),
            ),
          )
        : null,
    ),
    h("td", {}, statusBadge(step.status)),
    h("td", { class: "num" }, String(step.attempts)),
    h("td", { class: "nowrap" }, formatTime(step.startedAt)),
    h("td", { class: "nowrap num" }, formatDuration(step.durationMs)),
    h(
      "td",
      {},
      step.error
        ? h("div", { class: "error-text" }, h("strong", {}, step.error.name), `: ${step.error.message}`)
        : h("span", { class: "muted" }, "—"),
    ),
    h(
      "td",
      {},
      retryable
        ? actionButton({
            label: "Retry step",
            testid: `action-retry-${step.id}`,
            confirm: {
              title: `Retry ${step.title ?? step.name}?`,
              message: "The run resumes from this step; earlier steps are not redone.",
              confirmLabel: "Retry step",
            },
            call: () =>
              request(
                "POST",
                `${API}/progress/${encodeURIComponent(run.id)}/steps/${encodeURIComponent(step.id)}/retry`,
              ),
            done: restart,
            feedback,
            success: `Retrying ${step.name}.`,
          })
        : null,
    ),
  );
}

/**
 * @param {string} tenantId
 * @param {HTMLElement} feedback
 */
function deprovisionButton(tenantId, feedback) {
  const fields = h(
    "fieldset",
    { class: "stack" },
    h("legend", {}, "Options"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "dp-grace" }, "Grace period (hours)"),
      h("input", {
        id: "dp-grace",
        name: "gracePeriodHours",
        type: "number",
        min: 0,
        max: 8760,
        step: 1,
        value: "0",
        "data-testid": "deprovision-grace",
      }),
    ),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "notifyUsers" }),
      " Notify the tenant's users",
    ),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "preserveBackups", checked: true }),
      " Keep the backup",
    ),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "preserveAuditLogs", checked: true }),
      " Keep the audit logs",
    ),
  );
  return actionButton({
    label: "Deprovision tenant",
    testid: "action-deprovision",
    danger: true,
    confirm: {
      title: "Deprovision this tenant?",
      message: "The tenant is backed up, disabled, and after the grace period its data is deleted.",
      confirmLabel: "Deprovision",
      danger: true,
      fields,
    },
    call: (form) =>
      request("POST", `${API}/tenants/${encodeURIComponent(tenantId)}/deprovision`, {
        body: {
          gracePeriodHours: Number(form.get("gracePeriodHours") ?? 0),
          notifyUsers: form.get("notifyUsers") === "on",
          preserveBackups: form.get("preserveBackups") === "on",
          preserveAuditLogs: form.get("preserveAuditLogs") === "on",
        },
      }),
    done: (result) => {
      if (result?.id) navigate(`#/runs/${result.id}`);
    },
    feedback,
    success: "Deprovisioning started.",
  });
}

/* ------------------------------------------------------------------------------------------- */
/* New provisioning                                                                             */
/* ------------------------------------------------------------------------------------------- */

/** @param {string} text */
function slugify(text) {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
}

/** @param {URLSearchParams} params */
async function provisionPage(params) {
  const tpls = await templates();
  const chosen =
    params.get("template") ?? tpls.find((/** @type {any} */ t) => t.isDefault)?.id ?? tpls[0]?.id ?? "";
  const idempotencyKey = crypto.randomUUID();
  const feedback = h("div", { class: "feedback" });
  /** @type {Record<string, HTMLElement>} */
  const errors = {};

  /**
   * @param {string} name
   * @param {string} label
   * @param {Record<string, string | number | boolean>} attrs
   * @param {string} [help]
   */
  const field = (name, label, attrs, help) => {
    const id = `provision-${name}`;
    errors[name] = h("p", { class: "field-error", id: `${id}-error`, "data-testid": `${id}-error` });
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      h("input", {
        id,
        name,
        required: true,
        "data-testid": id,
        "aria-describedby": `${id}-help ${id}-error`,
        ...attrs,
      }),
      help ? h("p", { class: "help", id: `${id}-help` }, help) : null,
      errors[name],
    );
  };

  const templateSelect = /** @type {HTMLSelectElement} */ (
    h(
      "select",
      { id: "provision-template", name: "template", required: true, "data-testid": "provision-template" },
      tpls.map((/** @type {any} */ t) =>
        h("option", { value: t.id, selected: t.id === chosen }, `${t.name} (v${t.version})`),
      ),
    )
  );
  const summary = h("div", { class: "template-summary", "data-testid": "provision-template-summary" });
  const showSummary = () => {
    const t = tpls.find((/** @type {any} */ x) => x.id === templateSelect.value);
    if (!t) return summary.replaceChildren();
    summary.replaceChildren(
      h("h3", {}, t.name),
      t.description ? h("p", { class: "muted" }, t.description) : null,
      definitionList([
        ["Category", t.category],
        ["Limits", limitsText(t.limits)],
        ["Features", (t.settings.features ?? []).join(", ") || "—"],
        ["Initial data", initialDataText(t.initialData)],
        ["After provisioning", t.postProvisioningSteps.join(", ") || "—"],
      ]),
    );
  };
  templateSelect.addEventListener("change", showSummary);

  const submit = h(
    "button",
    { type: "submit", class: "button", "data-testid": "provision-submit" },
    "Start provisioning",
  );
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "stack", "data-testid": "provision-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "provision-template" }, "Template"), templateSelect),
      h(
        "fieldset",
        { class: "stack" },
        h("legend", {}, "Tenant"),
        field("name", "Name", { autocomplete: "organization", maxlength: 255 }),
        h(
          "div",
          { class: "field-row" },
          field(
            "slug",
            "Slug",
            { pattern: "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", maxlength: 63, class: "mono" },
            "3–63 lowercase letters, digits or hyphens",
          ),
          field(
            "subdomain",
            "Subdomain",
            { pattern: "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", maxlength: 63, class: "mono" },
            "Same rules as the slug",
          ),
        ),
      ),
      h(
        "fieldset",
        { class: "stack" },
        h("legend", {}, "Administrator"),
        field("adminName", "Name", { autocomplete: "off", maxlength: 255 }),
        field("adminEmail", "Email", { type: "email", autocomplete: "off", maxlength: 320 }),
        field(
          "adminPassword",
          "Password",
          { type: "password", autocomplete: "new-password", minlength: 12 },
          "At least 12 characters",
        ),
      ),
      feedback,
      h("div", {}, submit),
    )
  );

  // The slug follows the name and the subdomain follows the slug until the operator edits them.
  const input = (/** @type {string} */ n) => /** @type {HTMLInputElement} */ (form.elements.namedItem(n));
  const edited = new Set();
  for (const n of ["slug", "subdomain"]) input(n).addEventListener("input", () => edited.add(n));
  input("name").addEventListener("input", () => {
    if (!edited.has("slug")) input("slug").value = slugify(input("name").value);
    if (!edited.has("subdomain")) input("subdomain").value = input("slug").value;
  });
  input("slug").addEventListener("input", () => {
    if (!edited.has("subdomain")) input("subdomain").value = input("slug").value;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const el of Object.values(errors)) el.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    feedback.replaceChildren();
    const body = Object.fromEntries(
      ["slug", "name", "subdomain", "adminName", "adminEmail", "adminPassword"].map((n) => [
        n,
        input(n).value.trim(),
      ]),
    );
    body.adminPassword = input("adminPassword").value;
    submit.setAttribute("disabled", "");
    submit.textContent = "Starting…";
    try {
      const run = await request(
        "POST",
        `${API}/templates/${encodeURIComponent(templateSelect.value)}/provision`,
        {
          body,
          headers: { "idempotency-key": idempotencyKey },
        },
      );
      navigate(`#/runs/${run.id}`);
    } catch (error) {
      if (error instanceof ApiError) {
        const fieldMessages = error.fieldMessages();
        let shown = 0;
        for (const [fieldName, message] of Object.entries(fieldMessages)) {
          const name = fieldName.replace(/^body\./, "");
          const target = errors[name];
          if (target) {
            target.textContent = message;
            input(name)?.setAttribute("aria-invalid", "true");
            shown += 1;
          }
        }
        feedback.replaceChildren(
          notice("error", shown > 0 ? `${error.message}` : errorMessage(error), {
            "data-testid": "provision-error",
          }),
        );
      } else {
        feedback.replaceChildren(notice("error", String(error), { "data-testid": "provision-error" }));
      }
      submit.removeAttribute("disabled");
      submit.textContent = "Start provisioning";
    }
  });

  page(
    "New provisioning",
    breadcrumbs(crumb("Runs", "#/runs"), crumb("New provisioning")),
    h("div", { class: "page-head" }, h("h1", {}, "New provisioning")),
    h(
      "div",
      { class: "two-col" },
      h("section", { class: "card", "aria-label": "Provisioning form" }, form),
      h("aside", { class: "card", "aria-label": "Selected template" }, summary),
    ),
  );
  showSummary();
}

/* ------------------------------------------------------------------------------------------- */
/* Templates                                                                                    */
/* ------------------------------------------------------------------------------------------- */

/** @param {any} limits */
function limitsText(limits) {
  const parts = [];
  if (limits.maxUsers) parts.push(`${limits.maxUsers} users`);
  if (limits.maxSchools) parts.push(`${limits.maxSchools} schools`);
  if (limits.maxProducts) parts.push(`${limits.maxProducts} products`);
  if (limits.maxStorageMb) parts.push(`${limits.maxStorageMb} MB`);
  return parts.join(" · ") || "none";
}

/** @param {any} data */
function initialDataText(data) {
  const parts = ["schools", "products", "users", "configurations"].map(
    (k) => `${(data?.[k] ?? []).length} ${k}`,
  );
  return parts.join(" · ");
}

async function templatesPage() {
  templateCache = undefined;
  const tpls = await templates();
  page(
    "Templates",
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Templates"),
      h("span", { class: "muted" }, `${tpls.length} template${tpls.length === 1 ? "" : "s"}`),
    ),
    h(
      "div",
      { class: "card card-flush" },
      table(
        ["Name", "Category", "Version", "Limits", "Features", "Initial data", ""],
        tpls.map((/** @type {any} */ t) =>
          h(
            "tr",
            { "data-testid": "template-row", "data-name": t.name, "data-template-id": t.id },
            h(
              "td",
              {},
              h("a", { href: `#/templates/${t.id}`, class: "strong" }, t.name),
              t.isDefault ? h("span", { class: "chip" }, "default") : null,
              t.description ? h("div", { class: "muted small clamp" }, t.description) : null,
            ),
            h("td", {}, t.category.replace("_", " ")),
            h("td", { class: "num" }, `v${t.version}`),
            h("td", { class: "small" }, limitsText(t.limits)),
            h("td", { class: "num" }, String((t.settings.features ?? []).length)),
            h("td", { class: "small" }, initialDataText(t.initialData)),
            h(
              "td",
              {},
              h(
                "a",
                { class: "button button-secondary button-small", href: `#/provision?template=${t.id}` },
                "Provision",
              ),
            ),
          ),
        ),
        { "data-testid": "templates-table" },
      ),
    ),
  );
}

/**
 * @param {string} id
 * @param {URLSearchParams} params
 */
async function templatePage(id, params) {
  const version = params.get("version");
  const [t, versions] = await Promise.all([
    get(`${API}/templates/${encodeURIComponent(id)}${query({ version })}`),
    get(`${API}/templates/${encodeURIComponent(id)}/versions`),
  ]);
  const latest = Math.max(...versions.items.map((/** @type {any} */ v) => v.version));
  const counts = ["schools", "products", "users", "configurations"].map((k) =>
    h(
      "div",
      { class: "stat", "data-testid": `initial-${k}` },
      h("div", { class: "stat-value" }, String((t.initialData?.[k] ?? []).length)),
      h("div", { class: "stat-label" }, k),
    ),
  );
  const s = t.settings ?? {};
  page(
    t.name,
    breadcrumbs(crumb("Templates", "#/templates"), crumb(t.name)),
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        { class: "title-row" },
        h("h1", { "data-testid": "template-title" }, t.name),
        h("span", { class: "chip" }, `v${t.version}`),
        t.isDefault ? h("span", { class: "chip" }, "default") : null,
        t.deletedAt ? statusBadge("deleted") : null,
      ),
      t.deletedAt
        ? null
        : h("a", { class: "button", href: `#/provision?template=${t.id}` }, "Provision a tenant"),
    ),
    version && Number(version) !== latest
      ? notice("info", `You are looking at version ${version}; the current version is ${latest}.`)
      : null,
    t.description ? h("p", { class: "lead" }, t.description) : null,
    h(
      "div",
      { class: "grid-3" },
      card(
        "Limits",
        definitionList(
          [
            ["Users", t.limits.maxUsers ?? "unlimited"],
            ["Schools", t.limits.maxSchools ?? "unlimited"],
            ["Products", t.limits.maxProducts ?? "unlimited"],
            ["Storage", t.limits.maxStorageMb ? `${t.limits.maxStorageMb} MB` : "unlimited"],
          ],
          { "data-testid": "template-limits" },
        ),
      ),
      card(
        "Settings",
        definitionList([
          ["Locale", s.locale],
          ["Time zone", s.timezone],
          ["Currency", s.currency],
          [
            "Order approval",
            s.requireOrderApproval ? `required above ${s.orderApprovalThreshold ?? 0}` : "not required",
          ],
          ["Fiscal year starts", s.fiscalYearStartMonth ? `month ${s.fiscalYearStartMonth}` : undefined],
        ]),
      ),
      card(
        "Features",
        h(
          "ul",
          { class: "chips", "data-testid": "template-features" },
          (s.features ?? []).map((/** @type {string} */ f) => h("li", { class: "chip" }, f)),
        ),
        h("h3", {}, "Tenant migrations"),
        h(
          "ul",
          { class: "chips" },
          t.migrations.map((/** @type {string} */ m) => h("li", { class: "chip chip-muted" }, m)),
        ),
      ),
    ),
    h(
      "div",
      { class: "grid-2" },
      card("Initial data", h("div", { class: "stats-row" }, counts)),
      card(
        "Post-provisioning steps",
        t.postProvisioningSteps.length
          ? h(
              "ol",
              { class: "numbered" },
              t.postProvisioningSteps.map((/** @type {string} */ p) => h("li", {}, p)),
            )
          : h("p", { class: "muted" }, "None"),
      ),
    ),
    card(
      "Versions",
      table(
        ["Version", "Name", "Category", "Created", "By", ""],
        versions.items.map((/** @type {any} */ v) =>
          h(
            "tr",
            { "data-testid": "version-row" },
            h("td", { class: "num" }, `v${v.version}`),
            h("td", {}, v.name),
            h("td", {}, v.category),
            h("td", { class: "nowrap" }, formatTime(v.createdAt)),
            h("td", { class: "mono small" }, v.createdBy ? shortId(v.createdBy) : "—"),
            h(
              "td",
              {},
              v.version === t.version
                ? h("span", { class: "muted small" }, "shown")
                : h("a", { href: `#/templates/${t.id}?version=${v.version}` }, "View"),
            ),
          ),
        ),
        { "data-testid": "versions-table" },
      ),
    ),
  );
}

/* ------------------------------------------------------------------------------------------- */
/* Tenants (when the service has the endpoints)                                                 */
/* ------------------------------------------------------------------------------------------- */

/** @param {URLSearchParams} params */
async function tenantsPage(params) {
  if (!(await hasOperation(OPS.listTenants))) {
    page("Tenants", h("h1", {}, "Tenants"), notice("info", "This service does not list tenants yet."));
    return;
  }
  const status = params.get("status") ?? "";
  const result = await get(`${API}/tenants${query({ status, limit: 200 })}`);
  const tpls = await templates().catch(() => []);
  const names = new Map(tpls.map((/** @type {any} */ t) => [t.id, t.name]));
  const statuses = ["provisioning", "active", "suspended", "deprovisioning", "deprovisioned", "failed"];
  page(
    "Tenants",
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Tenants"),
      h("span", { class: "muted" }, `${result.total ?? result.items.length} tenants`),
    ),
    h(
      "form",
      {
        class: "filters",
        role: "search",
        "aria-label": "Filter tenants",
        onsubmit: (/** @type {Event} */ e) => e.preventDefault(),
      },
      h(
        "div",
        { class: "field field-inline" },
        h("label", { for: "tenant-status" }, "Status"),
        h(
          "select",
          {
            id: "tenant-status",
            onchange: (/** @type {Event} */ e) => {
              const v = /** @type {HTMLSelectElement} */ (e.target).value;
              navigate(v ? `#/tenants?status=${v}` : "#/tenants");
            },
          },
          h("option", { value: "" }, "All"),
          statuses.map((st) => h("option", { value: st, selected: st === status }, st)),
        ),
      ),
    ),
    h(
      "div",
      { class: "card card-flush" },
      table(
        ["Tenant", "Subdomain", "Status", "Template", "Created"],
        result.items.length === 0
          ? [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No tenants."))]
          : result.items.map((/** @type {any} */ t) =>
              h(
                "tr",
                { "data-testid": "tenant-row", "data-tenant-id": t.id },
                h(
                  "td",
                  {},
                  h("a", { href: `#/tenants/${t.id}`, class: "strong" }, t.name ?? t.slug ?? shortId(t.id)),
                  h("div", { class: "muted small mono" }, t.slug ?? ""),
                ),
                h("td", { class: "mono small" }, t.subdomain ?? "—"),
                h("td", {}, t.status ? statusBadge(t.status) : "—"),
                h(
                  "td",
                  {},
                  t.templateId
                    ? h(
                        "a",
                        { href: `#/templates/${t.templateId}` },
                        names.get(t.templateId) ?? shortId(t.templateId),
                        t.templateVersion ? ` v${t.templateVersion}` : "",
                      )
                    : "—",
                ),
                h("td", { class: "nowrap" }, formatTime(t.createdAt)),
              ),
            ),
        { "data-testid": "tenants-table" },
      ),
    ),
  );
}

/** @param {string} id */
async function tenantPage(id) {
  const [tenant, runs, canDeprovision, canListBackups] = await Promise.all([
    get(`${API}/tenants/${encodeURIComponent(id)}`),
    get(`${API}/progress${query({ tenantId: id, limit: 50 })}`),
    hasOperation(OPS.deprovision),
    hasOperation(OPS.listBackups),
  ]);
  const feedback = h("div", { class: "feedback" });
  const scalar = Object.entries(tenant).filter(([, v]) => v === null || typeof v !== "object");
  const labelOf = (/** @type {string} */ k) =>
    k.replace(/([A-Z])/g, " $1").replace(/^./, (c) => c.toUpperCase());
  const displayValue = (/** @type {string} */ k, /** @type {unknown} */ v) =>
    v === null || v === undefined
      ? "—"
      : k === "status"
        ? statusBadge(String(v))
        : /At$/.test(k)
          ? formatTime(String(v))
          : k === "templateId"
            ? h("a", { href: `#/templates/${v}` }, shortId(String(v)))
            : String(v);
  const backups = canListBackups
    ? await get(`${API}/tenants/${encodeURIComponent(id)}/backups`).catch(() => null)
    : null;
  page(
    tenant.name ?? "Tenant",
    breadcrumbs(crumb("Tenants", "#/tenants"), crumb(tenant.name ?? shortId(id))),
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        { class: "title-row" },
        h("h1", { "data-testid": "tenant-title" }, tenant.name ?? tenant.slug ?? shortId(id)),
        tenant.status ? statusBadge(tenant.status) : null,
      ),
      canDeprovision && tenant.status === "active" ? deprovisionButton(id, feedback) : null,
    ),
    feedback,
    h(
      "div",
      { class: "grid-2" },
      card("Tenant", definitionList(scalar.map(([k, v]) => [labelOf(k), displayValue(k, v)]))),
      tenant.limits
        ? card(
            "Limits",
            definitionList(Object.entries(tenant.limits).map(([k, v]) => [labelOf(k), String(v)])),
          )
        : null,
    ),
    card(
      "Runs",
      table(
        ["Run", "Kind", "Status", "Progress", "Started", "Duration"],
        runs.items.map((/** @type {any} */ run) =>
          h(
            "tr",
            { "data-testid": "tenant-run-row" },
            h("td", {}, h("a", { href: `#/runs/${run.id}`, class: "mono" }, shortId(run.id))),
            h("td", {}, run.kind),
            h("td", {}, statusBadge(run.status)),
            h("td", {}, progressBar(run)),
            h("td", { class: "nowrap" }, formatTime(run.startedAt ?? run.createdAt)),
            h("td", {}, formatDuration(runDuration(run))),
          ),
        ),
      ),
    ),
    backups
      ? card(
          "Backups",
          table(
            ["Backup", "Created", "Size", "Status"],
            (backups.items ?? []).map((/** @type {any} */ b) =>
              h(
                "tr",
                {},
                h("td", { class: "mono" }, shortId(b.id)),
                h("td", {}, formatTime(b.createdAt)),
                h(
                  "td",
                  { class: "num" },
                  b.sizeBytes !== undefined ? `${Math.round(b.sizeBytes / 1024)} KiB` : "—",
                ),
                h("td", {}, b.status ?? "—"),
              ),
            ),
          ),
        )
      : null,
  );
}

/* ------------------------------------------------------------------------------------------- */
/* Statistics and alerts                                                                        */
/* ------------------------------------------------------------------------------------------- */

/** @param {string} local  a datetime-local value */
function toIso(local) {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** @param {string | null} iso */
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** @param {URLSearchParams} params */
async function statsPage(params) {
  if (!(await hasOperation(OPS.stats))) {
    page(
      "Statistics",
      h("h1", {}, "Statistics"),
      notice("info", "This service does not offer statistics yet."),
    );
    return;
  }
  const from = params.get("from");
  const to = params.get("to");
  const body = h("div", { "data-testid": "stats-body" });
  const feedback = h("div", { class: "feedback" });
  const fromInput = /** @type {HTMLInputElement} */ (
    h("input", { id: "stats-from", name: "from", type: "datetime-local", value: toLocalInput(from) })
  );
  const toInput = /** @type {HTMLInputElement} */ (
    h("input", { id: "stats-to", name: "to", type: "datetime-local", value: toLocalInput(to) })
  );
  const filter = h(
    "form",
    {
      class: "filters",
      "aria-label": "Time window",
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        const q = query({ from: toIso(fromInput.value), to: toIso(toInput.value) });
        navigate(`#/stats${q}`);
      },
    },
    h("div", { class: "field field-inline" }, h("label", { for: "stats-from" }, "Created from"), fromInput),
    h("div", { class: "field field-inline" }, h("label", { for: "stats-to" }, "to"), toInput),
    h("button", { type: "submit", class: "button button-secondary" }, "Apply"),
    from || to ? h("a", { class: "button button-ghost", href: "#/stats" }, "All time") : null,
  );
  page(
    "Statistics",
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Statistics"),
      h("span", { class: "muted small", id: "stats-updated" }),
    ),
    filter,
    feedback,
    body,
  );

  poll(async () => {
    let stats;
    let completed;
    try {
      [stats, completed] = await Promise.all([
        get(`${API}/stats${query({ from, to })}`),
        get(`${API}/progress${query({ status: "completed", limit: 200 })}`),
      ]);
      feedback.replaceChildren();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      feedback.replaceChildren(notice("error", errorMessage(error), { "data-testid": "stats-error" }));
      return true;
    }
    renderStats(body, stats, completed.items, from, to);
    const updated = document.getElementById("stats-updated");
    if (updated) updated.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every 10 s`;
    return true;
  }, 10_000);
}

/**
 * @param {HTMLElement} body
 * @param {any} stats
 * @param {any[]} completedRuns
 * @param {string | null} from
 * @param {string | null} to
 */
function renderStats(body, stats, completedRuns, from, to) {
  const inWindow = completedRuns.filter((r) => {
    const created = Date.parse(r.createdAt);
    return (!from || created >= Date.parse(from)) && (!to || created < Date.parse(to));
  });
  const durations = inWindow
    .filter((r) => r.startedAt && r.completedAt)
    .map((r) => Date.parse(r.completedAt) - Date.parse(r.startedAt));
  const ct = stats.completionTimeMs;
  const kpi = (
    /** @type {string} */ label,
    /** @type {string} */ value,
    /** @type {string} */ testid,
    /** @type {string} */ [sub] = [],
  ) =>
    h(
      "div",
      { class: "kpi", "data-testid": testid },
      h("div", { class: "kpi-label" }, label),
      h("div", { class: "kpi-value" }, value),
      sub ? h("div", { class: "kpi-sub" }, sub) : null,
    );
  const by = stats.totals.byStatus;
  body.replaceChildren(
    h(
      "div",
      { class: "kpis" },
      kpi("Runs", String(stats.totals.runs), "kpi-runs", [
        `${stats.totals.byKind.provision.runs} provision · ${stats.totals.byKind.deprovision.runs} deprovision`,
      ]),
      kpi("Success rate", formatRate(stats.rates.success), "kpi-success", [
        `of ${stats.rates.finished} finished`,
      ]),
      kpi("Failure rate", formatRate(stats.rates.failure), "kpi-failure", [
        `${by.failed} failed · ${by.cancelled} cancelled`,
      ]),
      kpi("Median completion", formatDuration(ct.median), "kpi-median", [
        `avg ${formatDuration(ct.average)} · p95 ${formatDuration(ct.p95)}`,
      ]),
      kpi("In progress now", String(stats.inProgress.running + stats.inProgress.pending), "kpi-in-progress", [
        `${stats.inProgress.running} running · ${stats.inProgress.pending} pending`,
      ]),
    ),
    card(
      "Completion time distribution",
      h(
        "p",
        { class: "muted small" },
        `Completion times of ${durations.length} completed run${durations.length === 1 ? "" : "s"} in the window${completedRuns.length >= 200 ? " (of the 200 most recent)" : ""}. Dashed lines: median and 95th percentile over all ${ct.runs} completed runs, from the statistics endpoint.`,
      ),
      durationHistogram(
        durations,
        [
          { label: "median", value: ct.median, className: "marker-median" },
          { label: "p95", value: ct.p95, className: "marker-p95" },
        ],
        "Histogram of completion times",
      ),
    ),
    h(
      "div",
      { class: "grid-2" },
      card(
        "Success rate per template",
        horizontalBars(
          stats.templates.map((/** @type {any} */ t) => ({
            label: t.templateName ?? (t.templateId ? shortId(t.templateId) : "custom"),
            value: t.successRate ?? 0,
            text:
              t.successRate === null
                ? `— (${t.runs} running)`
                : `${formatRate(t.successRate)} · ${t.completed} of ${t.runs}`,
            className: t.successRate !== null && t.successRate < 0.9 ? "bar-warn" : "bar-ok",
          })),
          { max: 1, title: "Success rate per template", testid: "chart-template-success" },
        ),
        table(
          ["Template", "Runs", "Completed", "Failed", "Success"],
          stats.templates.map((/** @type {any} */ t) =>
            h(
              "tr",
              {},
              h("td", {}, t.templateName ?? "custom"),
              h("td", { class: "num" }, String(t.runs)),
              h("td", { class: "num" }, String(t.completed)),
              h("td", { class: "num" }, String(t.failed)),
              h("td", { class: "num" }, formatRate(t.successRate)),
            ),
          ),
          { class: "compact" },
        ),
      ),
      card(
        "Failures per step",
        horizontalBars(
          stats.steps.map((/** @type {any} */ st) => ({
            label: st.name,
            value: st.failures,
            text: st.failures === 1 ? "1 failure" : `${st.failures} failures`,
            className: st.failures > 0 ? "bar-fail" : "bar-ok",
          })),
          { title: "Failures per step", testid: "chart-step-failures" },
        ),
        table(
          ["Step", "Completed", "Failures", "Avg duration"],
          stats.steps.map((/** @type {any} */ st) =>
            h(
              "tr",
              {},
              h("td", { class: "mono small" }, st.name),
              h("td", { class: "num" }, String(st.completed)),
              h("td", { class: "num" }, String(st.failures)),
              h("td", { class: "num" }, formatDuration(st.averageDurationMs)),
            ),
          ),
          { class: "compact" },
        ),
      ),
    ),
    card(
      "Runs by kind and status",
      table(
        ["Kind", "Runs", ...RUN_STATUSES],
        ["provision", "deprovision"].map((k) => {
          const t = stats.totals.byKind[k];
          return h(
            "tr",
            {},
            h("td", {}, k),
            h("td", { class: "num" }, String(t.runs)),
            RUN_STATUSES.map((st) => h("td", { class: "num" }, String(t.byStatus[st]))),
          );
        }),
        { class: "compact" },
      ),
    ),
  );
}

/** @param {URLSearchParams} params */
async function alertsPage(params) {
  if (!(await hasOperation(OPS.alerts))) {
    page("Alerts", h("h1", {}, "Alerts"), notice("info", "This service does not offer alerts yet."));
    return;
  }
  const state = params.get("state") ?? "unresolved";
  const canResolve = await hasOperation(OPS.resolveAlert);
  const feedback = h("div", { class: "feedback" });
  const tbody = h("tbody", { "data-testid": "alerts-body" });
  page(
    "Alerts",
    h("div", { class: "page-head" }, h("h1", {}, "Alerts")),
    h(
      "form",
      {
        class: "filters",
        "aria-label": "Filter alerts",
        onsubmit: (/** @type {Event} */ e) => e.preventDefault(),
      },
      h(
        "div",
        { class: "field field-inline" },
        h("label", { for: "alert-state" }, "Show"),
        h(
          "select",
          {
            id: "alert-state",
            onchange: (/** @type {Event} */ e) =>
              navigate(`#/alerts?state=${/** @type {HTMLSelectElement} */ (e.target).value}`),
          },
          ["unresolved", "resolved", "all"].map((st) =>
            h("option", { value: st, selected: st === state }, st),
          ),
        ),
      ),
    ),
    feedback,
    h(
      "div",
      { class: "card card-flush" },
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Severity", "Alert", "Subject", "Raised", "Resolved", ""].map((l) =>
                h("th", { scope: "col" }, l),
              ),
            ),
          ),
          tbody,
        ),
      ),
    ),
  );
  poll(async () => {
    const result = await get(`${API}/alerts${query({ state, limit: 100 })}`);
    tbody.replaceChildren(
      ...(result.items.length === 0
        ? [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No alerts."))]
        : result.items.map((/** @type {any} */ a) =>
            h(
              "tr",
              { "data-testid": "alert-row" },
              h("td", {}, h("span", { class: `badge severity-${a.severity}` }, a.severity)),
              h(
                "td",
                {},
                h("div", { class: "strong" }, a.message),
                h("div", { class: "muted small mono" }, a.kind),
              ),
              h(
                "td",
                {},
                a.subjectType === "progress" && a.subjectId
                  ? h("a", { href: `#/runs/${a.subjectId}` }, `run ${shortId(a.subjectId)}`)
                  : a.subjectType === "template" && a.subjectId
                    ? h("a", { href: `#/templates/${a.subjectId}` }, `template ${shortId(a.subjectId)}`)
                    : `${a.subjectType} ${shortId(a.subjectId)}`,
              ),
              h("td", { class: "nowrap" }, formatTime(a.raisedAt)),
              h("td", { class: "nowrap" }, formatTime(a.resolvedAt)),
              h(
                "td",
                {},
                canResolve && !a.resolvedAt
                  ? actionButton({
                      label: "Resolve",
                      testid: `resolve-${a.id}`,
                      confirm: { title: "Resolve this alert?", message: a.message, confirmLabel: "Resolve" },
                      call: () => request("POST", `${API}/alerts/${encodeURIComponent(a.id)}/resolve`),
                      done: () => {},
                      feedback,
                      success: "Alert resolved.",
                    })
                  : null,
              ),
            ),
          )),
    );
    return true;
  }, 5000);
}

/* ------------------------------------------------------------------------------------------- */

/** @type {HTMLElement} */ (document.getElementById("sign-out")).addEventListener("click", () => {
  clearKey();
  navigate("#/key");
});
window.addEventListener("hashchange", () => void render());
void render();
