/**
 * Alerts: conditions worth an operator's attention, raised by the sweep (sweep.ts). Each is one
 * row in `alerts` whose `dedupe_key` names the condition, so raising the same condition again is a
 * no-op (`ON CONFLICT DO NOTHING`). Newly raised alerts go to an `AlertNotifier`: the log locally,
 * SNS in AWS (sns-alert-notifier.ts).
 */
import { and, count, desc, eq, isNotNull, isNull, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { alerts } from "../../db/schema.ts";
import { dateValue, jsonValue, queryRows } from "../../db/sql.ts";
import type { Alert, AlertKind, AlertSeverity, ListAlertsQuery } from "../../schemas/operations.ts";
import { ConflictError, NotFoundError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { type AuditEntry, recordAudit } from "../audit.ts";
import { dedupeKey, emitEvent } from "../events/outbox.ts";

/** Where newly raised alerts are sent. A failed `notify` is retried by the next sweep. */
export interface AlertNotifier {
  notify(alert: Alert): Promise<void>;
}

/** The local channel: one structured log line per alert (the alert itself is in the table). */
export function logAlertNotifier(logger: Logger): AlertNotifier {
  return {
    notify: async (alert) => {
      logger.warn("alert raised", {
        alertId: alert.id,
        kind: alert.kind,
        severity: alert.severity,
        subjectType: alert.subjectType,
        subjectId: alert.subjectId,
        tenantId: alert.tenantId,
        alertMessage: alert.message,
      });
    },
  };
}

/** A condition to raise; raising one whose `dedupeKey` exists does nothing. */
export interface AlertCandidate {
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  readonly dedupeKey: string;
  readonly subjectType: Alert["subjectType"];
  readonly subjectId: string | null;
  readonly tenantId: string | null;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

/** The columns of a raw `RETURNING` / `SELECT` that `alertFromRaw` reads. */
export const ALERT_COLUMNS = sql.raw(
  "id::text AS id, kind, severity, dedupe_key, subject_type, subject_id, tenant_id::text AS tenant_id, message, details, raised_at, resolved_at, notified_at",
);

const iso = (value: unknown) => dateValue(value)?.toISOString() ?? null;

/** An alert from a raw row (see `ALERT_COLUMNS`), whatever the driver. */
export function alertFromRaw(row: Record<string, unknown>): Alert {
  return {
    id: String(row.id),
    kind: row.kind as AlertKind,
    severity: row.severity as AlertSeverity,
    dedupeKey: String(row.dedupe_key),
    subjectType: row.subject_type as Alert["subjectType"],
    subjectId: (row.subject_id as string | null) ?? null,
    tenantId: (row.tenant_id as string | null) ?? null,
    message: String(row.message),
    details: jsonValue<Record<string, unknown>>(row.details) ?? {},
    raisedAt: iso(row.raised_at) ?? new Date(0).toISOString(),
    resolvedAt: iso(row.resolved_at),
    notifiedAt: iso(row.notified_at),
  };
}

type AlertRow = typeof alerts.$inferSelect;

function alertFromRow(row: AlertRow): Alert {
  return {
    id: row.id,
    kind: row.kind as AlertKind,
    severity: row.severity as AlertSeverity,
    dedupeKey: row.dedupeKey,
    subjectType: row.subjectType as Alert["subjectType"],
    subjectId: row.subjectId,
    tenantId: row.tenantId,
    message: row.message,
    details: row.details,
    raisedAt: row.raisedAt.toISOString(),
    resolvedAt: row.resolvedAt?.toISOString() ?? null,
    notifiedAt: row.notifiedAt?.toISOString() ?? null,
  };
}

/**
 * Inserts the candidates whose condition has not been raised yet, in one statement, and returns
 * those (the others hit the unique `dedupe_key` and are skipped).
 */
export async function raiseAlerts(
  db: Database,
  candidates: readonly AlertCandidate[],
  now: Date,
): Promise<Alert[]> {
  if (candidates.length === 0) return [];
  const rows = candidates.map((c) => ({
    kind: c.kind,
    severity: c.severity,
    dedupe_key: c.dedupeKey,
    subject_type: c.subjectType,
    subject_id: c.subjectId,
    tenant_id: c.tenantId,
    message: c.message,
    details: c.details,
  }));
  const raw = await queryRows(
    db,
    sql`
    INSERT INTO alerts (kind, severity, dedupe_key, subject_type, subject_id, tenant_id, message, details, raised_at)
    SELECT c.kind, c.severity, c.dedupe_key, c.subject_type, c.subject_id, c.tenant_id::uuid, c.message,
           coalesce(c.details, '{}'::jsonb), ${now.toISOString()}::timestamptz
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS c(kind text, severity text, dedupe_key text,
         subject_type text, subject_id text, tenant_id text, message text, details jsonb)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING ${ALERT_COLUMNS}`,
  );
  return raw.map(alertFromRaw);
}

/** Alerts newest first; unresolved only unless asked otherwise. */
export async function listAlerts(
  db: Database,
  query: ListAlertsQuery,
): Promise<{ items: Alert[]; total: number; limit: number; offset: number }> {
  const conditions: (SQL | undefined)[] = [
    query.kind ? eq(alerts.kind, query.kind) : undefined,
    query.tenantId ? eq(alerts.tenantId, query.tenantId) : undefined,
    query.state === "unresolved" ? isNull(alerts.resolvedAt) : undefined,
    query.state === "resolved" ? isNotNull(alerts.resolvedAt) : undefined,
  ];
  const where = and(...conditions);
  const [rows, totals] = await Promise.all([
    db
      .select()
      .from(alerts)
      .where(where)
      .orderBy(desc(alerts.raisedAt), desc(alerts.id))
      .limit(query.limit)
      .offset(query.offset),
    db.select({ n: count() }).from(alerts).where(where),
  ]);
  return {
    items: rows.map(alertFromRow),
    total: Number(totals[0]?.n ?? 0),
    limit: query.limit,
    offset: query.offset,
  };
}

/** Marks an alert resolved (audited); resolving one twice is a conflict. */
export async function resolveAlert(
  db: Database,
  id: string,
  actor: Pick<AuditEntry, "actorKeyId" | "requestId">,
  now: Date,
): Promise<Alert> {
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(alerts).where(eq(alerts.id, id)).for("update");
    if (!current) throw new NotFoundError("alert", id);
    if (current.resolvedAt) {
      throw new ConflictError(`alert ${id} was already resolved at ${current.resolvedAt.toISOString()}`);
    }
    const [resolved] = await tx.update(alerts).set({ resolvedAt: now }).where(eq(alerts.id, id)).returning();
    await emitAlertResolved(tx, alertFromRow(resolved!), "operator", now);
    await recordAudit(tx, {
      ...actor,
      action: "alert.resolve",
      targetType: "alert",
      targetId: id,
      tenantId: current.tenantId,
      details: { kind: current.kind, dedupeKey: current.dedupeKey },
    });
    return alertFromRow(resolved!);
  });
}

/** `alert.raised` for each alert, in the transaction that raised them. */
export async function emitAlertsRaised(tx: Database, raised: readonly Alert[], now: Date): Promise<void> {
  for (const alert of raised) {
    await emitEvent(
      tx,
      {
        type: "alert.raised",
        tenantId: alert.tenantId,
        runId: alert.subjectType === "progress" ? alert.subjectId : null,
        data: {
          alertId: alert.id,
          kind: alert.kind,
          severity: alert.severity,
          subjectType: alert.subjectType,
          subjectId: alert.subjectId,
        },
        dedupeKey: dedupeKey("alert.raised", alert.id),
      },
      now,
    );
  }
}

/** `alert.resolved`, in the transaction that resolved it. */
export async function emitAlertResolved(
  tx: Database,
  alert: Alert,
  by: "operator" | "sweep",
  now: Date,
): Promise<void> {
  await emitEvent(
    tx,
    {
      type: "alert.resolved",
      tenantId: alert.tenantId,
      runId: alert.subjectType === "progress" ? alert.subjectId : null,
      data: { alertId: alert.id, kind: alert.kind, resolvedBy: by },
      dedupeKey: dedupeKey("alert.resolved", alert.id),
    },
    now,
  );
}
