/**
 * Templates: list (the usable ones, or the deleted ones with restore), and a template's detail
 * (limits, settings, features, initial-data counts, versions).
 */
import { call } from "../api.js";
import { ENUMS } from "../contract.js";
import { definitionList, formatTime, h, notice, shortId, statusBadge, table } from "../dom.js";
import { navigate } from "../router.js";
import { can } from "../session.js";
import { actionButton, breadcrumbs, card, crumb, forgetTemplates, page, templates } from "../ui.js";

/** @typedef {import("../navigation.js").Navigation} Navigation */

/**
 * A "Restore" button for a deleted template; `done` runs with the restored template.
 *
 * @param {any} t
 * @param {HTMLElement} feedback
 * @param {(restored: any) => void} done
 */
function restoreButton(t, feedback, done) {
  return actionButton({
    label: "Restore",
    testid: `restore-template-${t.id}`,
    confirm: {
      title: `Restore ${t.name}?`,
      message: `It is listed and offered for provisioning again, at version ${t.version}.`,
      confirmLabel: "Restore",
    },
    call: () => call("restoreTemplate", { params: { id: t.id } }).finally(forgetTemplates),
    done,
    feedback,
    success: "Template restored.",
  });
}

/** @param {any} limits */
export function limitsText(limits) {
  const parts = [];
  if (limits.maxUsers) parts.push(`${limits.maxUsers} users`);
  if (limits.maxSchools) parts.push(`${limits.maxSchools} schools`);
  if (limits.maxProducts) parts.push(`${limits.maxProducts} products`);
  if (limits.maxStorageMb) parts.push(`${limits.maxStorageMb} MB`);
  return parts.join(" · ") || "none";
}

/**
 * A listed template's `initialDataCounts` (listings carry counts, not the data itself).
 * @param {any} counts
 */
export function initialDataText(counts) {
  const parts = ["schools", "products", "users", "configurations"].map((k) => `${counts?.[k] ?? 0} ${k}`);
  return parts.join(" · ");
}

/**
 * @param {Navigation} nav
 * @param {URLSearchParams} params
 */
export async function templatesPage(nav, params) {
  const state = params.get("state") ?? "active";
  const tpls =
    state === "active"
      ? await templates({ fresh: true })
      : (await call("listTemplates", { query: { state, limit: 200 } })).items;
  const feedback = h("div", { class: "feedback" });
  const reload = () => navigate(`#/templates${state === "active" ? "" : `?state=${state}`}`);
  page(
    nav,
    "Templates",
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Templates"),
      h("span", { class: "muted" }, `${tpls.length} template${tpls.length === 1 ? "" : "s"}`),
    ),
    h(
      "form",
      {
        class: "filters",
        "aria-label": "Filter templates",
        onsubmit: (/** @type {Event} */ e) => e.preventDefault(),
      },
      h(
        "div",
        { class: "field field-inline" },
        h("label", { for: "template-state" }, "Show"),
        h(
          "select",
          {
            id: "template-state",
            "data-testid": "template-state",
            onchange: (/** @type {Event} */ e) => {
              const v = /** @type {HTMLSelectElement} */ (e.target).value;
              navigate(v === "active" ? "#/templates" : `#/templates?state=${v}`);
            },
          },
          ENUMS.templateStates.map((st) => h("option", { value: st, selected: st === state }, st)),
        ),
      ),
    ),
    feedback,
    h(
      "div",
      { class: "card card-flush" },
      table(
        ["Name", "Category", "Version", "Limits", "Features", "Initial data", ""],
        tpls.map((/** @type {any} */ t) =>
          h(
            "tr",
            { "data-testid": "template-row", "data-name": t.name, "data-template-id": t.id },
            h(
              "td",
              {},
              h("a", { href: `#/templates/${t.id}`, class: "strong" }, t.name),
              t.isDefault ? h("span", { class: "chip" }, "default") : null,
              t.description ? h("div", { class: "muted small clamp" }, t.description) : null,
            ),
            h("td", {}, t.category.replace("_", " ")),
            h("td", { class: "num" }, `v${t.version}`),
            h("td", { class: "small" }, limitsText(t.limits)),
            h("td", { class: "num" }, String((t.settings.features ?? []).length)),
            h("td", { class: "small" }, initialDataText(t.initialDataCounts)),
            h(
              "td",
              {},
              t.deletedAt
                ? can("restoreTemplate")
                  ? restoreButton(t, feedback, reload)
                  : statusBadge("deleted")
                : h(
                    "a",
                    { class: "button button-secondary button-small", href: `#/provision?template=${t.id}` },
                    "Provision",
                  ),
            ),
          ),
        ),
        { "data-testid": "templates-table" },
      ),
    ),
  );
}

