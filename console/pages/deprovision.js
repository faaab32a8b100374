/**
 * Deprovisioning a tenant — now, at a scheduled time, or as a dry run that only reports what would
 * be removed — behind a confirmation dialog. Its options, their defaults and limits are the API's
 * (the contract's DEPROVISIONING_OPTIONS), and the dialog says, as they are set, exactly what will
 * be left: the backup or not, the audit logs, and when the data is deleted.
 */
import { call } from "../api.js";
import { DEPROVISIONING_OPTIONS } from "../contract.js";
import { formatTime, h, notice } from "../dom.js";
import { navigate } from "../router.js";
import { can } from "../session.js";
import { actionButton } from "../ui.js";

/** @typedef {(typeof DEPROVISIONING_OPTIONS)[number]} Option */

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

/** `gracePeriodHours` → "Grace period (hours)", `preserveBackups` → "Preserve backups". @param {Option} option */
export function optionLabel(option) {
  const words = option.name
    .replace(/Hours$/, "")
    .replace(/([A-Z])/g, " $1")
    .toLowerCase();
  const label = words.charAt(0).toUpperCase() + words.slice(1);
  return option.name.endsWith("Hours") ? `${label} (hours)` : label;
}

/** An option's value as shown. @param {Option} option @param {unknown} value */
export function optionValue(option, value) {
  if (value === undefined || value === null) return "—";
  if (option.type === "boolean") return value ? "yes" : "no";
  return String(value);
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
 * What a deprovisioning with these options leaves, in the words the CLI's question uses.
 *
 * @param {Record<string, unknown>} options
 * @param {Date | null} at  when it starts (null: now)
 */
function consequences(options, at) {
  const start = at ?? new Date();
  const hours = Number(options.gracePeriodHours ?? 0);
  const deleteAt = new Date(start.getTime() + hours * 3600_000);
  return h(
    "ul",
    { class: "consequences", "data-testid": "deprovision-consequences" },
    h(
      "li",
      {},
      `Access ends ${at ? `at ${formatTime(at.toISOString())}` : "now"}: the tenant's users and API keys stop working.`,
    ),
    h(
      "li",
      {},
      hours > 0
        ? `The data is deleted after a ${hours} h grace period, at about ${formatTime(deleteAt.toISOString())}; cancelling the run before then gives the tenant back as it was.`
        : h("strong", {}, "The data is deleted right after the backup (no grace period)."),
    ),
    h(
      "li",
      {},
      options.preserveBackups
        ? "A backup is taken first and kept: the tenant can be restored from it."
        : h(
            "strong",
            {},
            "A backup is taken first and deleted with the data: nothing can bring the tenant back.",
          ),
    ),
    h(
      "li",
      {},
      options.preserveAuditLogs
        ? "Its audit logs are kept (archived beside the backup)."
        : "Its audit logs are deleted with the data.",
    ),
  );
}

/** The dialog's option inputs, with the API's defaults. @param {Option} option */
function optionInput(option) {
  const id = `dp-${option.name}`;
  if (option.type === "boolean") {
    return h(
      "label",
      { class: "check", title: option.description },
      h("input", {
        type: "checkbox",
        id,
        name: option.name,
        checked: option.default === true,
        "data-testid": `deprovision-${option.name}`,
      }),
      ` ${option.description}`,
    );
  }
  return h(
    "div",
    { class: "field" },
    h(
      "label",
      { for: id },
      `${optionLabel(option)}${option.maximum !== undefined ? `, ${option.minimum ?? 0}–${option.maximum}` : ""}`,
    ),
    h("input", {
      id,
      name: option.name,
      type: "number",
      min: option.minimum,
      max: option.maximum,
      step: 1,
      value: String(option.default),
      "data-testid": `deprovision-${option.name}`,
    }),
    h("p", { class: "help" }, option.description),
  );
}

/** The options as the form holds them, typed as the API wants them. @param {FormData} form */
function optionsOf(form) {
  return Object.fromEntries(
    DEPROVISIONING_OPTIONS.map((o) => [
      o.name,
      o.type === "boolean" ? form.get(o.name) === "on" : Number(form.get(o.name) || 0),
    ]),
  );
}

/**
 * A "Deprovision tenant" button. On success: a dry run shows its report; a scheduled
 * deprovisioning calls `onScheduled`; a deprovisioning started now opens its run.
 *
 * @param {string} tenantId
 * @param {string} tenantName
 * @param {HTMLElement} feedback
 * @param {{onScheduled?: () => void}} [options]
 */
export function deprovisionButton(tenantId, tenantName, feedback, options = {}) {
  const summary = h("div", { class: "dialog-summary" });
  const fields = /** @type {HTMLFieldSetElement} */ (
    h(
      "fieldset",
      { class: "stack" },
      h("legend", {}, "Options"),
      DEPROVISIONING_OPTIONS.map(optionInput),
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "dryRun", "data-testid": "deprovision-dry-run-option" }),
        " Dry run: only report what would be removed",
      ),
      can("scheduleDeprovision")
        ? h(
            "div",
            { class: "field" },
            h("label", { for: "dp-at" }, "Start at (optional)"),
            h("input", { id: "dp-at", name: "at", type: "datetime-local", "data-testid": "deprovision-at" }),
            h("p", { class: "help" }, "Leave empty to start now."),
          )
        : null,
      summary,
    )
  );
  const showSummary = () => {
    if (!fields.form) return;
    const form = new FormData(fields.form);
    const at = String(form.get("at") ?? "");
    const when = at ? new Date(at) : null;
    summary.replaceChildren(
      h("h3", {}, "What will be left"),
      consequences(optionsOf(form), when && !Number.isNaN(when.getTime()) ? when : null),
    );
  };
  fields.addEventListener("input", showSummary);
  fields.addEventListener("change", showSummary);
  /** @type {"now" | "scheduled" | "dry-run"} */
  let mode = "now";
  const button = actionButton({
    label: "Deprovision tenant",
    testid: "action-deprovision",
    danger: true,
    confirm: {
      title: `Deprovision ${tenantName}?`,
      message: "It is backed up and its access disabled; the options below decide what is left.",
      confirmLabel: "Deprovision",
      danger: true,
      fields,
    },
    call: (form) => {
      const body = optionsOf(form);
      const params = { id: tenantId };
      const at = String(form.get("at") ?? "");
      if (form.get("dryRun") === "on") {
        mode = "dry-run";
        return call("deprovisionTenant", { params, body: { ...body, dryRun: true } });
      }
      if (at) {
        mode = "scheduled";
        const when = new Date(at);
        return call("scheduleDeprovision", {
          params,
          body: { ...body, at: Number.isNaN(when.getTime()) ? at : when.toISOString() },
        });
      }
      mode = "now";
      return call("deprovisionTenant", { params, body });
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
  // The dialog's form exists once it is open: describe the defaults then.
  button.addEventListener("click", () => queueMicrotask(showSummary));
  return button;
}
