/**
 * A template upgrade rollout, live: its plan, its tenants' counts by status, and every wave with
 * its tenants — each with the version it is on, its status and its upgrade run; pause, resume and
 * abort of the whole rollout (offered in the states the API accepts them).
 */
import { call } from "../api.js";
import { ENUMS } from "../contract.js";
import { definitionList, formatTime, h, shortId, statusBadge, table } from "../dom.js";
import { poll } from "../router.js";
import { can } from "../session.js";
import { actionButton, breadcrumbs, card, crumb, page, RUN_POLL_MS } from "../ui.js";

/** @typedef {import("../navigation.js").Navigation} Navigation */

/** Rollout statuses that still change (a paused one changes when resumed, here or elsewhere). */
const ROLLOUT_ACTIVE = new Set(["running", "pausing", "paused"]);

/** @param {Record<string, number>} counts */
function countsText(counts) {
  return ENUMS.rolloutTenantStatuses
    .filter((s) => counts[s])
    .map((s) => `${counts[s]} ${s}`)
    .join(", ");
}

/** @param {any} rollout */
function canaryText(rollout) {
  const { canary } = rollout.plan;
  if (Array.isArray(canary)) return canary.length ? canary.join(", ") : "none";
  return canary ? `${canary} tenant${canary === 1 ? "" : "s"}` : "none";
}

/**
 * @param {Navigation} nav
 * @param {string} id
 */
export async function rolloutPage(nav, id) {
  let rollout = await call("getRollout", { params: { id } });
  const chips = h("div", { class: "chips" });
  const facts = h("div", {});
  const waves = h("div", {});
  const feedback = h("div", { "aria-live": "polite" });
  const toolbar = h("div", { class: "toolbar", role: "toolbar" });

  const refresh = async () => {
    rollout = await call("getRollout", { params: { id } });
    update();
  };

  /** @param {{label: string, testid: string, operation: "pauseRollout" | "resumeRollout" | "abortRollout", message: string, success: string, danger?: boolean}} a */
  const button = (a) =>
    actionButton({
      label: a.label,
      testid: a.testid,
      ...(a.danger ? { danger: true } : {}),
      confirm: {
        title: `${a.label}?`,
        message: a.message,
        confirmLabel: a.label,
        ...(a.danger ? { danger: true } : {}),
      },
      call: () => call(a.operation, { params: { id } }),
      done: () => void refresh(),
      feedback,
      success: a.success,
    });

  const update = () => {
    chips.replaceChildren(
      h("span", { class: "kind-chip" }, "rollout"),
      statusBadge(rollout.status, { "data-testid": "rollout-status" }),
    );
    const { plan } = rollout;
    facts.replaceChildren(
      definitionList([
        ["Rollout", h("span", { class: "mono" }, rollout.id), { class: "fact-wide" }],
        [
          "Template",
          h(
            can("getTemplate") ? "a" : "span",
            can("getTemplate") ? { href: `#/templates/${rollout.templateId}` } : {},
            shortId(rollout.templateId),
          ),
        ],
        ["Target version", `v${rollout.targetVersion}`],
        ["Tenants", `${rollout.tenantCount}${rollout.tenantCount ? ` — ${countsText(rollout.counts)}` : ""}`],
        ["Wave", `${rollout.currentWave} of ${rollout.totalWaves}`],
        ["Canary", `${canaryText(rollout)}${plan.pauseAfterCanary ? ", then pause" : ""}`],
        ["Wave size", String(plan.waveSize)],
        ["Concurrency", String(plan.maxConcurrency)],
        ["Failure budget", `${plan.toleratedFailurePercent} %`],
        ["Run", h("a", { href: `#/runs/${rollout.id}` }, "steps and history")],
        ["Created", formatTime(rollout.createdAt)],
        ["Finished", formatTime(rollout.completedAt)],
        ["Error", rollout.error ?? "—"],
      ]),
    );
    waves.replaceChildren(
      ...(rollout.waves ?? []).map((/** @type {any} */ wave) =>
        h(
          "section",
          {
            class: "card card-flush",
            "data-testid": "rollout-wave",
            "data-wave": String(wave.wave),
            "aria-label": `Wave ${wave.wave}`,
          },
          h(
            "h3",
            {},
            `Wave ${wave.wave}${wave.canary ? " (canary)" : ""}`,
            h("span", { class: "small" }, ` — ${countsText(wave.counts)}`),
          ),
          table(
            ["Tenant", "From", "Status", "Upgrade run", "Error"],
            wave.tenants.map((/** @type {any} */ t) =>
              h(
                "tr",
                { "data-testid": "rollout-tenant", "data-tenant-id": t.tenantId, "data-status": t.status },
                h("td", {}, h("a", { href: `#/tenants/${t.tenantId}` }, t.slug ?? t.name)),
                h("td", { class: "small" }, `v${t.fromVersion}`),
                h("td", {}, statusBadge(t.status)),
                h(
                  "td",
                  { class: "small" },
                  t.upgradeProgressId
                    ? h(
                        "a",
                        { href: `#/runs/${t.upgradeProgressId}`, "data-testid": "rollout-upgrade-link" },
                        shortId(t.upgradeProgressId),
                      )
                    : "",
                ),
                h("td", { class: "small" }, t.error ?? ""),
              ),
            ),
          ),
        ),
      ),
    );
    const buttons = [];
    if (can("pauseRollout") && rollout.status === "running") {
      buttons.push(
        button({
          label: "Pause rollout",
          testid: "rollout-pause",
          operation: "pauseRollout",
          message: "No new upgrade starts; the ones in flight finish.",
          success: "Rollout pausing.",
        }),
      );
    }
    if (can("resumeRollout") && ["pausing", "paused", "halted"].includes(rollout.status)) {
      buttons.push(
        button({
          label: "Resume rollout",
          testid: "rollout-resume",
          operation: "resumeRollout",
          message: "The rollout goes on from the wave it stopped in.",
          success: "Rollout resumed.",
        }),
      );
    }
    if (can("abortRollout") && !["completed", "aborted"].includes(rollout.status)) {
      buttons.push(
        button({
          label: "Abort rollout",
          testid: "rollout-abort",
          operation: "abortRollout",
          danger: true,
          message:
            "Tenants already upgraded stay upgraded; the rest stay on their version and no further upgrade starts.",
          success: "Rollout aborted.",
        }),
      );
    }
    toolbar.replaceChildren(...buttons);
  };
  update();

  const title = `Rollout ${shortId(id)}`;
  page(
    nav,
    title,
    breadcrumbs(crumb("Runs", "#/runs"), crumb(title)),
    h("div", { class: "page-head" }, h("h1", {}, `Rollout to v${rollout.targetVersion}`), chips),
    toolbar,
    feedback,
    card("Summary", facts),
    h("h2", {}, "Waves"),
    waves,
  );
  poll(
    nav,
    async () => {
      if (!ROLLOUT_ACTIVE.has(rollout.status)) return false;
      await refresh();
      return true;
    },
    RUN_POLL_MS,
  );
}
