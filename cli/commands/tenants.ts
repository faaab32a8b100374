/**
 * Tenants and their end of life: `tenants list | show`, `deprovision tenant | schedule`,
 * `schedules list | cancel`, `backups list`, `restore`.
 */
import {
  DEFAULT_GRACE_PERIOD_HOURS,
  deprovisioningOptionsSchema,
  deprovisionRequestSchema,
  listSchedulesQuerySchema,
  listTenantsQuerySchema,
  MAX_GRACE_PERIOD_HOURS,
  restoreRequestSchema,
  SCHEDULE_KINDS,
  SCHEDULE_STATUSES,
  scheduleDeprovisionSchema,
  TENANT_STATUSES,
} from "../../functions/schemas/deprovisioning.ts";
import { type Command, defineCommand, definedOnly, type OptionSpecs, parseFlags } from "../command.ts";
import { confirm, requireTerminalOrYes, YES_OPTION } from "../confirm.ts";
import {
  backupList,
  deprovisionQuestion,
  dryRunView,
  scheduleDetails,
  scheduleList,
  tenantDetails,
  tenantList,
} from "../views.ts";
import { followRun, WATCH_OPTION } from "./follow-run.ts";

const LIMIT = { type: "string", value: "N", description: "at most N items (1-200; default 50)" } as const;
const OFFSET = { type: "string", value: "N", description: "skip the first N items" } as const;

const DEPROVISION_DEFAULTS = deprovisioningOptionsSchema.parse({});

const DEPROVISION_OPTIONS = {
  "grace-period": {
    type: "string",
    value: "HOURS",
    description:
      `hours between disabling access and deleting the data (0-${MAX_GRACE_PERIOD_HOURS}; ` +
      `default ${DEFAULT_GRACE_PERIOD_HOURS}; 0 deletes right after the backup)`,
  },
  "delete-backup": {
    type: "boolean",
    description: "delete the backup together with the data: nothing can restore the tenant afterwards",
  },
  "preserve-backups": {
    type: "boolean",
    description: "keep the backup after the data is gone (the default; the only way to restore the tenant)",
  },
  "preserve-audit-logs": {
    type: "boolean",
    description: "keep the tenant's audit logs (archived with its backup) instead of deleting them",
  },
  "notify-users": { type: "boolean", description: "send every user of the tenant a notice first" },
} as const satisfies OptionSpecs;

const OPTION_FLAGS = {
  preserveAuditLogs: "--preserve-audit-logs",
  preserveBackups: "--preserve-backups",
  notifyUsers: "--notify-users",
  gracePeriodHours: "--grace-period",
  dryRun: "--dry-run",
  at: "--at",
  backupId: "<backupId>",
} as const;

/** The options part of a deprovisioning body: only what was given (the API's defaults do the rest). */
function deprovisionOptions(
  ctx: { usage(message: string): Error },
  flags: {
    readonly "preserve-audit-logs": boolean;
    readonly "preserve-backups": boolean;
    readonly "delete-backup": boolean;
    readonly "notify-users": boolean;
    readonly "grace-period": string | undefined;
  },
) {
  if (flags["preserve-backups"] && flags["delete-backup"]) {
    throw ctx.usage("--preserve-backups and --delete-backup contradict each other: give one");
  }
  const hours = flags["grace-period"];
  // A number when it reads as one; otherwise the text, so that the schema names the flag.
  const number = hours === undefined || hours.trim() === "" ? Number.NaN : Number(hours);
  return definedOnly({
    preserveAuditLogs: flags["preserve-audit-logs"] || undefined,
    preserveBackups: flags["delete-backup"] ? false : flags["preserve-backups"] || undefined,
    notifyUsers: flags["notify-users"] || undefined,
    gracePeriodHours: hours === undefined ? undefined : Number.isFinite(number) ? number : hours,
  });
}

