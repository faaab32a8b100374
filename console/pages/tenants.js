/** Tenants: list and detail, with runs, backups (restore) and scheduled deprovisionings. */
import { call } from "../api.js";
import { DEPROVISIONING_OPTIONS, ENUMS } from "../contract.js";
import { definitionList, formatDuration, formatTime, h, shortId, statusBadge, table } from "../dom.js";
import { navigate } from "../router.js";
import { can } from "../session.js";
import { actionButton, breadcrumbs, card, crumb, page, progressBar, runDuration } from "../ui.js";
import { deprovisionButton, optionLabel, optionValue } from "./deprovision.js";

/** @typedef {import("../navigation.js").Navigation} Navigation */

/**
 * @param {Navigation} nav
 * @param {URLSearchParams} params
 */
export async function tenantsPage(nav, params) {
  const status = params.get("status") ?? "";
  const result = await call("listTenants", { query: { status, limit: 200 } });
  page(
    nav,
    "Tenants",
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Tenants"),
      h("span", { class: "muted" }, `${result.total ?? result.items.length} tenants`),
    ),
    h(
      "form",
      {
        class: "filters",
        role: "search",
        "aria-label": "Filter tenants",
        onsubmit: (/** @type {Event} */ e) => e.preventDefault(),
      },
      h(
        "div",
        { class: "field field-inline" },
        h("label", { for: "tenant-status" }, "Status"),
        h(
          "select",
          {
            id: "tenant-status",
            onchange: (/** @type {Event} */ e) => {
              const v = /** @type {HTMLSelectElement} */ (e.target).value;
              navigate(v ? `#/tenants?status=${v}` : "#/tenants");
            },
          },
          h("option", { value: "" }, "All"),
          ENUMS.tenantStatuses.map((st) => h("option", { value: st, selected: st === status }, st)),
        ),
      ),
    ),
    h(
      "div",
      { class: "card card-flush" },
      table(
        ["Tenant", "Subdomain", "Status", "Template", "Cell", "Created"],
        result.items.length === 0
          ? [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No tenants."))]
          : result.items.map((/** @type {any} */ t) =>
              h(
                "tr",
                { "data-testid": "tenant-row", "data-tenant-id": t.id },
                h(
                  "td",
                  {},
                  h("a", { href: `#/tenants/${t.id}`, class: "strong" }, t.name ?? t.slug ?? shortId(t.id)),
                  h("div", { class: "muted small mono" }, t.slug ?? ""),
                ),
                h("td", { class: "mono small" }, t.subdomain ?? "—"),
                h("td", {}, t.status ? statusBadge(t.status) : "—"),
                h(
                  "td",
                  {},
                  t.templateId
                    ? h(
                        can("getTemplate") ? "a" : "span",
                        can("getTemplate") ? { href: `#/templates/${t.templateId}` } : {},
                        t.templateName ?? shortId(t.templateId),
                        t.templateVersion ? ` v${t.templateVersion}` : "",
                      )
                    : "custom",
                ),
                h("td", { class: "mono small", "data-testid": "tenant-cell" }, t.cell ?? "—"),
                h("td", { class: "nowrap" }, formatTime(t.createdAt)),
              ),
            ),
        { "data-testid": "tenants-table" },
      ),
    ),
  );
}

