/**
 * `provision from-template | custom`: a tenant, with its admin's password kept out of shell history
 * (or none: `--invite`).
 */
import type { z } from "zod";
import type { ProgressRecord } from "../../functions/schemas/progress.ts";
import {
  provisionCustomSchema,
  provisionFromTemplateSchema,
  scheduleProvisionSchema,
} from "../../functions/schemas/provisioning.ts";
import type { ApiResponse } from "../api-client.ts";
import {
  type Command,
  type CommandContext,
  defineCommand,
  definedOnly,
  type FlagValues,
  type OptionSpecs,
  parseFlags,
  readJsonFlag,
} from "../command.ts";
import { UsageError } from "../errors.ts";
import { promptHidden, readLine } from "../password.ts";
import { scheduleDetails } from "../views.ts";
import { type AnyContext, followRun, WATCH_OPTION } from "./follow-run.ts";

const TENANT_OPTIONS = {
  slug: { type: "string", value: "SLUG", required: true, description: "the tenant's slug (a DNS label)" },
  name: { type: "string", value: "NAME", required: true, description: "the organisation's name" },
  "admin-name": { type: "string", value: "NAME", required: true, description: "the tenant admin's name" },
  "admin-email": { type: "string", value: "EMAIL", required: true, description: "the tenant admin's email" },
  "admin-password": {
    type: "string",
    value: "PASSWORD",
    description:
      "the tenant admin's password (12+ characters); prefer --admin-password-stdin or the prompt, which keep it out of shell history",
  },
  "admin-password-stdin": { type: "boolean", description: "read the password from the first line of stdin" },
  invite: {
    type: "boolean",
    description:
      "no password: the admin gets a single-use set-password link in the welcome notification (needs INVITATION_BASE_URL on the service)",
  },
  subdomain: { type: "string", value: "LABEL", description: "the tenant's subdomain (default: the slug)" },
  "idempotency-key": {
    type: "string",
    value: "KEY",
    description: "sent as Idempotency-Key: repeating the command with it starts no second run",
  },
  "initial-data": {
    type: "string",
    value: "data.json",
    description: "schools, products, users and configurations to add to the template's initial data",
  },
  watch: WATCH_OPTION,
} as const satisfies OptionSpecs;

/** A schedule is not a run yet: nothing to watch. */
const { watch: _watch, "idempotency-key": _key, ...TENANT_OPTIONS_WITHOUT_WATCH } = TENANT_OPTIONS;

type TenantFlags = Omit<FlagValues<typeof TENANT_OPTIONS>, "watch" | "idempotency-key">;

const FIELD_FLAGS = {
  slug: "--slug",
  name: "--name",
  subdomain: "--subdomain",
  adminName: "--admin-name",
  adminEmail: "--admin-email",
  initialData: "--initial-data",
  template: "--file",
  at: "--at",
} as const;

/**
 * The request body from the flags, checked with the API's schema: everything but the password
 * first (so a typo is reported before anyone is asked for a password), then the password.
 */
async function provisionBody<
  S extends
    | typeof provisionFromTemplateSchema
    | typeof provisionCustomSchema
    | typeof scheduleProvisionSchema,
>(
  ctx: CommandContext<OptionSpecs, readonly string[]>,
  flags: TenantFlags,
  schema: S,
  withoutPassword: z.ZodType,
  extra: Record<string, unknown>,
  command: readonly string[],
): Promise<z.output<S>> {
  const initialData = flags["initial-data"]
    ? await readJsonFlag(flags["initial-data"], "--initial-data", ctx.cwd, command)
    : undefined;
  const fields = definedOnly({
    slug: flags.slug,
    name: flags.name,
    subdomain: flags.subdomain ?? flags.slug,
    adminName: flags["admin-name"],
    adminEmail: flags["admin-email"],
    initialData,
    ...extra,
  });
  parseFlags(withoutPassword, fields, FIELD_FLAGS, "options", command);
  const { password, flag } = await adminPassword(ctx, flags, command);
  return parseFlags(
    schema,
    password === undefined ? fields : { ...fields, adminPassword: password },
    { ...FIELD_FLAGS, adminPassword: flag },
    "options",
    command,
  ) as z.output<S>;
}

async function adminPassword(
  ctx: CommandContext<OptionSpecs, readonly string[]>,
  flags: TenantFlags,
  command: readonly string[],
): Promise<{ password: string | undefined; flag: string }> {
  const given = [flags["admin-password"] !== undefined, flags["admin-password-stdin"], flags.invite];
  if (given.filter(Boolean).length > 1) {
    throw new UsageError("give one of --admin-password, --admin-password-stdin and --invite", command);
  }
  if (flags.invite) return { password: undefined, flag: "--invite" };
  if (flags["admin-password"] !== undefined)
    return { password: flags["admin-password"], flag: "--admin-password" };
  if (flags["admin-password-stdin"])
    return { password: await readLine(ctx.stdin), flag: "--admin-password-stdin" };
  if (ctx.stdin.isTTY && ctx.stdin.setRawMode) {
    return { password: await promptHidden(ctx.stdin, ctx.stderr, "Admin password: "), flag: "the password" };
  }
  throw new UsageError(
    "the admin password is required: --admin-password-stdin (or --admin-password), or --invite; stdin is not a terminal to ask on",
    command,
  );
}

