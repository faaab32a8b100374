/** `progress list | show | cancel | retry | recover | cleanup`: runs and what to do about them. */
import { listProgressQuerySchema, RUN_KINDS, RUN_STATUSES } from "../../functions/schemas/progress.ts";
import { type Command, defineCommand, definedOnly, parseFlags } from "../command.ts";
import { runDetails, runList } from "../views.ts";
import { followRun, WATCH_OPTION, watchToEnd } from "./follow-run.ts";

export const progressCommands: readonly Command[] = [
  defineCommand({
    path: ["progress", "list"],
    summary: "List runs, newest first",
    args: [],
    options: {
      status: { type: "string", value: "STATUS", description: `one of ${RUN_STATUSES.join(", ")}` },
      tenant: { type: "string", value: "TENANT_ID", description: "runs of this tenant" },
      template: { type: "string", value: "TEMPLATE_ID", description: "runs from this template" },
      kind: { type: "string", value: "KIND", description: `one of ${RUN_KINDS.join(", ")}` },
      limit: { type: "string", value: "N", description: "at most N runs (1-200; default 50)" },
      offset: { type: "string", value: "N", description: "skip the first N runs" },
    },
    examples: ["tenant-provisioning progress list --status failed"],
    async run(ctx) {
      const query = {
        status: ctx.flags.status,
        tenantId: ctx.flags.tenant,
        templateId: ctx.flags.template,
        kind: ctx.flags.kind,
        limit: ctx.flags.limit,
        offset: ctx.flags.offset,
      };
      parseFlags(
        listProgressQuerySchema,
        definedOnly(query),
        {
          status: "--status",
          tenantId: "--tenant",
          templateId: "--template",
          kind: "--kind",
          limit: "--limit",
          offset: "--offset",
        },
        "options",
        ["progress", "list"],
      );
      const res = await ctx.api.call("listProgress", { query });
      ctx.emit(res.raw, () => runList(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["progress", "show"],
    summary: "Show a run: every step's status, attempts, timing and error",
    description: "With --watch, follows the run until it ends (exit 0 completed, 4 failed or cancelled).",
    args: ["id"],
    options: { watch: WATCH_OPTION },
    examples: ["tenant-provisioning progress show <progressId> --watch"],
    async run(ctx) {
      const res = await ctx.api.call("getProgress", { params: { id: ctx.args.id } });
      if (!ctx.flags.watch) {
        ctx.emit(res.raw, () => runDetails(res.data, ctx.style));
        return 0;
      }
      return watchToEnd(ctx, res.data);
    },
  }),
  defineCommand({
    path: ["progress", "cancel"],
    summary: "Cancel a pending or running run; no later step runs",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("cancelRun", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => runDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["progress", "retry"],
    summary: "Resume a failed or cancelled run from a step (its id or name); earlier steps are not redone",
    args: ["id", "stepId"],
    options: { watch: WATCH_OPTION },
    examples: ["tenant-provisioning progress retry <progressId> create-admin-user --watch"],
    async run(ctx) {
      const res = await ctx.api.call("retryStep", { params: { id: ctx.args.id, stepId: ctx.args.stepId } });
      return followRun(ctx, res, { watch: ctx.flags.watch, verb: `Retrying from ${ctx.args.stepId}` });
    },
  }),
  defineCommand({
    path: ["progress", "recover"],
    summary: "Resume a failed run from its first unfinished step",
    args: ["id"],
    options: { watch: WATCH_OPTION },
    async run(ctx) {
      const res = await ctx.api.call("recoverRun", { params: { id: ctx.args.id } });
      return followRun(ctx, res, { watch: ctx.flags.watch, verb: "Recovering" });
    },
  }),
  defineCommand({
    path: ["progress", "cleanup"],
    summary: "Remove everything a failed or cancelled provisioning created (schema, users, tenant data)",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("cleanupRun", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => runDetails(res.data, ctx.style));
      return 0;
    },
  }),
];
