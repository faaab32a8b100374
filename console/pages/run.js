/** One run: its state machine graph drawn from the ASL, updated live, a step table and the run's actions. */
import { API, get, hasOperation, request } from "../api.js";
import { drawWorkflowGraph, STATUS_SYMBOL } from "../asl-graph.js";
import { definitionList, formatDuration, formatTime, h, notice, shortId, statusBadge } from "../dom.js";
import { generationNow, isCurrent, poll } from "../router.js";
import {
  ACTIVE,
  actionButton,
  breadcrumbs,
  card,
  cleanedUp,
  crumb,
  OPS,
  page,
  RUN_POLL_MS,
  runDuration,
  runTitle,
  templates,
} from "../ui.js";
import { deprovisionButton } from "./deprovision.js";

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
export async function runPage(id) {
  let run = await get(`${API}/progress/${encodeURIComponent(id)}`);
  /** @type {Record<string, string>} */
  const workflowOfKind = { provision: "provisioning", deprovision: "deprovisioning", restore: "restore" };
  const kind = workflowOfKind[run.kind] ?? run.kind;
  const [wf, tpls, canDeprovision, tenantPages] = await Promise.all([
    workflow(kind).catch(() => null),
    templates().catch(() => []),
    hasOperation(OPS.deprovision),
    hasOperation(OPS.getTenant),
  ]);
  const template = tpls.find((/** @type {any} */ t) => t.id === run.templateId);
  // Deprovisioning and restore runs carry no tenant name; the tenant directory has it.
  const tenantName =
    !run.metadata?.tenant?.name && run.tenantId && tenantPages
      ? await get(`${API}/tenants/${encodeURIComponent(run.tenantId)}`)
          .then((/** @type {any} */ t) => t.name)
          .catch(() => undefined)
      : undefined;
  const title = (/** @type {any} */ r) => (tenantName ? `${tenantName}` : runTitle(r));

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

  const mine = generationNow();
  let polling = false;
  function startPolling() {
    if (polling || !isCurrent(mine)) return;
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
