/** `cells list | close | open`: the tenant databases, and which of them take new tenants. */
import { type Command, defineCommand } from "../command.ts";
import { cellDetails, cellList } from "../views.ts";

export const cellCommands: readonly Command[] = [
  defineCommand({
    path: ["cells", "list"],
    summary: "List the cells: open or closed, configured here, and how many tenants each holds",
    args: [],
    options: {},
    examples: ["tenant-provisioning cells list", "tenant-provisioning --json cells list"],
    async run(ctx) {
      const res = await ctx.api.call("listCells", {});
      ctx.emit(res.raw, () => cellList(res.data.items, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["cells", "close"],
    summary: "Close a cell to new tenants (its tenants stay and keep working)",
    description:
      "Placement passes a closed cell by; a template pinned to it is refused (409) until it opens.",
    args: ["name"],
    options: {},
    examples: ["tenant-provisioning cells close east"],
    async run(ctx) {
      const res = await ctx.api.call("closeCell", { params: { name: ctx.args.name } });
      ctx.emit(res.raw, () => cellDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["cells", "open"],
    summary: "Open a closed cell: placement may put new tenants on it again",
    args: ["name"],
    options: {},
    examples: ["tenant-provisioning cells open east"],
    async run(ctx) {
      const res = await ctx.api.call("openCell", { params: { name: ctx.args.name } });
      ctx.emit(res.raw, () => cellDetails(res.data, ctx.style));
      return 0;
    },
  }),
];
