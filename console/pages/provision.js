/** New provisioning: template, tenant and administrator; POSTs to the template's provision endpoint. */
import { ApiError, call } from "../api.js";
import { definitionList, h, notice } from "../dom.js";
import { navigate } from "../router.js";
import { breadcrumbs, crumb, errorMessage, page, templates } from "../ui.js";
import { initialDataText, limitsText } from "./templates.js";

/** @param {string} text */
function slugify(text) {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
}

/**
 * @param {import("../navigation.js").Navigation} nav
 * @param {URLSearchParams} params
 */
export async function provisionPage(nav, params) {
  const tpls = await templates();
  const chosen =
    params.get("template") ?? tpls.find((/** @type {any} */ t) => t.isDefault)?.id ?? tpls[0]?.id ?? "";
  const idempotencyKey = crypto.randomUUID();
  const feedback = h("div", { class: "feedback" });
  /** @type {Record<string, HTMLElement>} */
  const errors = {};

  /**
   * @param {string} name
   * @param {string} label
   * @param {Record<string, string | number | boolean>} attrs
   * @param {string} [help]
   */
  const field = (name, label, attrs, help) => {
    const id = `provision-${name}`;
    errors[name] = h("p", { class: "field-error", id: `${id}-error`, "data-testid": `${id}-error` });
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      h("input", {
        id,
        name,
        required: true,
        "data-testid": id,
        "aria-describedby": `${id}-help ${id}-error`,
        ...attrs,
      }),
      help ? h("p", { class: "help", id: `${id}-help` }, help) : null,
      errors[name],
    );
  };

  const templateSelect = /** @type {HTMLSelectElement} */ (
    h(
      "select",
      { id: "provision-template", name: "template", required: true, "data-testid": "provision-template" },
      tpls.map((/** @type {any} */ t) =>
        h("option", { value: t.id, selected: t.id === chosen }, `${t.name} (v${t.version})`),
      ),
    )
  );
  const summary = h("div", { class: "template-summary", "data-testid": "provision-template-summary" });
  const showSummary = () => {
    const t = tpls.find((/** @type {any} */ x) => x.id === templateSelect.value);
    if (!t) return summary.replaceChildren();
    summary.replaceChildren(
      h("h3", {}, t.name),
      t.description ? h("p", { class: "muted" }, t.description) : null,
      definitionList([
        ["Category", t.category],
        ["Limits", limitsText(t.limits)],
        ["Features", (t.settings.features ?? []).join(", ") || "—"],
        ["Initial data", initialDataText(t.initialDataCounts)],
        ["After provisioning", t.postProvisioningSteps.join(", ") || "—"],
      ]),
    );
  };
  templateSelect.addEventListener("change", showSummary);

  const submit = h(
    "button",
    { type: "submit", class: "button", "data-testid": "provision-submit" },
    "Start provisioning",
  );
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "stack", "data-testid": "provision-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "provision-template" }, "Template"), templateSelect),
      h(
        "fieldset",
        { class: "stack" },
        h("legend", {}, "Tenant"),
        field("name", "Name", { autocomplete: "organization", maxlength: 255 }),
        h(
          "div",
          { class: "field-row" },
          field(
            "slug",
            "Slug",
            { pattern: "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", maxlength: 63, class: "mono" },
            "3–63 lowercase letters, digits or hyphens",
          ),
          field(
            "subdomain",
            "Subdomain",
            { pattern: "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", maxlength: 63, class: "mono" },
            "Same rules as the slug",
          ),
        ),
      ),
      h(
        "fieldset",
        { class: "stack" },
        h("legend", {}, "Administrator"),
        field("adminName", "Name", { autocomplete: "off", maxlength: 255 }),
        field("adminEmail", "Email", { type: "email", autocomplete: "off", maxlength: 320 }),
        field(
          "adminPassword",
          "Password",
          { type: "password", autocomplete: "new-password", minlength: 12 },
          "At least 12 characters",
        ),
      ),
      feedback,
      h("div", {}, submit),
    )
  );

  // The slug follows the name and the subdomain follows the slug until the operator edits them.
  const input = (/** @type {string} */ n) => /** @type {HTMLInputElement} */ (form.elements.namedItem(n));
  const edited = new Set();
  for (const n of ["slug", "subdomain"]) input(n).addEventListener("input", () => edited.add(n));
  input("name").addEventListener("input", () => {
    if (!edited.has("slug")) input("slug").value = slugify(input("name").value);
    if (!edited.has("subdomain")) input("subdomain").value = input("slug").value;
  });
  input("slug").addEventListener("input", () => {
    if (!edited.has("subdomain")) input("subdomain").value = input("slug").value;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const el of Object.values(errors)) el.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    feedback.replaceChildren();
    const body = Object.fromEntries(
      ["slug", "name", "subdomain", "adminName", "adminEmail", "adminPassword"].map((n) => [
        n,
        input(n).value.trim(),
      ]),
    );
    body.adminPassword = input("adminPassword").value;
    submit.setAttribute("disabled", "");
    submit.textContent = "Starting…";
    try {
      const run = await call("provisionFromTemplate", {
        params: { id: templateSelect.value },
        body,
        headers: { "idempotency-key": idempotencyKey },
      });
      navigate(`#/runs/${run.id}`);
    } catch (error) {
      if (error instanceof ApiError) {
        const fieldMessages = error.fieldMessages();
        let shown = 0;
        for (const [fieldName, message] of Object.entries(fieldMessages)) {
          const name = fieldName.replace(/^body\./, "");
          const target = errors[name];
          if (target) {
            target.textContent = message;
            input(name)?.setAttribute("aria-invalid", "true");
            shown += 1;
          }
        }
        feedback.replaceChildren(
          notice("error", shown > 0 ? `${error.message}` : errorMessage(error), {
            "data-testid": "provision-error",
          }),
        );
      } else {
        feedback.replaceChildren(notice("error", String(error), { "data-testid": "provision-error" }));
      }
      submit.removeAttribute("disabled");
      submit.textContent = "Start provisioning";
    }
  });

  page(
    nav,
    "New provisioning",
    breadcrumbs(crumb("Runs", "#/runs"), crumb("New provisioning")),
    h("div", { class: "page-head" }, h("h1", {}, "New provisioning")),
    h(
      "div",
      { class: "two-col" },
      h("section", { class: "card", "aria-label": "Provisioning form" }, form),
      h("aside", { class: "card", "aria-label": "Selected template" }, summary),
    ),
  );
  showSummary();
}