/** @param {number} bytes */
function formatBytes(bytes) {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** @param {string} key  camelCase → "Camel case" */
function labelOf(key) {
  const words = key.replace(/([A-Z])/g, " $1").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * A tenant: facts, limits, its runs, its backups (restore offered only while it is deprovisioned)
 * and scheduled deprovisionings (with cancel) — the last two for admin keys only.
 *
 * @param {Navigation} nav
 * @param {string} id
 */
export async function tenantPage(nav, id) {
  const params = { id };
  const [tenant, runs, backups, schedules] = await Promise.all([
    call("getTenant", { params }),
    call("listProgress", { query: { tenantId: id, limit: 50 } }),
    can("listTenantBackups") ? call("listTenantBackups", { params }) : null,
    can("listSchedules") ? call("listSchedules", { query: { tenantId: id, limit: 50 } }) : null,
  ]);
  // The API restores only a deprovisioned tenant, from a full backup that was kept.
  const restorable = can("restoreTenant") && tenant.status === "deprovisioned";
  const feedback = h("div", { class: "feedback" });
  const reload = () => navigate(`#/tenants/${encodeURIComponent(id)}`);
  const template = tenant.template;
  const name = tenant.name ?? tenant.slug ?? shortId(id);

  const backupRows = (backups?.items ?? []).map((/** @type {any} */ b) =>
    h(
      "tr",
      { "data-testid": "backup-row" },
      h("td", { class: "mono" }, shortId(b.id)),
      h("td", {}, b.kind ?? "—"),
      h("td", { class: "nowrap" }, formatTime(b.createdAt)),
      h("td", { class: "num" }, typeof b.sizeBytes === "number" ? formatBytes(b.sizeBytes) : "—"),
      h("td", { class: "mono small" }, b.sha256 ? `${b.sha256.slice(0, 12)}…` : "—"),
      h("td", {}, b.deletedAt ? statusBadge("deleted") : b.preserved ? "kept" : "until deletion"),
      h(
        "td",
        {},
        restorable && !b.deletedAt && b.kind === "full"
          ? actionButton({
              label: "Restore",
              testid: `restore-${b.id}`,
              confirm: {
                title: "Restore the tenant from this backup?",
                message: `The tenant is recreated — schema, data and users — as it was on ${formatTime(b.createdAt)}, as a tracked run.`,
                confirmLabel: "Restore",
              },
              call: () => call("restoreTenant", { params, body: { backupId: b.id } }),
              done: (run) => {
                if (run?.id) navigate(`#/runs/${run.id}`);
              },
              feedback,
              success: "Restore started.",
            })
          : null,
      ),
    ),
  );

  const scheduleRows = (schedules?.items ?? []).map((/** @type {any} */ sch) =>
    h(
      "tr",
      { "data-testid": "schedule-row" },
      h("td", { class: "nowrap" }, formatTime(sch.runAt)),
      h("td", {}, statusBadge(sch.status)),
      h(
        "td",
        { class: "small" },
        DEPROVISIONING_OPTIONS.map((o) => `${optionLabel(o)}: ${optionValue(o, sch.options?.[o.name])}`).join(
          " · ",
        ),
      ),
      h(
        "td",
        {},
        sch.progressId ? h("a", { href: `#/runs/${sch.progressId}` }, shortId(sch.progressId)) : "—",
      ),
      h(
        "td",
        {},
        can("cancelSchedule") && sch.status === "scheduled"
          ? actionButton({
              label: "Cancel",
              testid: `cancel-schedule-${sch.id}`,
              danger: true,
              confirm: {
                title: "Cancel this scheduled deprovisioning?",
                message: `It was due ${formatTime(sch.runAt)}; it will not run.`,
                confirmLabel: "Cancel schedule",
                danger: true,
              },
              call: () => call("cancelSchedule", { params: { id: sch.id } }),
              done: reload,
              feedback,
              success: "Schedule cancelled.",
            })
          : null,
      ),
    ),
  );

  page(
    nav,
    name,
    breadcrumbs(crumb("Tenants", "#/tenants"), crumb(name)),
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        { class: "title-row" },
        h("h1", { "data-testid": "tenant-title" }, name),
        tenant.status ? statusBadge(tenant.status, { "data-testid": "tenant-status" }) : null,
      ),
      h(
        "div",
        { class: "toolbar" },
        can("deprovisionTenant") && tenant.status === "active"
          ? deprovisionButton(id, name, feedback, { onScheduled: reload })
          : null,
      ),
    ),
    feedback,
    h(
      "div",
      { class: "grid-2" },
      card(
        "Tenant",
        definitionList([
          ["ID", h("span", { class: "mono small" }, tenant.id), { class: "fact-wide" }],
          ["Slug", h("span", { class: "mono" }, tenant.slug ?? "—")],
          ["Subdomain", h("span", { class: "mono" }, tenant.subdomain ?? "—")],
          [
            "Template",
            template?.id
              ? h(
                  can("getTemplate") ? "a" : "span",
                  can("getTemplate")
                    ? {
                        href: `#/templates/${template.id}${template.version ? `?version=${template.version}` : ""}`,
                      }
                    : {},
                  template.name ?? shortId(template.id),
                  template.version ? ` (v${template.version})` : "",
                )
              : "—",
          ],
          ["Cell", h("span", { class: "mono", "data-testid": "tenant-cell" }, tenant.cell ?? "—")],
          ["Users", tenant.users === undefined ? "—" : String(tenant.users)],
          ["Created", formatTime(tenant.createdAt)],
          ["Updated", formatTime(tenant.updatedAt)],
          [
            "Last run",
            tenant.lastRun
              ? h(
                  "span",
                  {},
                  h(
                    "a",
                    { href: `#/runs/${tenant.lastRun.id}` },
                    `${tenant.lastRun.kind} ${shortId(tenant.lastRun.id)}`,
                  ),
                  " ",
                  statusBadge(tenant.lastRun.status),
                )
              : "—",
          ],
        ]),
      ),
      card(
        "Limits",
        Object.keys(tenant.limits ?? {}).length > 0
          ? definitionList(
              Object.entries(tenant.limits).map(([k, v]) => [labelOf(k.replace(/^max/, "")), String(v)]),
            )
          : h("p", { class: "muted" }, "No limits."),
        Object.keys(tenant.settings ?? {}).length > 0
          ? [
              h("h3", {}, "Settings"),
              definitionList(
                Object.entries(tenant.settings).map(([k, v]) => [
                  labelOf(k),
                  Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v),
                ]),
              ),
            ]
          : null,
      ),
    ),
    card(
      "Runs",
      table(
        ["Run", "Kind", "Status", "Progress", "Started", "Duration"],
        runs.items.length === 0
          ? [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No runs."))]
          : runs.items.map((/** @type {any} */ run) =>
              h(
                "tr",
                { "data-testid": "tenant-run-row" },
                h("td", {}, h("a", { href: `#/runs/${run.id}`, class: "mono" }, shortId(run.id))),
                h("td", {}, run.kind),
                h("td", {}, statusBadge(run.status)),
                h("td", {}, progressBar(run)),
                h("td", { class: "nowrap" }, formatTime(run.startedAt ?? run.createdAt)),
                h("td", {}, formatDuration(runDuration(run))),
              ),
            ),
      ),
    ),
    schedules
      ? card(
          "Scheduled deprovisioning",
          table(
            ["Due", "Status", "Options", "Run", ""],
            scheduleRows.length > 0
              ? scheduleRows
              : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "Nothing scheduled."))],
          ),
        )
      : null,
    backups
      ? card(
          "Backups",
          table(
            ["Backup", "Kind", "Created", "Size", "SHA-256", "Kept", ""],
            backupRows.length > 0
              ? backupRows
              : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No backups."))],
          ),
        )
      : null,
  );
}
