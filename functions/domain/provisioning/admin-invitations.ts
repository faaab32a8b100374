/**
 * Invitations of tenant admins provisioned without a password. CreateAdminUser creates the admin
 * (no password) and the invitation row; the welcome notification issues the token — 32 random
 * bytes, of which only the sha256 is stored — and sends the set-password link; accepting the token
 * sets the password, once, before the invitation expires.
 *
 * The token is issued when the welcome notification is sent, not in CreateAdminUser, because a
 * token made earlier would have to be stored (or passed through the execution's history) until then.
 */
import { createHash, randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { queryRows } from "../../db/sql.ts";
import type { AcceptInvitation } from "../../schemas/provisioning.ts";
import { ConflictError, NotFoundError } from "../../shared/errors.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import { hashPassword } from "../auth/password.ts";

/** The stored form of a token: sha256, hex (a 256-bit random token needs no salt or slow hash). */
export function invitationTokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The set-password link: the configured page with the token as its `token` parameter. */
export function invitationLink(baseUrl: string, token: string): string {
  const url = new URL(baseUrl);
  url.searchParams.set("token", token);
  return url.toString();
}

export interface IssuedInvitation {
  readonly token: string;
  readonly expiresAt: Date;
}

/**
 * Issues a new token for the run's invitation not accepted yet (inside the sending step's
 * transaction: a rolled-back step leaves no token behind). A re-issue replaces the earlier token.
 * Undefined when the run has no open invitation.
 */
export async function issueInvitationToken(
  tx: Database,
  progressId: string,
  now: Date,
  ttlHours: number,
): Promise<IssuedInvitation | undefined> {
  const token = randomBytes(32).toString("base64url");
  const expiresAt = new Date(now.getTime() + ttlHours * 3_600_000);
  const issued = await queryRows<{ id: string }>(
    tx,
    sql`UPDATE admin_invitations
        SET token_hash = ${invitationTokenHash(token)}, issued_at = ${now.toISOString()}::timestamptz,
            expires_at = ${expiresAt.toISOString()}::timestamptz
        WHERE progress_id = ${progressId}::uuid AND accepted_at IS NULL
        RETURNING id`,
  );
  return issued.length > 0 ? { token, expiresAt } : undefined;
}

interface InvitationRow extends Record<string, unknown> {
  id: string;
  tenant_id: string;
  user_id: string;
  email: string | null;
  accepted_at: unknown;
  expires: boolean;
}

function refuse(row: InvitationRow | undefined): never {
  if (!row || row.email === null) throw new NotFoundError("invitation");
  const message =
    row.accepted_at !== null ? "this invitation was already used" : "this invitation has expired";
  throw new ConflictError(message, { fields: [{ field: "token", message }] });
}

export interface AcceptInvitationDeps {
  readonly db: Database;
  readonly clock: () => Date;
}

/**
 * Sets the invited admin's password. Works once: the claim (`accepted_at`) and the password are
 * written in one transaction, and only while the invitation is open and unexpired. An unknown
 * token is a 404; a used or expired one a 409 naming `token`.
 */
export async function acceptInvitation(
  deps: AcceptInvitationDeps,
  request: AcceptInvitation,
  actor: Actor,
): Promise<{ tenantId: string; email: string; acceptedAt: string }> {
  const hash = invitationTokenHash(request.token);
  const lookup = (db: Database, at: Date) =>
    queryRows<InvitationRow>(
      db,
      sql`SELECT i.id, i.tenant_id, i.user_id, u.email, i.accepted_at,
                 (i.expires_at <= ${at.toISOString()}::timestamptz) AS expires
          FROM admin_invitations i LEFT JOIN users u ON u.id = i.user_id
          WHERE i.token_hash = ${hash}`,
    );
  // Checked before the (slow, memory-hard) password hash, so a bad token costs no hashing.
  const [before] = await lookup(deps.db, deps.clock());
  if (!before || before.email === null || before.accepted_at !== null || before.expires) refuse(before);
  const email = before.email;
  const passwordHash = await hashPassword(request.password);
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const claimed = await queryRows<{ user_id: string; tenant_id: string }>(
      tx,
      sql`UPDATE admin_invitations SET accepted_at = ${now.toISOString()}::timestamptz
          WHERE token_hash = ${hash} AND accepted_at IS NULL AND expires_at > ${now.toISOString()}::timestamptz
          RETURNING user_id, tenant_id`,
    );
    const invitation = claimed[0];
    if (!invitation) refuse((await lookup(tx, now))[0]);
    await tx.execute(
      sql`UPDATE users SET password_hash = ${passwordHash}, updated_at = ${now.toISOString()}::timestamptz
          WHERE id = ${invitation.user_id}::uuid`,
    );
    await recordAudit(tx, {
      actorKeyId: actor.keyId,
      action: "invitation.accept",
      targetType: "user",
      targetId: invitation.user_id,
      tenantId: invitation.tenant_id,
      requestId: actor.requestId,
    });
    return { tenantId: invitation.tenant_id, email, acceptedAt: now.toISOString() };
  });
}
