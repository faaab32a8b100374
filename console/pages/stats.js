/** Statistics: figures from GET /stats and charts drawn as inline SVG. */
import { ApiError, call, query } from "../api.js";
import { durationHistogram, horizontalBars } from "../charts.js";
import { ENUMS } from "../contract.js";
import { formatDuration, formatRate, h, notice, shortId, table } from "../dom.js";
import { navigate, poll } from "../router.js";
import { card, errorMessage, page } from "../ui.js";

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

/**
 * @param {import("../navigation.js").Navigation} nav
 * @param {URLSearchParams} params
 */
export async function statsPage(nav, params) {
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
    nav,
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

  poll(
    nav,
    async () => {
      let stats;
      let completed;
      try {
        [stats, completed] = await Promise.all([
          call("getProvisioningStats", { query: { from, to } }),
          call("listProgress", { query: { status: "completed", limit: 200 } }),
        ]);
        feedback.replaceChildren();
      } catch (error) {
        // API errors are shown and the page keeps polling; 401 signs out; a left page just stops.
        if (!(error instanceof ApiError) || error.status === 401) throw error;
        feedback.replaceChildren(notice("error", errorMessage(error), { "data-testid": "stats-error" }));
        return true;
      }
      renderStats(body, stats, completed.items, from, to);
      const updated = document.getElementById("stats-updated");
      if (updated) updated.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every 10 s`;
      return true;
    },
    10_000,
  );
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
        Object.entries(stats.totals.byKind)
          .map(([kind, t]) => `${/** @type {any} */ (t).runs} ${kind}`)
          .join(" · "),
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
        ["Kind", "Runs", ...ENUMS.runStatuses],
        Object.keys(stats.totals.byKind).map((k) => {
          const t = stats.totals.byKind[k];
          return h(
            "tr",
            {},
            h("td", {}, k),
            h("td", { class: "num" }, String(t.runs)),
            ENUMS.runStatuses.map((st) => h("td", { class: "num" }, String(t.byStatus[st]))),
          );
        }),
        { class: "compact" },
      ),
    ),
  );
}
