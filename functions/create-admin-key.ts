/**
 * One-off Lambda that creates an admin API key and returns it — how an operator gets the first
 * key of a new deployment (`aws lambda invoke`, see docs/aws-deployment.md), or a new one after
 * losing them all. Only IAM principals allowed to invoke this function can; the key is in the
 * invocation's answer only (stored hashed) and the creation is audited.
 */
import { z } from "zod";
import { openDatabase } from "./db/client.ts";
import { recordAudit } from "./domain/audit.ts";
import { createApiKey } from "./domain/auth/api-keys.ts";
import { loadConfig } from "./shared/config.ts";

const eventSchema = z.strictObject({ name: z.string().trim().min(1).max(255).optional() }).default({});

export interface CreatedAdminKey {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  /** The secret: shown here once, never stored in clear. */
  readonly key: string;
}

export const handler = async (event: unknown): Promise<CreatedAdminKey> => {
  const input = eventSchema.parse(event ?? {});
  const config = loadConfig();
  const { db, close } = await openDatabase(config.database);
  try {
    return await db.transaction(async (tx) => {
      const created = await createApiKey(tx, {
        name: input.name ?? "admin (created by the create-admin-key Lambda)",
        role: "admin",
      });
      await recordAudit(tx, {
        actorKeyId: null,
        action: "api_key.create",
        targetType: "api_key",
        targetId: created.id,
        details: { name: created.name, role: created.role, via: "create-admin-key" },
        requestId: null,
      });
      return { id: created.id, name: created.name, prefix: created.prefix, key: created.key };
    });
  } finally {
    await close();
  }
};
