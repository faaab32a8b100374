/** Tenants: list and detail, with runs, backups (restore) and scheduled deprovisionings. */
import { API, get, hasOperation, query } from "../api.js";
import {
  definitionList,
  formatDuration,
  formatTime,
  h,
  notice,
  shortId,
  statusBadge,
  table,
} from "../dom.js";
import { navigate } from "../router.js";
import { breadcrumbs, card, crumb, OPS, page, progressBar, runDuration, templates } from "../ui.js";
import { deprovisionButton } from "./deprovision.js";

/** @param {URLSearchParams} params */
export async function tenantsPage(params) {
  if (!(await hasOperation(OPS.listTenants))) {
    page("Tenants", h("h1", {}, "Tenants"), notice("info", "This service does not list tenants yet."));
    return;
  }
  const status = params.get("status") ?? "";
  const result = await get(`${API}/tenants${query({ status, limit: 200 })}`);
  const tpls = await templates().catch(() => []);
  const names = new Map(tpls.map((/** @type {any} */ t) => [t.id, t.name]));
  const statuses = ["provisioning", "active", "suspended", "deprovisioning", "deprovisioned", "failed"];
  page(
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
          statuses.map((st) => h("option", { value: st, selected: st === status }, st)),
        ),
      ),
    ),
    h(
      "div",
      { class: "card card-flush" },
      table(
        ["Tenant", "Subdomain", "Status", "Template", "Created"],
        result.items.length === 0
          ? [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No tenants."))]
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
                        "a",
                        { href: `#/templates/${t.templateId}` },
                        names.get(t.templateId) ?? shortId(t.templateId),
                        t.templateVersion ? ` v${t.templateVersion}` : "",
                      )
                    : "—",
                ),
                h("td", { class: "nowrap" }, formatTime(t.createdAt)),
              ),
            ),
        { "data-testid": "tenants-table" },
      ),
    ),
  );
}

/** @param {string} id */
export async function tenantPage(id) {
  const [tenant, runs, canDeprovision, canListBackups] = await Promise.all([
    get(`${API}/tenants/${encodeURIComponent(id)}`),
    get(`${API}/progress${query({ tenantId: id, limit: 50 })}`),
    hasOperation(OPS.deprovision),
    hasOperation(OPS.listBackups),
  ]);
  const feedback = h("div", { class: "feedback" });
  const scalar = Object.entries(tenant).filter(([, v]) => v === null || typeof v !== "object");
  const labelOf = (/** @type {string} */ k) =>
    k.replace(/([A-Z])/g, " $1").replace(/^./, (c) => c.toUpperCase());
  const displayValue = (/** @type {string} */ k, /** @type {unknown} */ v) =>
    v === null || v === undefined
      ? "—"
      : k === "status"
        ? statusBadge(String(v))
        : /At$/.test(k)
          ? formatTime(String(v))
          : k === "templateId"
            ? h("a", { href: `#/templates/${v}` }, shortId(String(v)))
            : String(v);
  const backups = canListBackups
    ? await get(`${API}/tenants/${encodeURIComponent(id)}/backups`).catch(() => null)
    : null;
  page(
    tenant.name ?? "Tenant",
    breadcrumbs(crumb("Tenants", "#/tenants"), crumb(tenant.name ?? shortId(id))),
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        { class: "title-row" },
        h("h1", { "data-testid": "tenant-title" }, tenant.name ?? tenant.slug ?? shortId(id)),
        tenant.status ? statusBadge(tenant.status) : null,
      ),
      canDeprovision && tenant.status === "active" ? deprovisionButton(id, feedback) : null,
    ),
    feedback,
    h(
      "div",
      { class: "grid-2" },
      card("Tenant", definitionList(scalar.map(([k, v]) => [labelOf(k), displayValue(k, v)]))),
      tenant.limits
        ? card(
            "Limits",
            definitionList(Object.entries(tenant.limits).map(([k, v]) => [labelOf(k), String(v)])),
          )
        : null,
    ),
    card(
      "Runs",
      table(
        ["Run", "Kind", "Status", "Progress", "Started", "Duration"],
        runs.items.map((/** @type {any} */ run) =>
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
    backups
      ? card(
          "Backups",
          table(
            ["Backup", "Created", "Size", "Status"],
            (backups.items ?? []).map((/** @type {any} */ b) =>
              h(
                "tr",
                {},
                h("td", { class: "mono" }, shortId(b.id)),
                h("td", {}, formatTime(b.createdAt)),
                h(
                  "td",
                  { class: "num" },
                  b.sizeBytes !== undefined ? `${Math.round(b.sizeBytes / 1024)} KiB` : "—",
                ),
                h("td", {}, b.status ?? "—"),
              ),
            ),
          ),
        )
      : null,
  );
}

/* ------------------------------------------------------------------------------------------- */
/* Statistics and alerts                                                                        */
/* ------------------------------------------------------------------------------------------- */
