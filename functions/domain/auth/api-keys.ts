/**
 * API keys: generated here, stored only as SHA-256 hashes, checked by the one authorizer.
 */
import { createHash, randomBytes } from "node:crypto";
import { and, asc, desc, eq, isNull, lte, or } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { apiKeys } from "../../db/schema.ts";
import type { ApiKey, ApiKeyRole } from "../../schemas/keys.ts";
import { ConflictError } from "../../shared/errors.ts";

/** Who is calling, as the authorizer hands it to every handler. */
export interface Principal {
  readonly keyId: string;
  readonly role: ApiKeyRole;
  /** Set for `tenant_admin` keys: the one tenant they may see. */
  readonly tenantId: string | null;
}

const KEY_PREFIX = "tpk_";

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** A fresh key: `tpk_` + 43 characters of base64url (256 random bits). */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** Extracts the key from `Authorization: Bearer <key>`; undefined when absent or malformed. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * How stale `last_used_at` may get: it is written at most once per key in this time, so reading
 * it stays cheap (no write per request). In AWS the authorizer's decision is also cached per key
 * for a minute (lib/constructs/api.ts), so there it is accurate to about two minutes.
 */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * The authorizer: resolves an Authorization header to a principal, or null when the key is
 * missing, unknown or revoked, and records the key's use (at most once a minute). API Gateway's
 * Lambda authorizer and the local server both call this.
 */
export async function authenticate(
  db: Database,
  authorization: string | undefined | null,
  now: Date = new Date(),
): Promise<Principal | null> {
  const key = bearerToken(authorization);
  if (!key?.startsWith(KEY_PREFIX) || key.length > 200) return null;
  const [row] = await db
    .select({
      id: apiKeys.id,
      role: apiKeys.role,
      tenantId: apiKeys.tenantId,
      lastUsedAt: apiKeys.lastUsedAt,
    })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashApiKey(key)), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!row) return null;
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    await recordKeyUse(db, row.id, now);
  }
  return { keyId: row.id, role: row.role, tenantId: row.tenantId };
}

/**
 * Sets `last_used_at` unless another request (another Lambda instance) did within the minute:
 * the condition is in the UPDATE, so concurrent first uses still write once.
 */
async function recordKeyUse(db: Database, keyId: string, now: Date): Promise<void> {
  const threshold = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
  await db
    .update(apiKeys)
    .set({ lastUsedAt: now })
    .where(and(eq(apiKeys.id, keyId), or(isNull(apiKeys.lastUsedAt), lte(apiKeys.lastUsedAt, threshold))));
}

function toApiKey(row: typeof apiKeys.$inferSelect): ApiKey {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    tenantId: row.tenantId,
    prefix: row.keyPrefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

/** Creates a key and returns it with its secret (shown once). */
export async function createApiKey(
  db: Database,
  input: { name: string; role: ApiKeyRole; tenantId?: string | null | undefined; createdBy?: string | null },
): Promise<ApiKey & { key: string }> {
  const key = generateApiKey();
  const [row] = await db
    .insert(apiKeys)
    .values({
      name: input.name,
      role: input.role,
      tenantId: input.tenantId ?? null,
      keyHash: hashApiKey(key),
      keyPrefix: key.slice(0, 12),
      createdBy: input.createdBy ?? null,
    })
    .returning();
  return { ...toApiKey(row!), key };
}

export async function listApiKeys(db: Database, includeRevoked: boolean): Promise<ApiKey[]> {
  const rows = await db
    .select()
    .from(apiKeys)
    .where(includeRevoked ? undefined : isNull(apiKeys.revokedAt))
    .orderBy(desc(apiKeys.createdAt));
  return rows.map(toApiKey);
}

/**
 * Revokes a key; returns it, or null when it does not exist. Revoking twice is harmless. The last
 * active admin key cannot be revoked (409): nobody could manage keys any more. The active admin
 * keys are locked first, in id order, so two admins revoking each other's keys at once cannot
 * both succeed (nor deadlock). Call inside a transaction.
 */
export async function revokeApiKey(db: Database, id: string, now: Date): Promise<ApiKey | null> {
  const admins = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.role, "admin"), isNull(apiKeys.revokedAt)))
    .orderBy(asc(apiKeys.id))
    .for("update");
  if (admins.length === 1 && admins[0]!.id === id) {
    throw new ConflictError(
      "this is the last active admin key: revoking it would leave nobody able to manage the service; create another admin key first",
      { fields: [{ field: "id", message: "is the last active admin key" }] },
    );
  }
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning();
  if (row) return toApiKey(row);
  const [existing] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
  return existing ? toApiKey(existing) : null;
}

/** True when the key is known and not revoked (used to decide whether a stored admin key still works). */
export async function isActiveKey(db: Database, key: string): Promise<boolean> {
  const [row] = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashApiKey(key)), isNull(apiKeys.revokedAt), eq(apiKeys.role, "admin")));
  return row !== undefined;
}
