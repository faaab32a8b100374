/**
 * `rollout plan | start | list | show | pause | resume | abort`: template upgrades rolled out to
 * existing tenants in waves. `--watch` follows a rollout until it completes, pauses, halts or is
 * aborted (exit 0 completed or paused, 4 halted or aborted).
 */
import {
  listRolloutsQuerySchema,
  ROLLOUT_STATUSES,
  type Rollout,
  type RolloutPlan,
  rolloutRequestSchema,
} from "../../functions/schemas/rollouts.ts";
import { type Command, defineCommand, definedOnly, type OptionSpecs, parseFlags } from "../command.ts";
import { RunFailedError } from "../errors.ts";
import { colorStatus, details, json, type Style, table } from "../render.ts";
import type { AnyContext } from "./follow-run.ts";

const WATCH = {
  type: "boolean",
  description:
    "follow the rollout until it completes, pauses, halts or is aborted; exit 0 completed or paused, 4 halted or aborted",
} as const;

const PLAN_OPTIONS = {
  template: { type: "string", value: "TEMPLATE_ID", description: "the template", required: true },
  version: { type: "string", value: "N", description: "the version to move to (default: the current one)" },
  canary: {
    type: "string",
    value: "N|SLUG,...",
    description:
      "the first wave: this many tenants, or these tenants (ids or slugs, comma-separated; default 1)",
  },
  "wave-size": { type: "string", value: "N", description: "tenants per wave after the canary (default 25)" },
  "max-concurrency": {
    type: "string",
    value: "N",
    description: "upgrades in flight at once (1-40; default 5)",
  },
  "tolerated-failure-percent": {
    type: "string",
    value: "P",
    description: "halt when more than P% of the tenants failed (default 0: at the first failure)",
  },
  "pause-after-canary": { type: "boolean", description: "pause after the canary wave until resumed" },
  "confirm-destructive": {
    type: "boolean",
    description: "allow tenant migrations that drop or rewrite data (refused otherwise)",
  },
} as const satisfies OptionSpecs;

const FLAG_NAMES = {
  templateId: "--template",
  targetVersion: "--version",
  canary: "--canary",
  waveSize: "--wave-size",
  maxConcurrency: "--max-concurrency",
  toleratedFailurePercent: "--tolerated-failure-percent",
  pauseAfterCanary: "--pause-after-canary",
  confirmDestructive: "--confirm-destructive",
} as const;

/** A number when the text reads as one; otherwise the text, so that the schema names the flag. */
function numeric(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  const n = text.trim() === "" ? Number.NaN : Number(text);
  return Number.isFinite(n) ? n : text;
}

function requestBody(
  flags: {
    readonly template: string | undefined;
    readonly version: string | undefined;
    readonly canary: string | undefined;
    readonly "wave-size": string | undefined;
    readonly "max-concurrency": string | undefined;
    readonly "tolerated-failure-percent": string | undefined;
    readonly "pause-after-canary": boolean;
    readonly "confirm-destructive": boolean;
  },
  dryRun: boolean,
  command: readonly string[],
) {
  const canary = flags.canary;
  const body = definedOnly({
    templateId: flags.template,
    targetVersion: numeric(flags.version),
    canary:
      canary === undefined
        ? undefined
        : /^\d+$/.test(canary.trim())
          ? Number(canary)
          : canary
              .split(",")
              .map((s) => s.trim())
              .filter((s) => s.length > 0),
    waveSize: numeric(flags["wave-size"]),
    maxConcurrency: numeric(flags["max-concurrency"]),
    toleratedFailurePercent: numeric(flags["tolerated-failure-percent"]),
    pauseAfterCanary: flags["pause-after-canary"] || undefined,
    confirmDestructive: flags["confirm-destructive"] || undefined,
    dryRun: dryRun || undefined,
  });
  parseFlags(rolloutRequestSchema, body, FLAG_NAMES, "options", command);
  return body;
}

function counts(r: Rollout): string {
  const c = r.counts;
  return `${c.upgraded} upgraded, ${c.failed} failed, ${c.running} running, ${c.pending} pending, ${c.skipped} skipped`;
}

function rolloutLine(r: Rollout, style: Style): string {
  return `Rollout ${r.id} ${colorStatus(r.status, style)}: wave ${Math.min(r.currentWave, r.totalWaves)} of ${r.totalWaves}; ${counts(r)} (of ${r.tenantCount})${r.error ? `\n  ${r.error}` : ""}\n`;
}

