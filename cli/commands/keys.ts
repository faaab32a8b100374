/** `keys create | list | revoke`: API keys (the secret is shown once, at creation). */
import { API_KEY_ROLES, createApiKeySchema } from "../../functions/schemas/keys.ts";
import { type Command, defineCommand, definedOnly, parseFlags } from "../command.ts";
import { createdKey, keyDetails, keyList } from "../views.ts";

export const keyCommands: readonly Command[] = [
  defineCommand({
    path: ["keys", "create"],
    summary: "Create an API key; the key itself is shown in this answer only",
    args: [],
    options: {
      name: { type: "string", value: "NAME", required: true, description: "what the key is for" },
      role: {
        type: "string",
        value: "ROLE",
        required: true,
        description: `one of ${API_KEY_ROLES.join(", ")}`,
      },
      tenant: {
        type: "string",
        value: "TENANT_ID",
        description: "the tenant a tenant_admin key is limited to (required for tenant_admin)",
      },
    },
    examples: [
      'tenant-provisioning keys create --name "CI pipeline" --role admin',
      'tenant-provisioning keys create --name "Acme admin" --role tenant_admin --tenant <tenantId>',
    ],
    async run(ctx) {
      const body = parseFlags(
        createApiKeySchema,
        definedOnly({ name: ctx.flags.name, role: ctx.flags.role, tenantId: ctx.flags.tenant }),
        { name: "--name", role: "--role", tenantId: "--tenant" },
        "options",
        ["keys", "create"],
      );
      const res = await ctx.api.call("createApiKey", { body });
      ctx.emit(res.raw, () => createdKey(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["keys", "list"],
    summary: "List API keys (without their secrets)",
    args: [],
    options: { "include-revoked": { type: "boolean", description: "also list revoked keys" } },
    async run(ctx) {
      const res = await ctx.api.call("listApiKeys", {
        query: { includeRevoked: ctx.flags["include-revoked"] ? "true" : undefined },
      });
      ctx.emit(res.raw, () => keyList(res.data.items, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["keys", "revoke"],
    summary: "Revoke an API key: it stops working at once",
    args: ["id"],
    options: {},
    async run(ctx) {
      const res = await ctx.api.call("revokeApiKey", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => keyDetails(res.data, ctx.style));
      return 0;
    },
  }),
];