/** The Idempotency-Key header of a provision request, when --idempotency-key was given. */
const idempotencyHeaders = (key: string | undefined) =>
  key !== undefined ? { headers: { "idempotency-key": key } } : {};

/** Shows (or with --watch follows) the run a provision request started, or replayed. */
function followProvisioning(
  ctx: AnyContext & { readonly flags: { readonly watch: boolean } },
  res: ApiResponse<ProgressRecord>,
  slug: string,
): Promise<number> {
  const replayed = res.headers.get("idempotent-replay") === "true";
  return followRun(ctx, res, {
    watch: ctx.flags.watch,
    verb: `Provisioning ${slug}`,
    note: replayed
      ? "This Idempotency-Key was used before: this is the run it started, not a new one.\n"
      : undefined,
  });
}

export const provisionCommands: readonly Command[] = [
  defineCommand({
    path: ["provision", "from-template"],
    summary: "Provision a tenant from a template",
    description:
      "Without --admin-password or --admin-password-stdin the password is asked for on the terminal\n" +
      "(nothing is echoed). With --invite no password is set: the welcome notification carries a\n" +
      "single-use, expiring set-password link (the template must send the welcome notification).",
    args: ["templateId"],
    options: TENANT_OPTIONS,
    examples: [
      'tenant-provisioning provision from-template <templateId> --slug my-tenant --name "My Organization" \\\n' +
        '    --admin-name "Admin User" --admin-email admin@example.com --subdomain my-tenant --watch',
      "printf '%s\\n' \"$PASSWORD\" | tenant-provisioning provision from-template <templateId> ... --admin-password-stdin",
      "tenant-provisioning provision from-template <templateId> --slug my-tenant ... --invite",
    ],
    async run(ctx) {
      const command = ["provision", "from-template"];
      const body = await provisionBody(
        ctx,
        ctx.flags,
        provisionFromTemplateSchema,
        provisionFromTemplateSchema.omit({ adminPassword: true }),
        {},
        command,
      );
      const res = await ctx.api.call("provisionFromTemplate", {
        params: { id: ctx.args.templateId },
        body,
        ...idempotencyHeaders(ctx.flags["idempotency-key"]),
      });
      return followProvisioning(ctx, res, body.slug);
    },
  }),
  defineCommand({
    path: ["provision", "schedule"],
    summary: "Schedule a tenant's provisioning from a template at a future time",
    description:
      "Everything is checked now and the slug and subdomain are reserved now: until the schedule runs (or\n" +
      "'schedules cancel <id>' frees them) no one else can take them. The password flags and --invite are\n" +
      "those of 'provision from-template'. 'schedules list --kind provision' shows what is waiting.",
    args: ["templateId"],
    options: {
      at: {
        type: "string",
        value: "ISO",
        required: true,
        description: "when, as an ISO 8601 time with a zone (2030-01-31T09:00:00Z)",
      },
      ...TENANT_OPTIONS_WITHOUT_WATCH,
    },
    examples: [
      "tenant-provisioning provision schedule <templateId> --at 2030-01-31T09:00:00Z --slug my-tenant \\\n" +
        '    --name "My Organization" --admin-name "Admin User" --admin-email admin@example.com --invite',
    ],
    async run(ctx) {
      const command = ["provision", "schedule"];
      const body = await provisionBody(
        ctx,
        ctx.flags,
        scheduleProvisionSchema,
        scheduleProvisionSchema.omit({ adminPassword: true }),
        { at: ctx.flags.at },
        command,
      );
      const res = await ctx.api.call("scheduleProvision", { params: { id: ctx.args.templateId }, body });
      ctx.emit(res.raw, () => scheduleDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["provision", "custom"],
    summary: "Provision a tenant from a template spec in a file (no stored template)",
    description: "The file holds a template spec as JSON, as for 'template create'.",
    args: [],
    options: {
      file: { type: "string", value: "spec.json", required: true, description: "the template spec" },
      ...TENANT_OPTIONS,
    },
    examples: [
      "tenant-provisioning provision custom --file spec.json --slug pilot --name Pilot \\\n" +
        "    --admin-name Ada --admin-email ada@example.org --admin-password-stdin --watch",
    ],
    async run(ctx) {
      const command = ["provision", "custom"];
      const template = await readJsonFlag(ctx.flags.file, "--file", ctx.cwd, command);
      const body = await provisionBody(
        ctx,
        ctx.flags,
        provisionCustomSchema,
        provisionCustomSchema.omit({ adminPassword: true }),
        { template },
        command,
      );
      const res = await ctx.api.call("provisionCustom", {
        body,
        ...idempotencyHeaders(ctx.flags["idempotency-key"]),
      });
      return followProvisioning(ctx, res, body.slug);
    },
  }),
];