function rolloutDetails(r: Rollout, style: Style): string {
  const head = details(
    [
      ["Rollout", r.id],
      ["Status", colorStatus(r.status, style)],
      ["Template", `${r.templateId} → version ${r.targetVersion}`],
      ["Tenants", `${r.tenantCount}: ${counts(r)}`],
      ["Waves", `${Math.min(r.currentWave, r.totalWaves)} of ${r.totalWaves}`],
      [
        "Plan",
        `canary ${Array.isArray(r.plan.canary) ? r.plan.canary.join(", ") : r.plan.canary}, waves of ${r.plan.waveSize}, ` +
          `${r.plan.maxConcurrency} at once, tolerating ${r.plan.toleratedFailurePercent}%` +
          (r.plan.pauseAfterCanary ? ", pause after canary" : ""),
      ],
      ["Error", r.error ?? undefined],
    ],
    style,
  );
  const rows = (r.waves ?? []).flatMap((w) =>
    w.tenants.map((t) => ({ wave: `${w.wave}${w.canary ? " (canary)" : ""}`, ...t })),
  );
  return `${head}\n${table(
    rows,
    [
      { header: "WAVE", value: (t) => t.wave },
      { header: "TENANT", value: (t) => t.slug ?? t.tenantId },
      { header: "FROM", value: (t) => `v${t.fromVersion}` },
      { header: "STATUS", value: (t) => colorStatus(t.status, style) },
      { header: "UPGRADE RUN", value: (t) => t.upgradeProgressId ?? "" },
      { header: "ERROR", value: (t) => t.error ?? "" },
    ],
    style,
  )}`;
}