/**
 * @param {Navigation} nav
 * @param {string} id
 * @param {URLSearchParams} params
 */
export async function templatePage(nav, id, params) {
  const version = params.get("version");
  const [t, versions] = await Promise.all([
    call("getTemplate", { params: { id }, query: { version } }),
    call("listTemplateVersions", { params: { id } }),
  ]);
  const feedback = h("div", { class: "feedback" });
  const latest = Math.max(...versions.items.map((/** @type {any} */ v) => v.version));
  const counts = ["schools", "products", "users", "configurations"].map((k) =>
    h(
      "div",
      { class: "stat", "data-testid": `initial-${k}` },
      h("div", { class: "stat-value" }, String((t.initialData?.[k] ?? []).length)),
      h("div", { class: "stat-label" }, k),
    ),
  );
  const s = t.settings ?? {};
  page(
    nav,
    t.name,
    breadcrumbs(crumb("Templates", "#/templates"), crumb(t.name)),
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        { class: "title-row" },
        h("h1", { "data-testid": "template-title" }, t.name),
        h("span", { class: "chip" }, `v${t.version}`),
        t.isDefault ? h("span", { class: "chip" }, "default") : null,
        t.deletedAt ? statusBadge("deleted") : null,
      ),
      t.deletedAt
        ? can("restoreTemplate")
          ? restoreButton(t, feedback, () => navigate(`#/templates/${t.id}`))
          : null
        : h("a", { class: "button", href: `#/provision?template=${t.id}` }, "Provision a tenant"),
    ),
    feedback,
    version && Number(version) !== latest
      ? notice("info", `You are looking at version ${version}; the current version is ${latest}.`)
      : null,
    t.description ? h("p", { class: "lead" }, t.description) : null,
    h(
      "div",
      { class: "grid-3" },
      card(
        "Limits",
        definitionList(
          [
            ["Users", t.limits.maxUsers ?? "unlimited"],
            ["Schools", t.limits.maxSchools ?? "unlimited"],
            ["Products", t.limits.maxProducts ?? "unlimited"],
            ["Storage", t.limits.maxStorageMb ? `${t.limits.maxStorageMb} MB` : "unlimited"],
          ],
          { "data-testid": "template-limits" },
        ),
      ),
      card(
        "Settings",
        definitionList([
          ["Locale", s.locale],
          ["Time zone", s.timezone],
          ["Currency", s.currency],
          [
            "Order approval",
            s.requireOrderApproval ? `required above ${s.orderApprovalThreshold ?? 0}` : "not required",
          ],
          ["Fiscal year starts", s.fiscalYearStartMonth ? `month ${s.fiscalYearStartMonth}` : undefined],
        ]),
      ),
      card(
        "Features",
        h(
          "ul",
          { class: "chips", "data-testid": "template-features" },
          (s.features ?? []).map((/** @type {string} */ f) => h("li", { class: "chip" }, f)),
        ),
        h("h3", {}, "Tenant migrations"),
        h(
          "ul",
          { class: "chips" },
          t.migrations.map((/** @type {string} */ m) => h("li", { class: "chip chip-muted" }, m)),
        ),
      ),
    ),
    h(
      "div",
      { class: "grid-2" },
      card("Initial data", h("div", { class: "stats-row" }, counts)),
      card(
        "Post-provisioning steps",
        t.postProvisioningSteps.length
          ? h(
              "ol",
              { class: "numbered" },
              t.postProvisioningSteps.map((/** @type {string} */ p) => h("li", {}, p)),
            )
          : h("p", { class: "muted" }, "None"),
      ),
    ),
    card(
      "Versions",
      table(
        ["Version", "Name", "Category", "Created", "By", ""],
        versions.items.map((/** @type {any} */ v) =>
          h(
            "tr",
            { "data-testid": "version-row" },
            h("td", { class: "num" }, `v${v.version}`),
            h("td", {}, v.name),
            h("td", {}, v.category),
            h("td", { class: "nowrap" }, formatTime(v.createdAt)),
            h("td", { class: "mono small" }, v.createdBy ? shortId(v.createdBy) : "—"),
            h(
              "td",
              {},
              v.version === t.version
                ? h("span", { class: "muted small" }, "shown")
                : h("a", { href: `#/templates/${t.id}?version=${v.version}` }, "View"),
            ),
          ),
        ),
        { "data-testid": "versions-table" },
      ),
    ),
  );
}
