/**
 * The sweep's safety net for scheduled deprovisionings, provisionings and batches. A schedule's scheduler (EventBridge
 * Scheduler in AWS, the poller locally) may fail to start it — a role it cannot assume, a target
 * error past its retries — and the `scheduled_operations` row then stays `scheduled` for ever,
 * which also blocks scheduling that tenant again. A row still `scheduled` `overdueMinutes` after
 * it fell due is started here, through the claim every start goes through
 * (`claimScheduledOperation`), so it starts one run even if its schedule fires late after all,
 * and a `schedule_overdue` alert says so.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { dateValue, queryRows } from "../../db/sql.ts";
import type { Alert } from "../../schemas/operations.ts";
import { rootMessage } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import type { WorkflowRunner } from "../../workflows/workflow-runner.ts";
import { claimScheduledOperation } from "../deprovisioning/schedule-service.ts";
import { startRun } from "../runs/start-run.ts";
import { type AlertCandidate, emitAlertsRaised, raiseAlerts } from "./alerts.ts";

export interface OverdueScheduleOptions {
  readonly now: Date;
  /** How long after `run_at` a row still `scheduled` counts as missed by its scheduler. */
  readonly overdueMinutes: number;
  readonly workflows: WorkflowRunner;
  readonly logger?: Logger;
  /** Rows started per sweep at most; the rest wait for the next sweep. */
  readonly limit?: number;
}

/** What became of one overdue schedule. */
export interface OverdueSchedule {
  readonly scheduleId: string;
  /** Null for a batch. */
  readonly tenantId: string | null;
  readonly runAt: string;
  /** `started`: claimed and its execution started; otherwise why not. */
  readonly outcome: "started" | "already_claimed" | "not_started";
  readonly progressId: string | null;
  readonly reason: string | null;
}

export interface OverdueSchedulesResult {
  readonly schedules: OverdueSchedule[];
  readonly raised: Alert[];
}

interface OverdueRow extends Record<string, unknown> {
  id: string;
  tenant_id: string | null;
  kind: string;
  run_at: unknown;
  slug: string | null;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Starts the overdue schedules (see the module comment) and raises one alert per schedule. */
export async function startOverdueSchedules(
  db: Database,
  options: OverdueScheduleOptions,
): Promise<OverdueSchedulesResult> {
  const { now, workflows } = options;
  const logger = options.logger ?? silent;
  const cutoff = new Date(now.getTime() - options.overdueMinutes * 60_000);
  const rows = await queryRows<OverdueRow>(
    db,
    sql`SELECT s.id::text AS id, s.tenant_id::text AS tenant_id, s.kind, s.run_at, t.slug
        FROM scheduled_operations s LEFT JOIN tenants t ON t.id = s.tenant_id
        WHERE s.status = 'scheduled' AND s.run_at < ${cutoff.toISOString()}::timestamptz
        ORDER BY s.run_at, s.id LIMIT ${options.limit ?? 20}::integer`,
  );
  const deps = { db, clock: () => now, logger, workflows };
  const schedules: OverdueSchedule[] = [];
  for (const row of rows) {
    const runAt = (dateValue(row.run_at) ?? now).toISOString();
    const base = { scheduleId: row.id, tenantId: row.tenant_id, runAt };
    let outcome: OverdueSchedule;
    try {
      const run = await claimScheduledOperation(deps, row.id, null);
      if (!run) {
        // Its schedule (or another sweep) claimed it since the query: it is not overdue any more.
        outcome = { ...base, outcome: "already_claimed", progressId: null, reason: null };
      } else {
        // startRun names the execution after the run and stores its ref; if it cannot start one
        // it marks the run failed (which the failed-run check reports) and throws.
        await startRun(deps, run);
        outcome = { ...base, outcome: "started", progressId: run.id, reason: null };
        logger.warn("overdue scheduled deprovisioning started by the sweep", {
          scheduleId: row.id,
          progressId: run.id,
          runAt,
        });
      }
    } catch (error) {
      outcome = { ...base, outcome: "not_started", progressId: null, reason: rootMessage(error) };
      logger.error("overdue scheduled deprovisioning could not be started", { scheduleId: row.id, error });
    }
    schedules.push(outcome);
  }
  const minutesLate = (runAt: string) => Math.floor((now.getTime() - Date.parse(runAt)) / 60_000);
  const candidates: AlertCandidate[] = schedules
    .filter((s) => s.outcome !== "already_claimed")
    .map((s) => {
      const row = rows.find((r) => r.id === s.scheduleId);
      const operation =
        row?.kind === "batch" ? "batch" : row?.kind === "provision" ? "provisioning" : "deprovisioning";
      const of = row?.kind === "batch" ? "" : ` of tenant ${row?.slug ?? s.tenantId}`;
      const what = `Scheduled ${operation} ${s.scheduleId}${of} was due at ${s.runAt} and had not started ${minutesLate(s.runAt)} minutes later`;
      return {
        kind: "schedule_overdue",
        severity: s.outcome === "started" ? "warning" : "critical",
        dedupeKey: `schedule_overdue:${s.scheduleId}`,
        subjectType: "schedule",
        subjectId: s.scheduleId,
        tenantId: s.tenantId,
        message:
          s.outcome === "started"
            ? `${what}; the sweep started it (run ${s.progressId}). Check the schedule group's target errors and dead-letter queue.`
            : `${what}; the sweep could not start it: ${s.reason}`,
        details: {
          scheduleId: s.scheduleId,
          runAt: s.runAt,
          minutesLate: minutesLate(s.runAt),
          outcome: s.outcome,
          progressId: s.progressId,
          reason: s.reason,
        },
      };
    });
  // The alerts and their events commit together.
  const raised = await db.transaction(async (tx) => {
    const alerts = await raiseAlerts(tx, candidates, now);
    await emitAlertsRaised(tx, alerts, now);
    return alerts;
  });
  return { schedules, raised };
}
