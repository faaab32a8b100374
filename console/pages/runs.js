/** Runs: a live list (refreshed every 2 s) with status, kind and tenant filters. */
import { ApiError, call } from "../api.js";
import { ENUMS } from "../contract.js";
import { formatDuration, formatTime, h, notice, shortId, statusBadge } from "../dom.js";
import { currentRoute, navigate, poll } from "../router.js";
import { can } from "../session.js";
import {
  errorMessage,
  LIST_POLL_MS,
  page,
  progressBar,
  runDuration,
  runSlug,
  runTitle,
  templates,
} from "../ui.js";

/**
 * @param {import("../navigation.js").Navigation} nav
 * @param {URLSearchParams} params
 */
export async function runsPage(nav, params) {
  const limit = 25;
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const filters = {
    status: params.get("status") ?? "",
    kind: params.get("kind") ?? "",
    tenantId: params.get("tenant") ?? "",
  };
  // A tenant_admin key may not list templates: its runs show template ids only.
  const [tpls, tenantList] = await Promise.all([
    can("listTemplates") ? templates() : [],
    call("listTenants", { query: { limit: 200 } }),
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

  const tenantControl = h(
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
      tenantList.items.map((/** @type {any} */ t) =>
        h(
          "option",
          { value: t.id, selected: t.id === filters.tenantId },
          t.slug ? `${t.name} (${t.slug})` : `${t.name} · ${shortId(t.id)}`,
        ),
      ),
    ),
  );

  const filterBar = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter runs",
      onsubmit: (/** @type {Event} */ e) => e.preventDefault(),
    },
    select("filter-status", "Status", ENUMS.runStatuses, filters.status, "status"),
    select("filter-kind", "Kind", ENUMS.runKinds, filters.kind, "kind"),
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
    nav,
    "Runs",
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Runs"),
      can("provisionFromTemplate")
        ? h(
            "a",
            { class: "button", href: "#/provision", "data-testid": "new-provisioning" },
            "New provisioning",
          )
        : null,
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

  poll(
    nav,
    async () => {
      let result;
      try {
        result = await call("listProgress", { query: { ...filters, limit, offset } });
        feedback.replaceChildren();
      } catch (error) {
        // API errors are shown and the list keeps polling; 401 signs out; a left page just stops.
        if (!(error instanceof ApiError) || error.status === 401) throw error;
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
                  { "data-testid": "run-tenant" },
                  h("div", {}, runTitle(run)),
                  runSlug(run) ? h("div", { class: "muted small mono" }, runSlug(run)) : null,
                ),
                h("td", {}, run.kind),
                h(
                  "td",
                  {},
                  run.templateId
                    ? h(
                        can("getTemplate") ? "a" : "span",
                        can("getTemplate") ? { href: `#/templates/${run.templateId}` } : {},
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
    },
    LIST_POLL_MS,
  );
}
