/**
 * Disabling a tenant's access (DisableAccess) and giving it back (cancelling during the grace
 * period). Disabling remembers exactly what it changed — the tenant's status, the API keys it
 * revoked, each user's previous status — and re-enabling puts back only that, so keys revoked or
 * users disabled for other reasons stay as they were.
 */
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { apiKeys, tenants } from "../../db/schema.ts";
import { numberValue, queryRows } from "../../db/sql.ts";
import type { DisabledAccess } from "./deprovision-run.ts";

/**
 * Suspends the tenant, revokes its API keys, disables its users; effective for the next request.
 * Each disabled user's previous status goes to `deprovision_disabled_users` in the same statement
 * (set-based: a tenant's thousands of users never pass through the progress row or one response).
 */
export async function disableAccess(
  tx: Database,
  tenantId: string,
  progressId: string,
  now: Date,
): Promise<Omit<DisabledAccess, "deleteAfter">> {
  const [before] = await tx
    .select({ status: tenants.status })
    .from(tenants)
    .where(eq(tenants.id, tenantId))
    .for("update");
  await tx.update(tenants).set({ status: "suspended", updatedAt: now }).where(eq(tenants.id, tenantId));
  const revoked = await tx
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  const [disabled] = await queryRows<{ n: unknown }>(
    tx,
    sql`WITH changed AS (
          UPDATE users u SET status = 'disabled', updated_at = ${now.toISOString()}::timestamptz
          FROM (SELECT id, status FROM users
                WHERE tenant_id = ${tenantId}::uuid AND status <> 'disabled' FOR UPDATE) old
          WHERE u.id = old.id
          RETURNING u.id AS id, old.status AS previous),
        saved AS (
          INSERT INTO deprovision_disabled_users (progress_id, user_id, previous_status)
          SELECT ${progressId}::uuid, id, previous FROM changed
          ON CONFLICT (progress_id, user_id) DO NOTHING
          RETURNING 1)
        SELECT count(*) AS n FROM changed`,
  );
  return {
    disabledAt: now.toISOString(),
    tenantStatus: before?.status ?? "active",
    apiKeyIds: revoked.map((k) => k.id),
    usersDisabled: numberValue(disabled?.n),
  };
}

/** Undoes `disableAccess`; returns how many keys and users got their access back. */
export async function reenableAccess(
  tx: Database,
  tenantId: string,
  progressId: string,
  access: DisabledAccess,
  now: Date,
): Promise<{ apiKeys: number; users: number }> {
  await tx
    .update(tenants)
    .set({ status: access.tenantStatus, updatedAt: now })
    .where(and(eq(tenants.id, tenantId), eq(tenants.status, "suspended")));
  const keys =
    access.apiKeyIds.length === 0
      ? []
      : await tx
          .update(apiKeys)
          .set({ revokedAt: null })
          .where(and(eq(apiKeys.tenantId, tenantId), inArray(apiKeys.id, [...access.apiKeyIds])))
          .returning({ id: apiKeys.id });
  // Runs from before `deprovision_disabled_users` kept the statuses in their metadata.
  const previous = access.users
    ? sql`SELECT * FROM jsonb_to_recordset(${JSON.stringify(access.users)}::jsonb) AS p(id uuid, status text)`
    : sql`SELECT user_id AS id, previous_status AS status FROM deprovision_disabled_users
          WHERE progress_id = ${progressId}::uuid`;
  const [restored] = await queryRows<{ n: unknown }>(
    tx,
    sql`WITH restored AS (
          UPDATE users u SET status = prev.status, updated_at = ${now.toISOString()}::timestamptz
          FROM (${previous}) AS prev
          WHERE u.id = prev.id AND u.tenant_id = ${tenantId}::uuid AND u.status = 'disabled'
          RETURNING u.id)
        SELECT count(*) AS n FROM restored`,
  );
  return { apiKeys: keys.length, users: numberValue(restored?.n) };
}