function planDetails(p: RolloutPlan): string {
  const lines = [
    `Template ${p.templateId} → version ${p.targetVersion}: ${p.tenantCount} tenants in ${p.waves.length} waves` +
      (p.deferredTenants > 0 ? ` (${p.deferredTenants} more wait for a later rollout)` : ""),
  ];
  for (const [from, change] of Object.entries(p.changes)) {
    const configs = Object.keys(change.configurations);
    const limits = Object.keys(change.limits);
    lines.push(
      `  from v${from}: migrations ${change.migrations.join(", ") || "none"}; configuration ${configs.join(", ") || "none"}; limits ${limits.join(", ") || "none"}`,
    );
  }
  if (p.destructive.length > 0) {
    lines.push("  DESTRUCTIVE (needs --confirm-destructive):");
    for (const d of p.destructive) lines.push(`    ${d.migration}: ${d.statement}`);
  }
  for (const w of p.waves) {
    lines.push(
      `  wave ${w.wave}${w.canary ? " (canary)" : ""}: ${w.tenants.map((t) => `${t.slug ?? t.tenantId} (v${t.fromVersion})`).join(", ")}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

const WATCH_END = ["completed", "paused", "halted", "aborted"];

/** Polls the rollout, printing a line whenever it changes, until it completes, pauses, halts or aborts. */
async function watchRollout(ctx: AnyContext, id: string): Promise<number> {
  const interrupt = new AbortController();
  const stop = ctx.watch.onInterrupt(() => interrupt.abort());
  let last = "";
  let res = await ctx.api.call("getRollout", { params: { id } });
  try {
    for (;;) {
      const line = rolloutLine(res.data, ctx.style);
      if (!ctx.json && line !== last) ctx.stdout.write(line);
      last = line;
      if (WATCH_END.includes(res.data.status) || interrupt.signal.aborted) break;
      await new Promise((resolve) => setTimeout(resolve, ctx.watch.intervalMs));
      res = await ctx.api.call("getRollout", { params: { id } });
    }
  } finally {
    stop();
  }
  if (ctx.json) ctx.stdout.write(json(res.raw));
  if (interrupt.signal.aborted) return 130;
  if (res.data.status === "halted" || res.data.status === "aborted")
    throw new RunFailedError(id, res.data.status);
  return 0;
}

export const rolloutCommands: readonly Command[] = [
  defineCommand({
    path: ["rollout", "plan"],
    summary:
      "Show which tenants a rollout would upgrade, in which waves, with which changes (nothing changes)",
    args: [],
    options: PLAN_OPTIONS,
    examples: ["tenant-provisioning rollout plan --template <templateId> --canary 2 --wave-size 50"],
    async run(ctx) {
      const body = requestBody(ctx.flags, true, ["rollout", "plan"]);
      const res = await ctx.api.call("startRollout", { body: body as never });
      ctx.emit(res.raw, () => planDetails(res.data as RolloutPlan));
      return 0;
    },
  }),
  defineCommand({
    path: ["rollout", "start"],
    summary: "Start upgrading a template's tenants on older versions, wave by wave",
    args: [],
    options: { ...PLAN_OPTIONS, watch: WATCH },
    examples: [
      "tenant-provisioning rollout start --template <templateId> --canary 1 --pause-after-canary --wave-size 50 --max-concurrency 10 --tolerated-failure-percent 2 --watch",
    ],
    async run(ctx) {
      const body = requestBody(ctx.flags, false, ["rollout", "start"]);
      const res = await ctx.api.call("startRollout", { body: body as never });
      const rollout = res.data as Rollout;
      if (!ctx.flags.watch) {
        ctx.emit(res.raw, () => rolloutLine(rollout, ctx.style));
        return 0;
      }
      return watchRollout(ctx, rollout.id);
    },
  }),
  defineCommand({
    path: ["rollout", "list"],
    summary: "List rollouts, newest first",
    args: [],
    options: {
      status: { type: "string", value: "STATUS", description: `one of ${ROLLOUT_STATUSES.join(", ")}` },
      template: { type: "string", value: "TEMPLATE_ID", description: "rollouts of this template" },
      limit: { type: "string", value: "N", description: "at most N rollouts (1-200; default 50)" },
      offset: { type: "string", value: "N", description: "skip the first N" },
    },
    async run(ctx) {
      const query = {
        status: ctx.flags.status,
        templateId: ctx.flags.template,
        limit: ctx.flags.limit,
        offset: ctx.flags.offset,
      };
      parseFlags(
        listRolloutsQuerySchema,
        definedOnly(query),
        { status: "--status", templateId: "--template", limit: "--limit", offset: "--offset" },
        "options",
        ["rollout", "list"],
      );
      const res = await ctx.api.call("listRollouts", { query });
      ctx.emit(res.raw, () =>
        table(
          res.data.items,
          [
            { header: "ID", value: (r) => r.id },
            { header: "STATUS", value: (r) => colorStatus(r.status, ctx.style) },
            { header: "TEMPLATE", value: (r) => `${r.templateId} v${r.targetVersion}` },
            { header: "WAVE", value: (r) => `${Math.min(r.currentWave, r.totalWaves)}/${r.totalWaves}` },
            { header: "UPGRADED", value: (r) => `${r.counts.upgraded}/${r.tenantCount}` },
            { header: "FAILED", value: (r) => String(r.counts.failed) },
          ],
          ctx.style,
        ),
      );
      return 0;
    },
  }),
  defineCommand({
    path: ["rollout", "show"],
    summary: "Show a rollout: every wave and each tenant's status and upgrade run",
    args: ["id"],
    options: { watch: WATCH },
    async run(ctx) {
      if (ctx.flags.watch) return watchRollout(ctx, ctx.args.id);
      const res = await ctx.api.call("getRollout", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => rolloutDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["rollout", "pause"],
    summary: "Pause a running rollout: no new upgrade starts, the ones in flight finish",
    args: ["id"],
    options: { watch: WATCH },
    async run(ctx) {
      const res = await ctx.api.call("pauseRollout", { params: { id: ctx.args.id } });
      if (ctx.flags.watch) return watchRollout(ctx, ctx.args.id);
      ctx.emit(res.raw, () => rolloutLine(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["rollout", "resume"],
    summary: "Resume a paused rollout, or one halted by its failure budget (checked again)",
    args: ["id"],
    options: { watch: WATCH },
    async run(ctx) {
      const res = await ctx.api.call("resumeRollout", { params: { id: ctx.args.id } });
      if (ctx.flags.watch) return watchRollout(ctx, ctx.args.id);
      ctx.emit(res.raw, () => rolloutLine(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["rollout", "abort"],
    summary: "Abort a rollout: upgraded tenants stay upgraded, the rest stay on their version",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("abortRollout", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => rolloutLine(res.data, ctx.style));
      return 0;
    },
  }),
];
