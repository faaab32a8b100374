/** `template list | show | versions | create | update | delete`. */
import {
  getTemplateQuerySchema,
  listTemplatesQuerySchema,
  TEMPLATE_CATEGORIES,
  TEMPLATE_STATES,
  templateCreateSchema,
  templateUpdateSchema,
} from "../../functions/schemas/templates.ts";
import { type Command, defineCommand, definedOnly, parseFlags, readJsonFlag } from "../command.ts";
import { confirm, requireTerminalOrYes, YES_OPTION } from "../confirm.ts";
import { UsageError } from "../errors.ts";
import { details } from "../render.ts";
import { templateDetails, templateList, templateVersions } from "../views.ts";

const CATEGORY = {
  type: "string",
  value: "CATEGORY",
  description: `one of ${TEMPLATE_CATEGORIES.join(", ")}`,
} as const;
const LIMIT = { type: "string", value: "N", description: "at most N items (1-200; default 50)" } as const;
const OFFSET = { type: "string", value: "N", description: "skip the first N items" } as const;

/** A JSON file that must hold one object (a template spec, an update). */
async function objectFile(path: string, cwd: string, command: readonly string[]) {
  const value = await readJsonFlag(path, "--file", cwd, command);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`--file: ${path} must hold a JSON object`, command);
  }
  return value as Record<string, unknown>;
}

