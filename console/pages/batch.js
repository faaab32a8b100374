/**
 * A batch (bulk provisioning), live: its children's counts by status, the failure budget, and its
 * children in item order, each linking to its own run (retry, recover, clean up there); cancel and
 * retry of the whole batch.
 */
import { call } from "../api.js";
import { definitionList, formatTime, h, shortId, statusBadge, table } from "../dom.js";
import { poll } from "../router.js";
import { can } from "../session.js";
import { ACTIVE, actionButton, breadcrumbs, card, crumb, page, RUN_POLL_MS } from "../ui.js";

/** @typedef {import("../navigation.js").Navigation} Navigation */

const COUNTS = ["queued", "pending", "running", "completed", "failed", "cancelled"];

/**
 * @param {Navigation} nav
 * @param {string} id
 */
export async function batchPage(nav, id) {
  const limit = 200;
  let batch = await call("getBatch", { params: { id }, query: { limit } });
  const chips = h("div", { class: "chips" });
  const facts = h("div", {});
  const children = h("div", { class: "card card-flush" });
  const feedback = h("div", { "aria-live": "polite" });
  const toolbar = h("div", { class: "toolbar" });

  const refresh = async () => {
    batch = await call("getBatch", { params: { id }, query: { limit } });
    update();
  };

  const update = () => {
    chips.replaceChildren(
      h("span", { class: "kind-chip" }, "batch"),
      statusBadge(batch.status, { "data-testid": "batch-status" }),
    );
    facts.replaceChildren(
      definitionList([
        ["Batch", h("span", { class: "mono" }, batch.id), { class: "fact-wide" }],
        ["Children", `${batch.total}`],
        ...COUNTS.map((c) => /** @type {[string, string]} */ ([c, String(batch.counts[c])])),
        [
          "Failure budget",
          `${batch.toleratedFailures} (${batch.toleratedFailurePercent} %)${batch.budgetExceeded ? " — exceeded: no more children start" : ""}`,
        ],
        ["Concurrency", String(batch.maxConcurrency)],
        ["Attempt", String(batch.attempt)],
        ["Created", formatTime(batch.createdAt)],
        ["Finished", formatTime(batch.completedAt)],
        ["Error", batch.error ?? "—"],
      ]),
    );
    children.replaceChildren(
      table(
        ["#", "Tenant", "Status", "Step", "Error"],
        batch.children.items.map((/** @type {any} */ c) =>
          h(
            "tr",
            { "data-testid": "batch-child", "data-run-id": c.id },
            h("td", { class: "small" }, String(c.index)),
            h("td", {}, h("a", { href: `#/runs/${c.id}` }, c.slug ?? shortId(c.id))),
            h("td", {}, c.queued ? h("span", { class: "chip chip-muted" }, "queued") : statusBadge(c.status)),
            h("td", { class: "small" }, c.currentStep ?? ""),
            h("td", { class: "small" }, c.error ?? ""),
          ),
        ),
      ),
    );
    const buttons = [];
    if (can("cancelBatch") && ACTIVE.has(batch.status)) {
      buttons.push(
        actionButton({
          label: "Cancel batch",
          testid: "batch-cancel",
          danger: true,
          confirm: {
            title: "Cancel this batch?",
            message:
              "No further child starts; children that have not ended are cancelled. Completed children stay.",
            confirmLabel: "Cancel batch",
            danger: true,
          },
          call: () => call("cancelBatch", { params: { id } }),
          done: () => void refresh(),
          feedback,
          success: "Batch cancelled.",
        }),
      );
    }
    if (can("retryBatch") && !ACTIVE.has(batch.status) && batch.counts.completed < batch.total) {
      buttons.push(
        actionButton({
          label: "Retry children that did not complete",
          testid: "batch-retry",
          confirm: {
            title: "Retry this batch?",
            message:
              "Failed and cancelled children resume from their first unfinished step; never-started ones start.",
            confirmLabel: "Retry",
          },
          call: () => call("retryBatch", { params: { id } }),
          done: () => void refresh(),
          feedback,
          success: "Batch restarted.",
        }),
      );
    }
    toolbar.replaceChildren(...buttons);
  };
  update();

  page(
    nav,
    `Batch ${shortId(id)}`,
    breadcrumbs(crumb("Runs", "#/runs"), crumb(`Batch ${shortId(id)}`)),
    h("div", { class: "page-head" }, h("h1", {}, `Batch of ${batch.total}`), chips),
    toolbar,
    feedback,
    card("Summary", facts),
    h("h2", {}, "Children"),
    children,
  );
  poll(
    nav,
    async () => {
      if (!ACTIVE.has(batch.status)) return false;
      await refresh();
      return true;
    },
    RUN_POLL_MS,
  );
}
