/** Human views of the API's records: the types are the API's own, inferred from its zod schemas. */
import type { z } from "zod";
import type { Batch } from "../functions/schemas/batches.ts";
import type { CellInfo } from "../functions/schemas/cells.ts";
import {
  type Backup,
  type DeprovisioningOptions,
  deprovisioningOptionsSchema,
  type dryRunSchema,
  type ScheduledOperation,
  type scheduledOperationPageSchema,
  type TenantDetail,
  type tenantPageSchema,
} from "../functions/schemas/deprovisioning.ts";
import type { apiKeySchema, createdApiKeySchema, Whoami } from "../functions/schemas/keys.ts";
import type { Alert, alertPageSchema, ProvisioningStats } from "../functions/schemas/operations.ts";
import type { ProgressRecord, progressPageSchema } from "../functions/schemas/progress.ts";
import type {
  Template,
  TemplateSummary,
  templatePageSchema,
  templateVersionsSchema,
} from "../functions/schemas/templates.ts";
import {
  colorStatus,
  details,
  formatDuration,
  formatPercent,
  formatTime,
  progressBar,
  type Style,
  table,
} from "./render.ts";
import { gracePeriodEnd } from "./watch.ts";

type Page = { total: number; limit: number; offset: number; items: readonly unknown[] };

/** `Showing 1-20 of 45; --offset 20 for more`, when the page is not everything. */
export function pageFooter(page: Page, style: Style): string {
  if (page.items.length >= page.total && page.offset === 0) return "";
  const from = page.items.length === 0 ? 0 : page.offset + 1;
  const to = page.offset + page.items.length;
  const more = to < page.total ? `; --offset ${to} for more` : "";
  return `${style.dim(`Showing ${from}-${to} of ${page.total}${more}`)}\n`;
}

const yesNo = (v: boolean) => (v ? "yes" : "no");
const compact = (v: unknown) => (v === undefined ? "" : JSON.stringify(v));

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

export function templateList(page: z.output<typeof templatePageSchema>, style: Style): string {
  return (
    table(
      page.items,
      [
        { header: "ID", value: (t) => t.id },
        { header: "NAME", value: (t) => t.name },
        { header: "CATEGORY", value: (t) => t.category },
        { header: "VERSION", value: (t) => String(t.version), right: true },
        { header: "DEFAULT", value: (t) => yesNo(t.isDefault) },
        { header: "UPDATED", value: (t) => formatTime(t.updatedAt) },
        ...(page.items.some((t) => t.deletedAt)
          ? [
              {
                header: "DELETED",
                value: (t: TemplateSummary) => (t.deletedAt ? style.yellow(formatTime(t.deletedAt)) : ""),
              },
            ]
          : []),
      ],
      style,
    ) + pageFooter(page, style)
  );
}

export function templateDetails(t: Template, style: Style): string {
  const data = t.initialData;
  const counts = [
    `${data.schools?.length ?? 0} schools`,
    `${data.products?.length ?? 0} products`,
    `${data.users?.length ?? 0} users`,
    `${data.configurations?.length ?? 0} configurations`,
  ].join(", ");
  return details(
    [
      ["ID", t.id],
      ["Name", t.name],
      ["Description", t.description ?? undefined],
      ["Category", t.category],
      ["Version", String(t.version)],
      ["Default", yesNo(t.isDefault)],
      ["Cell", t.cell ?? "(placement policy)"],
      ["Settings", compact(t.settings)],
      ["Limits", compact(t.limits)],
      ["Migrations", t.migrations.join(", ")],
      ["Post-provisioning", t.postProvisioningSteps.join(", ") || "(none)"],
      ["Initial data", counts],
      ["Created", formatTime(t.createdAt)],
      ["Updated", formatTime(t.updatedAt)],
      ["Deleted", t.deletedAt ? style.yellow(formatTime(t.deletedAt)) : undefined],
    ],
    style,
  );
}

