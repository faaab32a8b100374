/** Alerts raised by the operations sweep, with resolve. */
import { call } from "../api.js";
import { ENUMS } from "../contract.js";
import { formatTime, h, shortId } from "../dom.js";
import { navigate, poll } from "../router.js";
import { can } from "../session.js";
import { actionButton, page } from "../ui.js";

/**
 * @param {import("../navigation.js").Navigation} nav
 * @param {URLSearchParams} params
 */
export async function alertsPage(nav, params) {
  const state = params.get("state") ?? "unresolved";
  const canResolve = can("resolveAlert");
  const feedback = h("div", { class: "feedback" });
  const tbody = h("tbody", { "data-testid": "alerts-body" });
  page(
    nav,
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
          ENUMS.alertStates.map((st) => h("option", { value: st, selected: st === state }, st)),
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
  poll(
    nav,
    async () => {
      const result = await call("listAlerts", { query: { state, limit: 100 } });
      tbody.replaceChildren(
        ...(result.items.length === 0
          ? [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No alerts."))]
          : result.items.map((/** @type {any} */ a) =>
              h(
                "tr",
                { "data-testid": "alert-row", "data-alert-id": a.id },
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
                        confirm: {
                          title: "Resolve this alert?",
                          message: a.message,
                          confirmLabel: "Resolve",
                        },
                        call: () => call("resolveAlert", { params: { id: a.id } }),
                        done: () => navigate(`#/alerts?state=${state}`),
                        feedback,
                        success: "Alert resolved.",
                      })
                    : null,
                ),
              ),
            )),
      );
      return true;
    },
    5000,
  );
}
