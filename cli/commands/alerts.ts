/** `alerts list | resolve`: what the operations sweep raised (failed and long-running runs, limits, failure rates). */
import { ALERT_KINDS, ALERT_STATES, listAlertsQuerySchema } from "../../functions/schemas/operations.ts";
import { type Command, defineCommand, definedOnly, parseFlags } from "../command.ts";
import { alertDetails, alertList } from "../views.ts";

export const alertCommands: readonly Command[] = [
  defineCommand({
    path: ["alerts", "list"],
    summary: "List alerts, newest first (unresolved ones unless --state says otherwise)",
    args: [],
    options: {
      state: {
        type: "string",
        value: "STATE",
        description: `one of ${ALERT_STATES.join(", ")} (default unresolved)`,
      },
      kind: { type: "string", value: "KIND", description: `one of ${ALERT_KINDS.join(", ")}` },
      tenant: { type: "string", value: "TENANT_ID", description: "alerts about this tenant" },
      limit: { type: "string", value: "N", description: "at most N alerts (1-200; default 50)" },
      offset: { type: "string", value: "N", description: "skip the first N alerts" },
    },
    examples: [
      "tenant-provisioning alerts list",
      "tenant-provisioning alerts list --state all --kind run_failed",
    ],
    async run(ctx) {
      const query = {
        state: ctx.flags.state,
        kind: ctx.flags.kind,
        tenantId: ctx.flags.tenant,
        limit: ctx.flags.limit,
        offset: ctx.flags.offset,
      };
      parseFlags(
        listAlertsQuerySchema,
        definedOnly(query),
        { state: "--state", kind: "--kind", tenantId: "--tenant", limit: "--limit", offset: "--offset" },
        "options",
        ["alerts", "list"],
      );
      const res = await ctx.api.call("listAlerts", { query });
      ctx.emit(res.raw, () => alertList(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["alerts", "resolve"],
    summary: "Mark an alert resolved (it leaves the default list; the same condition is not raised again)",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("resolveAlert", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => alertDetails(res.data, ctx.style));
      return 0;
    },
  }),
];
