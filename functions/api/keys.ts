/** API key management endpoints (admin only). */
import { eq } from "drizzle-orm";
import { tenants } from "../db/schema.ts";
import { recordAudit } from "../domain/audit.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../domain/auth/api-keys.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import { NotFoundError, RequestValidationError } from "../shared/errors.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function keyOperations({ db, clock }: ApiDeps): GroupOperations<"keys"> {
  return {
    listApiKeys: async (req) => ok({ items: await listApiKeys(db, req.query.includeRevoked ?? false) }),
    createApiKey: async (req) =>
      db.transaction(async (tx) => {
        if (req.body.tenantId) {
          const [tenant] = await tx
            .select({ id: tenants.id })
            .from(tenants)
            .where(eq(tenants.id, req.body.tenantId));
          if (!tenant)
            throw RequestValidationError.field("tenantId", `tenant ${req.body.tenantId} does not exist`);
        }
        const created = await createApiKey(tx, { ...req.body, createdBy: req.principal.keyId });
        await recordAudit(tx, {
          actorKeyId: req.principal.keyId,
          action: "api_key.create",
          targetType: "api_key",
          targetId: created.id,
          tenantId: created.tenantId,
          details: { name: created.name, role: created.role },
          requestId: req.requestId,
        });
        return ok(created, 201);
      }),
    revokeApiKey: async (req) =>
      db.transaction(async (tx) => {
        const id = idParam(req, "id", "API key");
        const revoked = await revokeApiKey(tx, id, clock());
        if (!revoked) throw new NotFoundError("API key", id);
        await recordAudit(tx, {
          actorKeyId: req.principal.keyId,
          action: "api_key.revoke",
          targetType: "api_key",
          targetId: id,
          tenantId: revoked.tenantId,
          requestId: req.requestId,
        });
        return ok(revoked);
      }),
  };
}

export const handler = lambdaEntry("keys", keyOperations);