export function templateVersions(list: z.output<typeof templateVersionsSchema>, style: Style): string {
  return table(
    list.items,
    [
      { header: "VERSION", value: (v) => String(v.version), right: true },
      { header: "NAME", value: (v) => v.name },
      { header: "CATEGORY", value: (v) => v.category },
      { header: "CREATED", value: (v) => formatTime(v.createdAt) },
      { header: "CREATED BY", value: (v) => v.createdBy ?? "" },
    ],
    style,
  );
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

/** A run's tenant as people know it: its slug, else its name ("(removed)" once deprovisioned). */
function tenantLabel(tenant: ProgressRecord["tenant"]): string {
  if (!tenant) return "";
  return tenant.slug ?? tenant.name;
}

export function runList(page: z.output<typeof progressPageSchema>, style: Style): string {
  return (
    table(
      page.items,
      [
        { header: "ID", value: (r) => r.id },
        { header: "KIND", value: (r) => r.kind },
        { header: "STATUS", value: (r) => colorStatus(r.status, style) },
        { header: "STEPS", value: (r) => `${r.completedSteps}/${r.totalSteps}`, right: true },
        { header: "CURRENT STEP", value: (r) => r.currentStep ?? "" },
        { header: "TENANT", value: (r) => tenantLabel(r.tenant) },
        { header: "TENANT ID", value: (r) => r.tenantId ?? "" },
        { header: "CREATED", value: (r) => formatTime(r.createdAt) },
      ],
      style,
    ) + pageFooter(page, style)
  );
}

export function runDetails(run: ProgressRecord, style: Style): string {
  const waiting = gracePeriodEnd(run);
  const elapsed =
    run.startedAt && run.completedAt ? Date.parse(run.completedAt) - Date.parse(run.startedAt) : null;
  const head = details(
    [
      ["Run", run.id],
      ["Kind", run.kind],
      ["Status", colorStatus(run.status, style)],
      ["Progress", progressBar(run.completedSteps, run.totalSteps, 20, style.enabled)],
      ["Current step", run.currentStep ?? undefined],
      [
        "Tenant",
        run.tenantId
          ? run.tenant
            ? `${run.tenant.name}${run.tenant.slug ? ` (${run.tenant.slug})` : ""} ${style.dim(run.tenantId)}`
            : run.tenantId
          : undefined,
      ],
      ["Template", run.templateId ? `${run.templateId} (version ${run.templateVersion ?? "?"})` : undefined],
      ["Attempt", String(run.attempt)],
      ["Created", formatTime(run.createdAt)],
      ["Started", run.startedAt ? formatTime(run.startedAt) : undefined],
      ["Finished", run.completedAt ? formatTime(run.completedAt) : undefined],
      ["Duration", elapsed === null ? undefined : formatDuration(elapsed)],
      ["Error", run.error ? style.red(run.error) : undefined],
      ["Waiting", waiting ? `for the grace period to end at ${formatTime(waiting)}` : undefined],
      ...deprovisionFacts(run),
    ],
    style,
  );
  const steps = table(
    run.steps,
    [
      { header: "STEP", value: (s) => s.id },
      { header: "NAME", value: (s) => s.name },
      { header: "STATUS", value: (s) => colorStatus(s.status, style) },
      { header: "ATTEMPTS", value: (s) => String(s.attempts), right: true },
      { header: "DURATION", value: (s) => formatDuration(s.durationMs), right: true },
      { header: "ERROR", value: (s) => (s.error ? style.red(`${s.error.name}: ${s.error.message}`) : "") },
    ],
    style,
  );
  const actions = run.steps.flatMap((s) =>
    (s.actions ?? []).map(
      (a) =>
        `  ${s.name} › ${a.name}: ${colorStatus(a.status, style)}` +
        (a.error ? ` ${style.red(`${a.error.name}: ${a.error.message}`)}` : ""),
    ),
  );
  const warnings = run.warnings.map((w) => style.yellow(`  ${formatTime(w.at)} ${w.code}: ${w.message}`));
  return [
    head,
    steps,
    ...(actions.length ? [`Actions:\n${actions.join("\n")}\n`] : []),
    ...(warnings.length ? [`Warnings:\n${warnings.join("\n")}\n`] : []),
  ].join("\n");
}

/** A deprovisioning run's options and when its data is (was) deleted, from its metadata. */
function deprovisionFacts(run: ProgressRecord): [string, string | undefined][] {
  if (run.kind !== "deprovision") return [];
  const options = deprovisioningOptionsSchema.safeParse(run.metadata.options);
  const access = run.metadata.access;
  const deleteAfter =
    typeof access === "object" && access !== null
      ? (access as { deleteAfter?: unknown }).deleteAfter
      : undefined;
  return [
    ["Options", options.success ? optionsText(options.data) : undefined],
    ["Data deleted", typeof deleteAfter === "string" ? `after ${formatTime(deleteAfter)}` : undefined],
  ];
}

/** What `provision`, `retry`, `recover` print when not watching. */
export function runStarted(run: ProgressRecord, verb: string, style: Style): string {
  return (
    `${verb}: run ${style.bold(run.id)} (${run.kind}, ${colorStatus(run.status, style)}, ` +
    `${run.completedSteps}/${run.totalSteps} steps)\n` +
    style.dim(`Follow it: tenant-provisioning progress show ${run.id} --watch`) +
    "\n"
  );
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

export function keyList(keys: readonly z.output<typeof apiKeySchema>[], style: Style): string {
  return table(
    keys,
    [
      { header: "ID", value: (k) => k.id },
      { header: "NAME", value: (k) => k.name },
      { header: "ROLE", value: (k) => k.role },
      { header: "TENANT", value: (k) => k.tenantId ?? "" },
      { header: "PREFIX", value: (k) => k.prefix },
      { header: "CREATED", value: (k) => formatTime(k.createdAt) },
      { header: "LAST USED", value: (k) => formatTime(k.lastUsedAt) },
      { header: "REVOKED", value: (k) => (k.revokedAt ? style.yellow(formatTime(k.revokedAt)) : "") },
    ],
    style,
  );
}

export function keyDetails(key: z.output<typeof apiKeySchema>, style: Style): string {
  return details(
    [
      ["ID", key.id],
      ["Name", key.name],
      ["Role", key.role],
      ["Tenant", key.tenantId ?? undefined],
      ["Prefix", key.prefix],
      ["Created", formatTime(key.createdAt)],
      ["Revoked", key.revokedAt ? formatTime(key.revokedAt) : undefined],
    ],
    style,
  );
}

export function createdKey(key: z.output<typeof createdApiKeySchema>, style: Style): string {
  return (
    keyDetails(key, style) +
    `\n${style.bold("Key")}: ${key.key}\n` +
    style.yellow("This is the only time the key is shown; store it now.") +
    "\n"
  );
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

export function statsView(s: ProvisioningStats, style: Style): string {
  const window =
    s.window.from || s.window.to
      ? `${s.window.from ? formatTime(s.window.from) : "…"} to ${s.window.to ? formatTime(s.window.to) : "…"}`
      : "all runs";
  const head = details(
    [
      ["Window", window],
      ["Runs", String(s.totals.runs)],
      [
        "By status",
        Object.entries(s.totals.byStatus)
          .map(([k, v]) => `${k} ${v}`)
          .join(", "),
      ],
      [
        "By kind",
        Object.entries(s.totals.byKind)
          .map(([k, v]) => `${k} ${v.runs}`)
          .join(", "),
      ],
      ["Success rate", `${formatPercent(s.rates.success)} of ${s.rates.finished} finished`],
      ["Failure rate", formatPercent(s.rates.failure)],
      [
        "Completion time",
        s.completionTimeMs.runs === 0
          ? "-"
          : `average ${formatDuration(s.completionTimeMs.average)}, median ${formatDuration(
              s.completionTimeMs.median,
            )}, p95 ${formatDuration(s.completionTimeMs.p95)} (${s.completionTimeMs.runs} runs)`,
      ],
      ["In progress", `${s.inProgress.running} running, ${s.inProgress.pending} pending`],
      ["Generated", formatTime(s.generatedAt)],
    ],
    style,
  );
  const templates = table(
    s.templates,
    [
      { header: "TEMPLATE", value: (t) => t.templateName ?? (t.templateId ? t.templateId : "(custom)") },
      { header: "RUNS", value: (t) => String(t.runs), right: true },
      { header: "COMPLETED", value: (t) => String(t.completed), right: true },
      { header: "FAILED", value: (t) => String(t.failed), right: true },
      { header: "SUCCESS", value: (t) => formatPercent(t.successRate), right: true },
    ],
    style,
  );
  const steps = table(
    s.steps,
    [
      { header: "STEP", value: (t) => t.name },
      { header: "COMPLETED", value: (t) => String(t.completed), right: true },
      { header: "FAILURES", value: (t) => String(t.failures), right: true },
      { header: "AVG DURATION", value: (t) => formatDuration(t.averageDurationMs), right: true },
    ],
    style,
  );
  return `${head}\n${style.bold("Templates")}\n${templates}\n${style.bold("Steps")}\n${steps}`;
}

// ---------------------------------------------------------------------------------------------
// Tenants, deprovisioning, schedules, backups
// ---------------------------------------------------------------------------------------------

/** `1.2 MB` (powers of 1024, as file sizes are usually read). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function tenantList(page: z.output<typeof tenantPageSchema>, style: Style): string {
  return (
    table(
      page.items,
      [
        { header: "ID", value: (t) => t.id },
        { header: "SLUG", value: (t) => t.slug ?? "" },
        { header: "NAME", value: (t) => t.name },
        { header: "STATUS", value: (t) => colorStatus(t.status, style) },
        {
          header: "TEMPLATE",
          value: (t) =>
            t.templateId ? `${t.templateName ?? t.templateId} v${t.templateVersion ?? "?"}` : "(custom)",
        },
        { header: "CELL", value: (t) => t.cell },
        { header: "CREATED", value: (t) => formatTime(t.createdAt) },
      ],
      style,
    ) + pageFooter(page, style)
  );
}

export function tenantDetails(t: TenantDetail, style: Style): string {
  const template = t.template
    ? `${t.template.name ?? t.template.id} (${t.template.id}, version ${t.template.version ?? "?"})`
    : undefined;
  const last = t.lastRun
    ? `${t.lastRun.kind} ${colorStatus(t.lastRun.status, style)} ${t.lastRun.id}` +
      (t.lastRun.error ? ` ${style.red(t.lastRun.error)}` : "")
    : undefined;
  return details(
    [
      ["ID", t.id],
      ["Name", t.name],
      ["Slug", t.slug ?? undefined],
      ["Subdomain", t.subdomain ?? undefined],
      ["Status", colorStatus(t.status, style)],
      ["Template", template],
      ["Cell", t.cell],
      ["Users", String(t.users)],
      ["Limits", compact(t.limits)],
      ["Settings", compact(t.settings)],
      ["Last run", last],
      ["Created", formatTime(t.createdAt)],
      ["Updated", formatTime(t.updatedAt)],
    ],
    style,
  );
}

const optionsText = (o: ScheduledOperation["options"]) =>
  "batchId" in o
    ? `batch ${o.batchId}: ${o.items} items, ${o.maxConcurrency} at a time, ${o.toleratedFailurePercent} % tolerated`
    : "slug" in o
      ? [
          `provision ${o.slug}`,
          o.templateId ? `template ${o.templateId} v${o.templateVersion}` : "inline template",
          o.invited ? `invite ${o.adminEmail}` : `admin ${o.adminEmail}`,
        ].join(", ")
      : [
          `grace ${o.gracePeriodHours} h`,
          ...(o.preserveAuditLogs ? ["preserve audit logs"] : []),
          ...(o.preserveBackups ? ["preserve backups"] : []),
          ...(o.notifyUsers ? ["notify users"] : []),
        ].join(", ");

export function scheduleList(page: z.output<typeof scheduledOperationPageSchema>, style: Style): string {
  return (
    table(
      page.items,
      [
        { header: "ID", value: (s) => s.id },
        { header: "KIND", value: (s) => s.kind },
        { header: "TENANT", value: (s) => s.tenantId ?? "" },
        { header: "RUN AT", value: (s) => formatTime(s.runAt) },
        { header: "STATUS", value: (s) => colorStatus(s.status, style) },
        { header: "RUN", value: (s) => s.progressId ?? "" },
        { header: "OPTIONS", value: (s) => optionsText(s.options) },
      ],
      style,
    ) + pageFooter(page, style)
  );
}

export function scheduleDetails(s: ScheduledOperation, style: Style): string {
  return details(
    [
      ["Schedule", s.id],
      ["Kind", s.kind],
      ["Tenant", s.tenantId ?? undefined],
      ["Run at", formatTime(s.runAt)],
      ["Status", colorStatus(s.status, style)],
      ["Options", optionsText(s.options)],
      ["Run", s.progressId ?? undefined],
      ["Error", s.error ? style.red(s.error) : undefined],
      ["Created", formatTime(s.createdAt)],
      ["Cancelled", s.cancelledAt ? formatTime(s.cancelledAt) : undefined],
    ],
    style,
  );
}

export function backupList(items: readonly Backup[], style: Style): string {
  return table(
    items,
    [
      { header: "ID", value: (b) => b.id },
      { header: "KIND", value: (b) => b.kind },
      { header: "SIZE", value: (b) => formatBytes(b.sizeBytes), right: true },
      { header: "STORE", value: (b) => b.store },
      { header: "PRESERVED", value: (b) => yesNo(b.preserved) },
      { header: "CREATED", value: (b) => formatTime(b.createdAt) },
      { header: "DELETED", value: (b) => (b.deletedAt ? style.yellow(formatTime(b.deletedAt)) : "") },
      { header: "SHA-256", value: (b) => b.sha256.slice(0, 16) },
    ],
    style,
  );
}

/** What the dry run says about schema drift: none, what a restore rebuilds, or why it could not. */
function driftText(drift: z.output<typeof dryRunSchema>["schemaDrift"], style: Style): string {
  if (drift === null) return "no schema";
  if (drift.none) return "none (the schema is what its migrations make)";
  const parts = [
    ...drift.extraTables.map((t) => `table ${t} added`),
    ...drift.extraColumns.map((c) => `column ${c.table}.${c.column} ${c.type} added`),
    ...drift.changedColumns.map((c) => `column ${c.table}.${c.column} is ${c.actual}, not ${c.migrations}`),
    ...drift.missingTables.map((t) => `table ${t} dropped`),
    ...drift.missingColumns.map((c) => `column ${c.table}.${c.column} dropped`),
  ];
  const verdict = drift.restorable
    ? style.green("a restore rebuilds it from the backup")
    : style.red(`a restore could not rebuild it, deprovisioning is refused: ${drift.problems.join("; ")}`);
  return `${parts.join(", ")} — ${verdict}`;
}

export function dryRunView(report: z.output<typeof dryRunSchema>, style: Style): string {
  const rows = [
    ...Object.entries(report.wouldRemove.controlPlane).map(([table, n]) => ({ table, n, what: "remove" })),
    ...Object.entries(report.wouldRemove.tenantSchema).map(([table, n]) => ({
      table: `${report.schema}.${table}`,
      n,
      what: "remove",
    })),
    ...Object.entries(report.wouldKeep).map(([table, n]) => ({ table, n, what: "keep" })),
  ];
  return (
    `${style.bold("Dry run")}: nothing was changed.\n` +
    details(
      [
        ["Tenant", report.tenantId],
        ["Schema", `${report.schema}${report.schemaExists ? "" : " (does not exist)"}`],
        ["Options", optionsText(report.options)],
        [
          "Backup",
          `about ${formatBytes(report.backupEstimate.compressedBytes)} compressed ` +
            `(${formatBytes(report.backupEstimate.uncompressedBytes)} uncompressed)`,
        ],
        ["Schema drift", driftText(report.schemaDrift, style)],
      ],
      style,
    ) +
    "\n" +
    table(
      rows,
      [
        { header: "TABLE", value: (r) => r.table },
        { header: "ROWS", value: (r) => String(r.n), right: true },
        { header: "ACTION", value: (r) => (r.what === "remove" ? style.red("remove") : style.green("keep")) },
      ],
      style,
    )
  );
}

/**
 * The question before a deprovisioning: which tenant (name, slug, id) and exactly what will be left
 * — whether the backup is kept, what happens to the audit logs, and when the data is deleted.
 */
export function deprovisionQuestion(
  tenant: TenantDetail,
  options: DeprovisioningOptions,
  now: Date,
  style: Style,
): string {
  const who = `${style.bold(tenant.name)}${tenant.slug ? ` (${tenant.slug})` : ""} ${style.dim(tenant.id)}`;
  const hours = options.gracePeriodHours;
  const when =
    hours > 0
      ? `after a ${hours} h grace period, at about ${formatTime(new Date(now.getTime() + hours * 3600_000).toISOString())};\n` +
        "    until then 'progress cancel <runId>' gives the tenant back as it was"
      : style.yellow("right after the backup (no grace period)");
  return [
    `Deprovision tenant ${who}?`,
    `  - access ends now: its ${tenant.users} user(s) and its API keys stop working${options.notifyUsers ? " (they are notified first)" : ""}`,
    `  - its data (schema and control-plane rows) is deleted ${when}`,
    options.preserveBackups
      ? "  - a backup is taken first and KEPT: 'restore <tenantId> <backupId>' brings the tenant back"
      : style.red("  - a backup is taken first and DELETED with the data: nothing can bring the tenant back"),
    options.preserveAuditLogs
      ? "  - its audit logs are KEPT (archived beside the backup)"
      : "  - its audit logs are deleted with the data",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Alerts, the calling key
// ---------------------------------------------------------------------------------------------

export function alertList(page: z.output<typeof alertPageSchema>, style: Style): string {
  return (
    table(
      page.items,
      [
        { header: "ID", value: (a) => a.id },
        { header: "SEVERITY", value: (a) => severity(a.severity, style) },
        { header: "KIND", value: (a) => a.kind },
        { header: "SUBJECT", value: (a) => `${a.subjectType} ${a.subjectId ?? ""}`.trim() },
        { header: "MESSAGE", value: (a) => a.message },
        { header: "RAISED", value: (a) => formatTime(a.raisedAt) },
        { header: "RESOLVED", value: (a) => (a.resolvedAt ? formatTime(a.resolvedAt) : "") },
      ],
      style,
    ) + pageFooter(page, style)
  );
}

export function alertDetails(a: Alert, style: Style): string {
  return details(
    [
      ["Alert", a.id],
      ["Severity", severity(a.severity, style)],
      ["Kind", a.kind],
      ["Subject", `${a.subjectType} ${a.subjectId ?? ""}`.trim()],
      ["Tenant", a.tenantId ?? undefined],
      ["Message", a.message],
      ["Raised", formatTime(a.raisedAt)],
      ["Resolved", a.resolvedAt ? formatTime(a.resolvedAt) : undefined],
      ["Notified", a.notifiedAt ? formatTime(a.notifiedAt) : undefined],
    ],
    style,
  );
}

function severity(value: Alert["severity"], style: Style): string {
  return value === "critical" ? style.red(value) : value === "warning" ? style.yellow(value) : value;
}

export function whoamiView(me: Whoami, style: Style): string {
  return details(
    [
      ["Key", me.keyId],
      ["Name", me.name ?? undefined],
      ["Role", me.role],
      ["Tenant", me.tenantId ?? (me.role === "admin" ? "(all tenants)" : undefined)],
    ],
    style,
  );
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/** `12:00:05  running  queued 80 · running 10 · completed 8 · failed 2/5 tolerated`. */
export function batchSummaryLine(b: Batch, style: Style): string {
  const c = b.counts;
  const parts = [
    c.queued ? `queued ${c.queued}` : "",
    c.pending + c.running ? `running ${c.pending + c.running}` : "",
    `completed ${c.completed}/${b.total}`,
    c.failed ? style.red(`failed ${c.failed}`) : "",
    c.cancelled ? `cancelled ${c.cancelled}` : "",
  ].filter(Boolean);
  const budget = b.budgetExceeded ? style.red(" · failure budget exceeded: no more children start") : "";
  return `${formatTime(new Date().toISOString())}  ${colorStatus(b.status, style)}  ${parts.join(" · ")}${budget}`;
}

export function batchDetails(b: Batch, style: Style): string {
  const head = details(
    [
      ["Batch", b.id],
      ["Status", colorStatus(b.status, style)],
      ["Attempt", String(b.attempt)],
      ["Progress", progressBar(b.counts.completed, b.total, 20, style.enabled)],
      [
        "Children",
        `${b.total}: ${Object.entries(b.counts)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${n} ${s}`)
          .join(", ")}`,
      ],
      ["Concurrency", String(b.maxConcurrency)],
      [
        "Failure budget",
        `${b.toleratedFailures} failed children (${b.toleratedFailurePercent} %)${b.budgetExceeded ? style.red(" — exceeded: no more children start") : ""}`,
      ],
      ["Error", b.error ?? undefined],
      ["Created", formatTime(b.createdAt)],
      ["Completed", b.completedAt ? formatTime(b.completedAt) : undefined],
    ],
    style,
  );
  const children = table(
    b.children.items,
    [
      { header: "#", value: (c) => String(c.index), right: true },
      { header: "RUN", value: (c) => c.id },
      { header: "STATUS", value: (c) => (c.queued ? style.dim("queued") : colorStatus(c.status, style)) },
      { header: "SLUG", value: (c) => c.slug ?? "" },
      { header: "STEP", value: (c) => c.currentStep ?? "" },
      { header: "ERROR", value: (c) => (c.error ?? "").slice(0, 80) },
    ],
    style,
  );
  return `${head}\n${children}${pageFooter(b.children, style)}`;
}

// ---------------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------------

const cellState = (c: CellInfo, style: Style) =>
  c.acceptsTenants ? style.green("open") : style.yellow("closed");

export function cellList(items: readonly CellInfo[], style: Style): string {
  return table(
    items,
    [
      { header: "NAME", value: (c) => c.name },
      { header: "STATE", value: (c) => cellState(c, style) },
      { header: "CONFIGURED", value: (c) => (c.configured ? "yes" : style.yellow("no")) },
      { header: "TENANTS", value: (c) => String(c.tenants), right: true },
      { header: "UPDATED", value: (c) => formatTime(c.updatedAt) },
    ],
    style,
  );
}

export function cellDetails(c: CellInfo, style: Style): string {
  return details(
    [
      ["Cell", c.name],
      ["State", `${cellState(c, style)}${c.acceptsTenants ? "" : " (takes no new tenants)"}`],
      ["Configured", c.configured ? "yes" : style.yellow("no (not in TENANT_CELLS here)")],
      ["Tenants", String(c.tenants)],
      ["Updated", formatTime(c.updatedAt)],
    ],
    style,
  );
}
