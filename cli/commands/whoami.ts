/** `whoami`: which key the CLI is using — its name, role and (tenant_admin) tenant. */
import { type Command, defineCommand } from "../command.ts";
import { whoamiView } from "../views.ts";

export const whoamiCommands: readonly Command[] = [
  defineCommand({
    path: ["whoami"],
    summary: "Show the API key in use: its id, name, role and tenant (never the key itself)",
    args: [],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("whoami", {});
      ctx.emit(res.raw, () => whoamiView(res.data, ctx.style));
      return 0;
    },
  }),
];