export const templateCommands: readonly Command[] = [
  defineCommand({
    path: ["template", "list"],
    summary: "List templates",
    args: [],
    options: {
      category: CATEGORY,
      state: {
        type: "string",
        value: "STATE",
        description: `${TEMPLATE_STATES.join(", ")} (default active; deleted: the ones 'template restore' can bring back)`,
      },
      limit: LIMIT,
      offset: OFFSET,
    },
    examples: [
      "tenant-provisioning template list",
      "tenant-provisioning template list --category municipality",
      "tenant-provisioning template list --state deleted",
    ],
    async run(ctx) {
      const query = {
        category: ctx.flags.category,
        state: ctx.flags.state,
        limit: ctx.flags.limit,
        offset: ctx.flags.offset,
      };
      parseFlags(
        listTemplatesQuerySchema,
        definedOnly(query),
        { category: "--category", state: "--state", limit: "--limit", offset: "--offset" },
        "options",
        ["template", "list"],
      );
      const res = await ctx.api.call("listTemplates", { query });
      ctx.emit(res.raw, () => templateList(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["template", "show"],
    summary: "Show a template (its current version, or --version N)",
    args: ["id"],
    options: {
      version: { type: "string", value: "N", description: "show version N instead of the current one" },
    },
    async run(ctx) {
      const query = { version: ctx.flags.version };
      parseFlags(getTemplateQuerySchema, definedOnly(query), { version: "--version" }, "--version", [
        "template",
        "show",
      ]);
      const res = await ctx.api.call("getTemplate", { params: { id: ctx.args.id }, query });
      ctx.emit(res.raw, () => templateDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["template", "versions"],
    summary: "List a template's versions, newest first",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("listTemplateVersions", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => templateVersions(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["template", "create"],
    summary: "Create a template (version 1)",
    description:
      "The file holds the template as JSON (settings, limits, initialData, migrations,\n" +
      "postProvisioningSteps, ...); the name and the flags override what it says.",
    args: ["name"],
    options: {
      description: { type: "string", value: "TEXT", description: "what the template is for" },
      category: { ...CATEGORY, description: `${CATEGORY.description} (default basic)` },
      file: { type: "string", value: "template.json", description: "the template's definition" },
      cell: { type: "string", value: "CELL", description: "pin its tenants to this cell (see 'cells list')" },
    },
    examples: [
      'tenant-provisioning template create "My Template" --description "Custom template" --category custom --file template.json',
      'tenant-provisioning template create "East schools" --cell east',
    ],
    async run(ctx) {
      const command = ["template", "create"];
      const fromFile = ctx.flags.file ? await objectFile(ctx.flags.file, ctx.cwd, command) : {};
      const body = parseFlags(
        templateCreateSchema,
        definedOnly({
          ...fromFile,
          name: ctx.args.name,
          description: ctx.flags.description,
          category: ctx.flags.category,
          cell: ctx.flags.cell,
        }),
        { name: "<name>", description: "--description", category: "--category", cell: "--cell" },
        "--file",
        command,
      );
      const res = await ctx.api.call("createTemplate", { body });
      ctx.emit(res.raw, () => templateDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["template", "update"],
    summary: "Update a template: makes a new immutable version",
    description:
      "The file holds the fields to change as JSON (any subset of a template's fields);\n" +
      'settings, limits and initialData are merged key by key ({"limits":{"maxUsers":25}}\n' +
      "keeps the other limits; null removes a key). --name, --description and --category override it.\n" +
      "--cell pins its tenants to a cell and --no-cell unpins; the cell alone makes no new version.",
    args: ["id"],
    options: {
      file: { type: "string", value: "update.json", description: "the fields to change" },
      name: { type: "string", value: "NAME", description: "a new name" },
      description: { type: "string", value: "TEXT", description: "a new description" },
      category: CATEGORY,
      cell: { type: "string", value: "CELL", description: "pin its tenants to this cell" },
      "no-cell": { type: "boolean", description: "unpin: the placement policy chooses the cell" },
    },
    examples: [
      "tenant-provisioning template update 3f0c… --file limits.json",
      "tenant-provisioning template update 3f0c… --cell east",
    ],
    async run(ctx) {
      const command = ["template", "update"];
      const { file, name, description, category } = ctx.flags;
      if (ctx.flags.cell !== undefined && ctx.flags["no-cell"]) {
        throw ctx.usage("--cell and --no-cell contradict each other: give one");
      }
      const cell = ctx.flags["no-cell"] ? null : ctx.flags.cell;
      if (
        file === undefined &&
        name === undefined &&
        description === undefined &&
        category === undefined &&
        cell === undefined
      ) {
        throw ctx.usage("nothing to update: give --file and/or --name, --description, --category, --cell");
      }
      const fromFile = file ? await objectFile(file, ctx.cwd, command) : {};
      const body = parseFlags(
        templateUpdateSchema,
        definedOnly({ ...fromFile, name, description, category, cell }),
        { name: "--name", description: "--description", category: "--category", cell: "--cell" },
        "--file",
        command,
      );
      const res = await ctx.api.call("updateTemplate", { params: { id: ctx.args.id }, body });
      ctx.emit(res.raw, () => templateDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["template", "delete"],
    summary: "Delete a template: hidden from listing and new provisioning; its versions stay readable",
    description:
      "Tenants made from it keep working. 'template restore <id>' brings it back (a deleted\n" +
      "default template too: start-up does not recreate it). Asks first on a terminal; without\n" +
      "one (scripts) --yes is required.",
    args: ["id"],
    options: { yes: YES_OPTION },
    examples: ["tenant-provisioning template delete <id>", "tenant-provisioning template delete <id> --yes"],
    async run(ctx) {
      requireTerminalOrYes(ctx, ctx.flags.yes, "deleting a template");
      if (!ctx.flags.yes) {
        const current = (await ctx.api.call("getTemplate", { params: { id: ctx.args.id } })).data;
        await confirm(
          ctx,
          `Delete template ${ctx.errStyle.bold(current.name)} ${ctx.errStyle.dim(current.id)}` +
            `${current.isDefault ? " (a default template)" : ""}?\n` +
            "  - it is no longer listed or offered for provisioning; tenants made from it are not affected\n" +
            `  - its ${current.version} version(s) stay readable, and 'template restore ${current.id}' brings it back`,
        );
      }
      const res = await ctx.api.call("deleteTemplate", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () =>
        details(
          [
            ["Deleted", `${res.data.name} (${res.data.id})`],
            ["Versions", `1-${res.data.version}, still readable`],
            ["Undo", `tenant-provisioning template restore ${res.data.id}`],
          ],
          ctx.style,
        ),
      );
      return 0;
    },
  }),
  defineCommand({
    path: ["template", "restore"],
    summary: "Restore a deleted template: listed and usable for provisioning again, versions unchanged",
    args: ["id"],
    options: {},
    examples: [
      "tenant-provisioning template list --state deleted",
      "tenant-provisioning template restore <id>",
    ],
    async run(ctx) {
      const res = await ctx.api.call("restoreTemplate", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => templateDetails(res.data, ctx.style));
      return 0;
    },
  }),
];
