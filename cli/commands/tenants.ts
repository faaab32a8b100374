/**
 * Tenants and their end of life: `tenants list | show`, `deprovision tenant | schedule`,
 * `schedules list | cancel`, `backups list`, `restore`.
 */
import {
  deprovisionRequestSchema,
  listSchedulesQuerySchema,
  listTenantsQuerySchema,
  MAX_GRACE_PERIOD_HOURS,
  restoreRequestSchema,
  SCHEDULE_STATUSES,
  scheduleDeprovisionSchema,
  TENANT_STATUSES,
} from "../../functions/schemas/deprovisioning.ts";
import {
  type Command,
  type CommandContext,
  defineCommand,
  definedOnly,
  type OptionSpecs,
  parseFlags,
} from "../command.ts";
import { InterruptedError } from "../errors.ts";
import { readLine } from "../password.ts";
import {
  backupList,
  dryRunView,
  scheduleDetails,
  scheduleList,
  tenantDetails,
  tenantList,
} from "../views.ts";
import { followRun, WATCH_OPTION } from "./follow-run.ts";

const LIMIT = { type: "string", value: "N", description: "at most N items (1-200; default 50)" } as const;
const OFFSET = { type: "string", value: "N", description: "skip the first N items" } as const;

const DEPROVISION_OPTIONS = {
  "preserve-audit-logs": {
    type: "boolean",
    description: "keep the tenant's audit logs (archived with its backup) instead of deleting them",
  },
  "preserve-backups": {
    type: "boolean",
    description: "keep the backup after the data is gone (the only way to restore the tenant)",
  },
  "notify-users": { type: "boolean", description: "send every user of the tenant a notice first" },
  "grace-period": {
    type: "string",
    value: "HOURS",
    description: `hours between disabling access and deleting the data (0-${MAX_GRACE_PERIOD_HOURS}; default 0)`,
  },
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
function deprovisionOptions(flags: {
  readonly "preserve-audit-logs": boolean;
  readonly "preserve-backups": boolean;
  readonly "notify-users": boolean;
  readonly "grace-period": string | undefined;
}) {
  const hours = flags["grace-period"];
  // A number when it reads as one; otherwise the text, so that the schema names the flag.
  const number = hours === undefined || hours.trim() === "" ? Number.NaN : Number(hours);
  return definedOnly({
    preserveAuditLogs: flags["preserve-audit-logs"] || undefined,
    preserveBackups: flags["preserve-backups"] || undefined,
    notifyUsers: flags["notify-users"] || undefined,
    gracePeriodHours: hours === undefined ? undefined : Number.isFinite(number) ? number : hours,
  });
}

/** On a terminal, asks before deleting a tenant (scripts pass --yes, or have no terminal). */
async function confirm(ctx: CommandContext<OptionSpecs, readonly string[]>, question: string): Promise<void> {
  if (!ctx.stdin.isTTY) return;
  ctx.stderr.write(`${question} [y/N] `);
  const answer = (await readLine(ctx.stdin)).trim().toLowerCase();
  if (answer !== "y" && answer !== "yes") throw new InterruptedError("not confirmed; nothing was changed");
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
      "Access is disabled at once; the data is deleted after the grace period, during which\n" +
      "'progress cancel <runId>' gives the tenant back as it was. --dry-run reports what would be\n" +
      "removed and changes nothing. On a terminal the CLI asks first (--yes does not ask).",
    args: ["tenantId"],
    options: {
      ...DEPROVISION_OPTIONS,
      "dry-run": { type: "boolean", description: "report row counts and backup size; change nothing" },
      yes: { type: "boolean", description: "do not ask for confirmation on a terminal" },
      watch: WATCH_OPTION,
    },
    examples: [
      "tenant-provisioning deprovision tenant <tenantId> --preserve-audit-logs --notify-users --grace-period 24",
      "tenant-provisioning deprovision tenant <tenantId> --dry-run",
    ],
    async run(ctx) {
      const command = ["deprovision", "tenant"];
      const body = parseFlags(
        deprovisionRequestSchema,
        { ...deprovisionOptions(ctx.flags), ...(ctx.flags["dry-run"] ? { dryRun: true } : {}) },
        OPTION_FLAGS,
        "options",
        command,
      );
      if (!body.dryRun && !ctx.flags.yes) {
        await confirm(
          ctx,
          `Deprovision tenant ${ctx.args.tenantId}? Its access ends now and its data is deleted ` +
            `${body.gracePeriodHours > 0 ? `in ${body.gracePeriodHours} h` : "right after the backup"}.`,
        );
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
    summary: "Schedule a tenant's deprovisioning at a future time, with the same options",
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
        { at: ctx.flags.at, ...deprovisionOptions(ctx.flags) },
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
    summary: "List scheduled deprovisionings, newest first",
    args: [],
    options: {
      status: { type: "string", value: "STATUS", description: `one of ${SCHEDULE_STATUSES.join(", ")}` },
      tenant: { type: "string", value: "TENANT_ID", description: "schedules of this tenant" },
      limit: LIMIT,
      offset: OFFSET,
    },
    async run(ctx) {
      const query = {
        status: ctx.flags.status,
        tenantId: ctx.flags.tenant,
        limit: ctx.flags.limit,
        offset: ctx.flags.offset,
      };
      parseFlags(
        listSchedulesQuerySchema,
        definedOnly(query),
        { status: "--status", tenantId: "--tenant", limit: "--limit", offset: "--offset" },
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
    summary: "Cancel a scheduled deprovisioning that has not started; it never runs",
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
