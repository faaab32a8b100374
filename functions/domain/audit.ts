/**
 * The audit log: every mutating call writes one row (actor, action, target, details without
 * secrets, request id). Write it inside the mutation's transaction where there is one.
 */
import type { SQL } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { auditLogs } from "../db/schema.ts";

/** Audit actions, named `<noun>.<verb>`; a typed union so a typo fails to compile. */
export type AuditAction =
  | "template.create"
  | "template.update"
  | "template.delete"
  | "template.restore"
  | "api_key.create"
  | "api_key.revoke"
  | "provision.start"
  | "provision.schedule"
  | "batch.start"
  | "batch.schedule"
  | "batch.cancel"
  | "batch.retry"
  | "invitation.accept"
  | "progress.cancel"
  | "progress.retry_step"
  | "progress.recover"
  | "progress.cleanup"
  | "deprovision.start"
  | "deprovision.schedule"
  | "schedule.cancel"
  | "tenant.restore"
  | "alert.resolve"
  | "webhook.create"
  | "webhook.delete"
  | "webhook.rotate_secret"
  | "webhook.enable"
  | "webhook.test"
  | "webhook.redeliver"
  | "rollout.start"
  | "rollout.pause"
  | "rollout.resume"
  | "rollout.abort"
  | "cell.close"
  | "cell.open";

export interface AuditEntry {
  readonly actorKeyId: string | null;
  readonly action: AuditAction;
  readonly targetType: string;
  readonly targetId: string | null;
  readonly tenantId?: string | null;
  readonly details?: Record<string, unknown>;
  readonly requestId: string | null;
}

const SECRET_KEYS = /password|secret|token|key$/i;

/** Removes anything that looks like a secret from audit details (defence in depth). */
export function redact(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (SECRET_KEYS.test(k) && k !== "idempotencyKey") out[k] = "[redacted]";
    else if (v && typeof v === "object" && !Array.isArray(v)) out[k] = redact(v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

/** The statement `recordAudit` runs, to run with others as one (`writesAsOne`). */
export function auditStatement(db: Database, entry: AuditEntry): SQL {
  return db
    .insert(auditLogs)
    .values({
      actorKeyId: entry.actorKeyId,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId,
      tenantId: entry.tenantId ?? null,
      details: redact(entry.details ?? {}),
      requestId: entry.requestId,
    })
    .getSQL();
}

export async function recordAudit(db: Database, entry: AuditEntry): Promise<void> {
  await db.execute(auditStatement(db, entry));
}