export const tenantCommands: readonly Command[] = [
  defineCommand({
    path: ["tenants", "list"],
    summary: "List tenants, newest first",
    args: [],
    options: {
      status: { type: "string", value: "STATUS", description: `one of ${TENANT_STATUSES.join(", ")}` },
      limit: LIMIT,
      offset: OFFSET,
    },
    async run(ctx) {
      const query = { status: ctx.flags.status, limit: ctx.flags.limit, offset: ctx.flags.offset };
      parseFlags(
        listTenantsQuerySchema,
        definedOnly(query),
        { status: "--status", limit: "--limit", offset: "--offset" },
        "options",
        ["tenants", "list"],
      );
      const res = await ctx.api.call("listTenants", { query });
      ctx.emit(res.raw, () => tenantList(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["tenants", "show"],
    summary: "Show a tenant: status, template and version, limits, users, last run",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("getTenant", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => tenantDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["deprovision", "tenant"],
    summary: "Deprovision a tenant: back up, notify, disable access, wait the grace period, delete",
    description:
      `Access is disabled at once; the data is deleted after the grace period (default ${DEPROVISION_DEFAULTS.gracePeriodHours} h),\n` +
      "during which 'progress cancel <runId>' gives the tenant back as it was. The backup is kept\n" +
      "unless --delete-backup. --dry-run reports what would be removed and changes nothing.\n" +
      "The CLI first says what will be left and asks (exit 6 when the answer is no); without a\n" +
      "terminal (scripts) --yes is required.",
    args: ["tenantId"],
    options: {
      ...DEPROVISION_OPTIONS,
      "dry-run": { type: "boolean", description: "report row counts and backup size; change nothing" },
      yes: YES_OPTION,
      watch: WATCH_OPTION,
    },
    examples: [
      "tenant-provisioning deprovision tenant <tenantId> --dry-run",
      "tenant-provisioning deprovision tenant <tenantId> --preserve-audit-logs --notify-users --watch",
      "tenant-provisioning deprovision tenant <tenantId> --grace-period 0 --delete-backup --yes",
    ],
    async run(ctx) {
      const command = ["deprovision", "tenant"];
      const body = parseFlags(
        deprovisionRequestSchema,
        { ...deprovisionOptions(ctx, ctx.flags), ...(ctx.flags["dry-run"] ? { dryRun: true } : {}) },
        OPTION_FLAGS,
        "options",
        command,
      );
      if (!body.dryRun) {
        requireTerminalOrYes(ctx, ctx.flags.yes, "deprovisioning");
        if (!ctx.flags.yes) {
          const tenant = await ctx.api.call("getTenant", { params: { id: ctx.args.tenantId } });
          await confirm(ctx, deprovisionQuestion(tenant.data, body, new Date(), ctx.errStyle));
        }
      }
      const res = await ctx.api.call("deprovisionTenant", { params: { id: ctx.args.tenantId }, body });
      const data = res.data;
      if ("dryRun" in data) {
        ctx.emit(res.raw, () => dryRunView(data, ctx.style));
        return 0;
      }
      return followRun(ctx, { ...res, data }, { watch: ctx.flags.watch, verb: "Deprovisioning" });
    },
  }),
  defineCommand({
    path: ["deprovision", "schedule"],
    summary: "Schedule a tenant's deprovisioning at a future time, with the same options and defaults",
    args: ["tenantId"],
    options: {
      at: {
        type: "string",
        value: "ISO",
        required: true,
        description: "when, as an ISO 8601 time with a zone (2030-01-31T09:00:00Z)",
      },
      ...DEPROVISION_OPTIONS,
    },
    examples: [
      "tenant-provisioning deprovision schedule <tenantId> --at 2030-01-31T09:00:00Z --grace-period 24",
    ],
    async run(ctx) {
      const body = parseFlags(
        scheduleDeprovisionSchema,
        { at: ctx.flags.at, ...deprovisionOptions(ctx, ctx.flags) },
        OPTION_FLAGS,
        "options",
        ["deprovision", "schedule"],
      );
      const res = await ctx.api.call("scheduleDeprovision", { params: { id: ctx.args.tenantId }, body });
      ctx.emit(res.raw, () => scheduleDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["schedules", "list"],
    summary: "List scheduled deprovisionings, provisionings and batches, newest first",
    args: [],
    options: {
      status: { type: "string", value: "STATUS", description: `one of ${SCHEDULE_STATUSES.join(", ")}` },
      kind: { type: "string", value: "KIND", description: `one of ${SCHEDULE_KINDS.join(", ")}` },
      tenant: { type: "string", value: "TENANT_ID", description: "schedules of this tenant" },
      limit: LIMIT,
      offset: OFFSET,
    },
    async run(ctx) {
      const query = {
        status: ctx.flags.status,
        kind: ctx.flags.kind,
        tenantId: ctx.flags.tenant,
        limit: ctx.flags.limit,
        offset: ctx.flags.offset,
      };
      parseFlags(
        listSchedulesQuerySchema,
        definedOnly(query),
        { status: "--status", kind: "--kind", tenantId: "--tenant", limit: "--limit", offset: "--offset" },
        "options",
        ["schedules", "list"],
      );
      const res = await ctx.api.call("listSchedules", { query });
      ctx.emit(res.raw, () => scheduleList(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["schedules", "cancel"],
    summary:
      "Cancel a scheduled deprovisioning, provisioning or batch that has not started; it never runs (the slugs and subdomains it reserved are freed; a batch is cancelled)",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("cancelSchedule", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => scheduleDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["backups", "list"],
    summary: "List a tenant's backups and audit-log archives, newest first",
    args: ["tenantId"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("listTenantBackups", { params: { id: ctx.args.tenantId } });
      ctx.emit(res.raw, () => backupList(res.data.items, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["restore"],
    summary: "Restore a deprovisioned tenant from one of its backups, as a tracked run",
    args: ["tenantId", "backupId"],
    options: { watch: WATCH_OPTION },
    examples: ["tenant-provisioning restore <tenantId> <backupId> --watch"],
    async run(ctx) {
      const body = parseFlags(
        restoreRequestSchema,
        { backupId: ctx.args.backupId },
        OPTION_FLAGS,
        "options",
        ["restore"],
      );
      const res = await ctx.api.call("restoreTenant", { params: { id: ctx.args.tenantId }, body });
      return followRun(ctx, res, { watch: ctx.flags.watch, verb: "Restoring" });
    },
  }),
];
