/**
 * One run: its state machine graph drawn from the ASL, updated live, a step table, what a
 * deprovisioning chose and when its data goes, and the actions the run's kind and state and the
 * key's role allow (nothing is offered that the API would refuse).
 */
import { call } from "../api.js";
import { drawWorkflowGraph, STATUS_SYMBOL } from "../asl-graph.js";
import { DEPROVISIONING_OPTIONS, WORKFLOW_OF_RUN_KIND } from "../contract.js";
import { definitionList, formatDuration, formatTime, h, notice, shortId, statusBadge } from "../dom.js";
import { poll } from "../router.js";
import { can } from "../session.js";
import {
  ACTIVE,
  actionButton,
  breadcrumbs,
  card,
  cleanedUp,
  crumb,
  page,
  RUN_POLL_MS,
  runDuration,
  runSlug,
  runTitle,
  templates,
} from "../ui.js";
import { deprovisionButton, optionLabel, optionValue } from "./deprovision.js";

/** @type {Map<string, Promise<any>>} */
const workflowCache = new Map();

/** @param {string} kind  provisioning | deprovisioning | restore */
function workflow(kind) {
  let w = workflowCache.get(kind);
  if (!w) {
    // Shared by every page that draws this workflow: not tied to (aborted with) one navigation.
    w = call("getWorkflowDefinition", { params: { kind }, signal: null }).catch((error) => {
      workflowCache.delete(kind);
      throw error;
    });
    workflowCache.set(kind, w);
  }
  return w;
}

/**
 * What may be done to a run now: its kind and state as the API's run control decides them, and the
 * key's role as the route table's access says.
 *
 * @param {any} run
 */
export function allowedActions(run) {
  const failedOrCancelled = run.status === "failed" || run.status === "cancelled";
  // A deprovisioning cancelled in its grace period gave access back: it cannot be resumed.
  const resumable = !cleanedUp(run) && !run.metadata?.reenabled;
  return {
    cancel: can("cancelRun") && ACTIVE.has(run.status),
    recover: can("recoverRun") && run.status === "failed" && resumable,
    retry: can("retryStep") && failedOrCancelled && resumable,
    // Clean up removes what a provisioning created; other kinds hand the tenant back themselves.
    cleanup: can("cleanupRun") && run.kind === "provision" && failedOrCancelled && !cleanedUp(run),
    deprovision:
      can("deprovisionTenant") &&
      run.kind === "provision" &&
      run.status === "completed" &&
      run.tenant?.status === "active",
  };
}

/**
 * @param {import("../navigation.js").Navigation} nav
 * @param {string} id
 */
