/** `stats`: how provisioning is going — totals, rates, completion times, templates, steps. */
import { statsQuerySchema } from "../../functions/schemas/operations.ts";
import { type Command, defineCommand, definedOnly, parseFlags } from "../command.ts";
import { statsView } from "../views.ts";

export const statsCommands: readonly Command[] = [
  defineCommand({
    path: ["stats"],
    summary: "Run statistics: totals, success and failure rates, completion times, templates, steps",
    args: [],
    options: {
      from: {
        type: "string",
        value: "ISO",
        description: "only runs created at or after this time (with a zone)",
      },
      to: { type: "string", value: "ISO", description: "only runs created before this time (with a zone)" },
    },
    examples: ["tenant-provisioning stats --from 2026-03-01T00:00:00Z"],
    async run(ctx) {
      const query = { from: ctx.flags.from, to: ctx.flags.to };
      parseFlags(statsQuerySchema, definedOnly(query), { from: "--from", to: "--to" }, "options", ["stats"]);
      const res = await ctx.api.call("getProvisioningStats", { query });
      ctx.emit(res.raw, () => statsView(res.data, ctx.style));
      return 0;
    },
  }),
];
