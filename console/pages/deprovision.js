/** Deprovisioning a tenant (now, on a schedule, or as a dry run), behind a confirmation dialog. */
import { API, request } from "../api.js";
import { h } from "../dom.js";
import { navigate } from "../router.js";
import { actionButton } from "../ui.js";

/**
 * @param {string} tenantId
 * @param {HTMLElement} feedback
 */
export function deprovisionButton(tenantId, feedback) {
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