export async function runPage(nav, id) {
  let run = await call("getProgress", { params: { id } });
  const kind = WORKFLOW_OF_RUN_KIND[run.kind] ?? run.kind;
  const [wf, tpls] = await Promise.all([
    workflow(kind).catch(() => null),
    // A tenant_admin key may not read templates: the run names its template by id then.
    can("listTemplates") ? templates().catch(() => []) : [],
  ]);
  const template = tpls.find((/** @type {any} */ t) => t.id === run.templateId);
  const title = runTitle;

  const heading = h("h1", { "data-testid": "run-title" });
  const chips = h("span", { class: "title-chips", "data-testid": "run-status", "aria-live": "polite" });
  const facts = h("div");
  const messages = h("div");
  const feedback = h("div", { class: "feedback", "data-testid": "run-feedback" });
  const toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Run actions" });
  const deprovisionFacts = h("div", { "data-testid": "deprovision-facts" });
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
    const allowed = allowedActions(run);
    const key = JSON.stringify(allowed);
    if (key === lastToolbar) return;
    lastToolbar = key;
    /** @type {HTMLElement[]} */
    const buttons = [];
    const params = { id: run.id };
    if (allowed.cancel) {
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
          call: () => call("cancelRun", { params }),
          done: restartPolling,
          feedback,
          success: "Run cancelled.",
        }),
      );
    }
    if (allowed.recover) {
      buttons.push(
        actionButton({
          label: "Recover",
          testid: "action-recover",
          confirm: {
            title: "Recover this run?",
            message: "The run resumes from its first unfinished step; completed steps are not redone.",
            confirmLabel: "Recover",
          },
          call: () => call("recoverRun", { params }),
          done: restartPolling,
          feedback,
          success: "Run resumed.",
        }),
      );
    }
    if (allowed.cleanup) {
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
          call: () => call("cleanupRun", { params }),
          done: restartPolling,
          feedback,
          success: "Run cleaned up.",
        }),
      );
    }
    if (allowed.deprovision && run.tenantId) {
      buttons.push(deprovisionButton(run.tenantId, run.tenant?.name ?? runTitle(run), feedback));
    }
    toolbar.replaceChildren(...buttons);
  };

  const update = (/** @type {any} */ next) => {
    run = next;
    heading.replaceChildren(title(run));
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
            ? h(
                "a",
                { href: `#/tenants/${run.tenantId}`, "data-testid": "run-tenant-link" },
                runSlug(run) ?? runTitle(run),
                h("span", { class: "muted mono small" }, ` ${shortId(run.tenantId)}`),
              )
            : "—",
        ],
        [
          "Template",
          run.templateId
            ? h(
                can("getTemplate") ? "a" : "span",
                can("getTemplate") ? { href: `#/templates/${run.templateId}` } : {},
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
        ...(run.batchId
          ? [
              [
                "Batch",
                h(
                  "a",
                  { href: `#/batches/${run.batchId}`, "data-testid": "run-parent-batch-link" },
                  shortId(run.batchId),
                ),
              ],
            ]
          : []),
        ...(run.kind === "rollout"
          ? [
              [
                "Rollout",
                h(
                  "a",
                  { href: `#/rollouts/${run.id}`, "data-testid": "run-rollout-link" },
                  "waves and tenants",
                ),
              ],
            ]
          : []),
        ...(run.kind === "batch"
          ? [
              [
                "Batch",
                h(
                  "a",
                  { href: `#/batches/${run.id}`, "data-testid": "run-batch-link" },
                  "children and counts",
                ),
              ],
            ]
          : []),
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
    if (run.kind === "deprovision") deprovisionFacts.replaceChildren(deprovisionCard(run));

    const signature = JSON.stringify([run.status, run.steps, allowedActions(run)]);
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
          stepRow(run, step, i, feedback, restartPolling, allowedActions(run).retry),
        ),
      );
    }
    liveNote.textContent = ACTIVE.has(run.status)
      ? `Live · updated ${new Date().toLocaleTimeString()}`
      : `Finished · last checked ${new Date().toLocaleTimeString()}`;
  };

  page(
    nav,
    title(run),
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
    deprovisionFacts,
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

  let polling = false;
  function startPolling() {
    if (polling || !nav.isCurrent()) return;
    polling = true;
    poll(
      nav,
      async () => {
        const next = await call("getProgress", { params: { id } });
        update(next);
        if (!ACTIVE.has(next.status)) {
          polling = false;
          return false;
        }
        return true;
      },
      RUN_POLL_MS,
    );
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
 * A deprovisioning's choices (its options, as the contract names them) and what happens to its
 * data: when the grace period ends, or that cancelling gave access back.
 *
 * @param {any} run
 */
function deprovisionCard(run) {
  const options = run.metadata?.options ?? {};
  const access = run.metadata?.access;
  const reenabled = run.metadata?.reenabled;
  const cleanup = run.steps.find((/** @type {any} */ s) => s.name === "CleanupData");
  /** @type {import("../dom.js").Child | import("../dom.js").Child[]} */
  let dataFate;
  if (reenabled) {
    dataFate = `Kept: the run was cancelled in its grace period and access given back ${formatTime(reenabled.at)}`;
  } else if (cleanup?.status === "completed") {
    dataFate = `Deleted ${formatTime(cleanup.completedAt)}`;
  } else if (access?.deleteAfter) {
    const left = Date.parse(access.deleteAfter) - Date.now();
    dataFate = [
      h(
        "span",
        { "data-testid": "grace-period-ends", "data-delete-after": access.deleteAfter },
        formatTime(access.deleteAfter),
      ),
      left > 0 && ACTIVE.has(run.status) ? ` (grace period ends in ${formatDuration(left)})` : "",
    ];
  } else {
    dataFate = `${options.gracePeriodHours ?? "?"} h after access is disabled`;
  }
  return card(
    "Deprovisioning",
    definitionList(
      [
        ["Data deleted", dataFate, { class: "fact-wide" }],
        ["Access disabled", access?.disabledAt ? formatTime(access.disabledAt) : "not yet"],
        ...DEPROVISIONING_OPTIONS.map(
          (o) =>
            /** @type {[string, string, import("../dom.js").Attrs]} */ ([
              optionLabel(o),
              optionValue(o, options[o.name]),
              { title: o.description, "data-option": o.name },
            ]),
        ),
      ],
      { "data-testid": "deprovision-options" },
    ),
  );
}

/**
 * @param {any} run
 * @param {any} step
 * @param {number} i
 * @param {HTMLElement} feedback
 * @param {(next: any) => void} restart
 * @param {boolean} runRetryable  the run's state and the key allow a retry at all
 */
function stepRow(run, step, i, feedback, restart, runRetryable) {
  const firstUnfinished = run.steps.find(
    (/** @type {any} */ st) => st.status !== "completed" && st.status !== "skipped",
  );
  // The API resumes only at the first unfinished step.
  const retryable = runRetryable && firstUnfinished?.name === step.name;
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
            call: () => call("retryStep", { params: { id: run.id, stepId: step.id } }),
            done: restart,
            feedback,
            success: `Retrying ${step.name}.`,
          })
        : null,
    ),
  );
}
