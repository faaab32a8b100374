import { z } from "zod";
import { isoDateTime, uuidSchema } from "./common.ts";

export const API_KEY_ROLES = ["admin", "tenant_admin"] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

export const createApiKeySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(255),
    role: z.enum(API_KEY_ROLES),
    tenantId: uuidSchema.optional(),
  })
  .superRefine((k, ctx) => {
    if (k.role === "tenant_admin" && !k.tenantId) {
      ctx.addIssue({ code: "custom", path: ["tenantId"], message: "is required for role tenant_admin" });
    }
    if (k.role === "admin" && k.tenantId) {
      ctx.addIssue({ code: "custom", path: ["tenantId"], message: "must not be set for role admin" });
    }
  });
export type CreateApiKey = z.infer<typeof createApiKeySchema>;

export const apiKeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  role: z.enum(API_KEY_ROLES),
  tenantId: z.string().nullable(),
  prefix: z.string(),
  createdAt: isoDateTime,
  lastUsedAt: isoDateTime.nullable(),
  revokedAt: isoDateTime.nullable(),
});
export type ApiKey = z.infer<typeof apiKeySchema>;

/** The one answer that contains the key itself; it is never shown again. */
export const createdApiKeySchema = apiKeySchema.extend({ key: z.string() });

export const listApiKeysQuerySchema = z.strictObject({
  includeRevoked: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional(),
});
export const apiKeyListSchema = z.object({ items: z.array(apiKeySchema) });

/** `GET /whoami`: the key that is calling (never its secret), so a client can offer what its role allows. */
export const whoamiSchema = z.object({
  keyId: z.string(),
  name: z.string().nullable(),
  role: z.enum(API_KEY_ROLES),
  /** The one tenant a tenant_admin key is limited to; null for admin keys. */
  tenantId: z.string().nullable(),
});
export type Whoami = z.infer<typeof whoamiSchema>;
