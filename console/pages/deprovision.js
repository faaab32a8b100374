/**
 * Deprovisioning a tenant — now, at a scheduled time, or as a dry run that only reports what would
 * be removed — behind a confirmation dialog with the product document's options.
 */
import { API, hasOperation, request } from "../api.js";
import { h, notice } from "../dom.js";
import { navigate } from "../router.js";
import { actionButton, OPS } from "../ui.js";

/** @param {number} bytes */
function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** @param {Record<string, number>} counts */
function sum(counts) {
  return Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
}

/**
 * What a dry run reported, as a notice.
 *
 * @param {any} report
 */
function dryRunNotice(report) {
  const removeCp = report.wouldRemove?.controlPlane ?? {};
  const removeTenant = report.wouldRemove?.tenantSchema ?? {};
  const tables = Object.keys(removeCp).length + Object.keys(removeTenant).length;
  return notice("info", [
    h("strong", {}, "Dry run — nothing was changed. "),
    `Would remove ${sum(removeCp) + sum(removeTenant)} rows in ${tables} tables`,
    report.schemaExists ? ` and drop schema ${report.schema}` : "",
    `; would keep ${sum(report.wouldKeep)} rows. Backup ≈ ${formatBytes(report.backupEstimate?.compressedBytes ?? 0)} compressed.`,
  ]);
}

/**
 * A "Deprovision tenant" button. On success: a dry run shows its report; a scheduled
 * deprovisioning calls `onScheduled`; a deprovisioning started now opens its run.
 *
 * @param {string} tenantId
 * @param {HTMLElement} feedback
 * @param {{onScheduled?: () => void}} [options]
 */
export function deprovisionButton(tenantId, feedback, options = {}) {
  const scheduling = h("div", { class: "field" });
  void hasOperation(OPS.scheduleDeprovision).then((can) => {
    if (!can) return;
    scheduling.replaceChildren(
      h("label", { for: "dp-at" }, "Start at (optional)"),
      h("input", { id: "dp-at", name: "at", type: "datetime-local", "data-testid": "deprovision-at" }),
      h("p", { class: "help" }, "Leave empty to start now."),
    );
  });
  const fields = h(
    "fieldset",
    { class: "stack" },
    h("legend", {}, "Options"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "dp-grace" }, "Grace period (hours, 0–8040)"),
      h("input", {
        id: "dp-grace",
        name: "gracePeriodHours",
        type: "number",
        min: 0,
        max: 8040,
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
      " Keep the backup (the only way back)",
    ),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "preserveAuditLogs", checked: true }),
      " Keep the audit logs",
    ),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "dryRun", "data-testid": "deprovision-dry-run-option" }),
      " Dry run: only report what would be removed",
    ),
    scheduling,
  );
  /** @type {"now" | "scheduled" | "dry-run"} */
  let mode = "now";
  return actionButton({
    label: "Deprovision tenant",
    testid: "action-deprovision",
    danger: true,
    confirm: {
      title: "Deprovision this tenant?",
      message:
        "The tenant is backed up and disabled at once; after the grace period its data is deleted. Cancelling the run during the grace period restores access.",
      confirmLabel: "Deprovision",
      danger: true,
      fields,
    },
    call: (form) => {
      const body = {
        gracePeriodHours: Number(form.get("gracePeriodHours") || 0),
        notifyUsers: form.get("notifyUsers") === "on",
        preserveBackups: form.get("preserveBackups") === "on",
        preserveAuditLogs: form.get("preserveAuditLogs") === "on",
      };
      const tenant = encodeURIComponent(tenantId);
      const at = String(form.get("at") ?? "");
      if (form.get("dryRun") === "on") {
        mode = "dry-run";
        return request("POST", `${API}/tenants/${tenant}/deprovision`, { body: { ...body, dryRun: true } });
      }
      if (at) {
        mode = "scheduled";
        const when = new Date(at);
        return request("POST", `${API}/tenants/${tenant}/schedule-deprovision`, {
          body: { ...body, at: Number.isNaN(when.getTime()) ? at : when.toISOString() },
        });
      }
      mode = "now";
      return request("POST", `${API}/tenants/${tenant}/deprovision`, { body });
    },
    success: (result) =>
      mode === "dry-run"
        ? dryRunNotice(result)
        : mode === "scheduled"
          ? notice("success", `Deprovisioning scheduled for ${new Date(result.runAt).toLocaleString()}.`)
          : notice("success", "Deprovisioning started."),
    done: (result) => {
      if (mode === "scheduled") options.onScheduled?.();
      else if (mode === "now" && result?.id) navigate(`#/runs/${result.id}`);
    },
    feedback,
  });
}
