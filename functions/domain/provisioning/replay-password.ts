/**
 * Whether a repeated provisioning request (same Idempotency-Key, same body apart from the
 * password) carries the password of the first one. The password is not part of the request hash
 * — a fast hash of it would be a fast, unsalted password hash in the database — so it is compared
 * with the salted password hash the run already keeps: in `provisioning_secrets` until
 * CreateAdminUser, then on the tenant's admin user.
 */
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningSecrets, users } from "../../db/schema.ts";
import { verifyPassword } from "../auth/password.ts";
import type { ProgressRow } from "../runs/progress-store.ts";
import type { ProvisioningMetadata } from "./run-spec.ts";

/**
 * True when `password` is the run's admin password. False when it differs, and also when the run
 * no longer holds a hash to compare with (cleaned up, deprovisioned): a replay that cannot be
 * shown to be the same request is not treated as one.
 */
export async function isReplayedPassword(db: Database, run: ProgressRow, password: string): Promise<boolean> {
  // The secret first: CreateAdminUser moves the hash to the user and then deletes the secret, so
  // reading in this order cannot miss both.
  const [secret] = await db
    .select({ hash: provisioningSecrets.adminPasswordHash })
    .from(provisioningSecrets)
    .where(eq(provisioningSecrets.progressId, run.id));
  let stored = secret?.hash ?? null;
  const email = (run.metadata as Partial<ProvisioningMetadata>).admin?.email;
  if (stored === null && run.tenantId && email) {
    const [admin] = await db
      .select({ hash: users.passwordHash })
      .from(users)
      .where(and(eq(users.tenantId, run.tenantId), eq(users.email, email)));
    stored = admin?.hash ?? null;
  }
  return stored !== null && (await verifyPassword(password, stored));
}
