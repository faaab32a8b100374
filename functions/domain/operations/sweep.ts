/**
 * The periodic operations sweep (an EventBridge rule in AWS, a timer in the local server): starts
 * scheduled deprovisionings their scheduler missed, raises alerts, resolves long-running alerts
 * whose run has moved on, applies retention, and hands every alert not yet notified to the
 * channel. A check that fails is logged and reported; the others still run.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { queryRows } from "../../db/sql.ts";
import type { Alert } from "../../schemas/operations.ts";
import { rootMessage } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import type { WorkflowRunner } from "../../workflows/workflow-runner.ts";
import { deleteExpiredEvents } from "../events/event-retention.ts";
import {
  type LimitCheckOptions,
  raiseFailedRunAlerts,
  raiseLongRunningAlerts,
  raiseTemplatePatternAlerts,
  raiseTenantLimitAlerts,
  resolveFinishedLongRunningAlerts,
} from "./alert-checks.ts";
import {
  ALERT_COLUMNS,
  type AlertNotifier,
  alertFromRaw,
  emitAlertResolved,
  emitAlertsRaised,
} from "./alerts.ts";
import { startOverdueSchedules } from "./overdue-schedules.ts";
import { deleteExpiredProgress } from "./retention.ts";

export interface SweepOptions {
  readonly now: Date;
  readonly longRunningMinutes: number;
  readonly retentionDays: number;
  readonly notifier: AlertNotifier;
  readonly logger?: Logger;
  /** Start schedules still waiting `overdueMinutes` after they fell due (overdue-schedules.ts). */
  readonly overdueSchedules?: { readonly overdueMinutes: number; readonly workflows: WorkflowRunner };
  /**
   * Pacing of the tenant limit checks (a batch of tenants per sweep, every tenant within
   * `periodSeconds`; alert-checks.ts `checkTenantLimits`). Unset: a period of one hour, sweeps a
   * minute apart.
   */
  readonly limitChecks?: Omit<LimitCheckOptions, "now" | "logger">;
}

export type SweepCheck =
  | "overdue_schedules"
  | "failed_runs"
  | "long_running"
  | "resolve_long_running"
  | "tenant_limits"
  | "template_patterns"
  | "retention"
  | "event_retention"
  | "notify";

export interface SweepResult {
  /** Alerts raised by this sweep (conditions seen before are not raised again). */
  readonly raised: Alert[];
  /** Overdue schedules this sweep started. */
  readonly overdueStarted: number;
  /** `long_running` warnings appended to runs (one per newly raised long-running alert). */
  readonly warningsAdded: number;
  /** Tenants whose limits this sweep checked (a batch; see `SweepOptions.limitChecks`). */
  readonly tenantsChecked: number;
  /** Long-running alerts resolved because their run is no longer running. */
  readonly resolved: number;
  /** Progress records removed by retention. */
  readonly deleted: number;
  /** Lifecycle events (with their deliveries) removed by retention. */
  readonly eventsDeleted: number;
  /** Alerts handed to the channel (this sweep's and earlier ones whose notification had failed). */
  readonly notified: number;
  readonly notifyFailures: number;
  readonly errors: { readonly check: SweepCheck; readonly message: string }[];
}

/** Alerts handed to the channel per sweep at most; the rest wait for the next sweep. */
const NOTIFY_BATCH = 100;

/**
 * Notifies alerts whose `notified_at` is unset, oldest first, and marks those the channel took.
 * Delivery is at least once: a crash between publishing and marking sends an alert again.
 */
async function notifyPending(
  db: Database,
  notifier: AlertNotifier,
  now: Date,
  logger?: Logger,
): Promise<{ notified: number; failures: number }> {
  const pending = (
    await queryRows(
      db,
      sql`SELECT ${ALERT_COLUMNS} FROM alerts WHERE notified_at IS NULL
          ORDER BY raised_at, id LIMIT ${NOTIFY_BATCH}::integer`,
    )
  ).map(alertFromRaw);
  const delivered: string[] = [];
  let failures = 0;
  for (const alert of pending) {
    try {
      await notifier.notify(alert);
      delivered.push(alert.id);
    } catch (error) {
      failures++;
      logger?.warn("alert notification failed; retried by the next sweep", { alertId: alert.id, error });
    }
  }
  if (delivered.length > 0) {
    await db.execute(sql`
      UPDATE alerts SET notified_at = ${now.toISOString()}::timestamptz
      WHERE id IN (SELECT jsonb_array_elements_text(${JSON.stringify(delivered)}::jsonb)::uuid)`);
  }
  return { notified: delivered.length, failures };
}

/** Runs every check once. */
export async function runSweep(db: Database, options: SweepOptions): Promise<SweepResult> {
  const { now, logger } = options;
  const errors: { check: SweepCheck; message: string }[] = [];
  const attempt = async <T>(check: SweepCheck, run: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      errors.push({ check, message: rootMessage(error) });
      logger?.error("sweep check failed", { check, error });
      return fallback;
    }
  };

  // First: a run it starts and fails to start at once is then seen by the failed-run check.
  const overdueConfig = options.overdueSchedules;
  const overdue = overdueConfig
    ? await attempt(
        "overdue_schedules",
        () => startOverdueSchedules(db, { now, ...overdueConfig, ...(logger ? { logger } : {}) }),
        { schedules: [], raised: [] },
      )
    : { schedules: [], raised: [] };
  // Each check and the events of what it raised (or resolved) commit together.
  const raising = (check: (tx: Database) => Promise<Alert[]>) => () =>
    db.transaction(async (tx) => {
      const raised = await check(tx);
      await emitAlertsRaised(tx, raised, now);
      return raised;
    });
  const failed = await attempt(
    "failed_runs",
    raising((tx) => raiseFailedRunAlerts(tx, now)),
    [],
  );
  const longRunning = await attempt(
    "long_running",
    raising((tx) => raiseLongRunningAlerts(tx, { now, thresholdMinutes: options.longRunningMinutes })),
    [],
  );
  const resolved = await attempt(
    "resolve_long_running",
    () =>
      db.transaction(async (tx) => {
        const done = await resolveFinishedLongRunningAlerts(tx, now);
        for (const alert of done) await emitAlertResolved(tx, alert, "sweep", now);
        return done.length;
      }),
    0,
  );
  const limitChecks = options.limitChecks ?? { periodSeconds: 3600, intervalSeconds: 60 };
  const { raised: overLimits, checked: tenantsChecked } = await attempt(
    "tenant_limits",
    () =>
      db.transaction(async (tx) => {
        const check = await raiseTenantLimitAlerts(tx, {
          ...limitChecks,
          now,
          ...(logger ? { logger } : {}),
        });
        await emitAlertsRaised(tx, check.raised, now);
        return check;
      }),
    { raised: [], checked: 0, roundFinished: false },
  );
  const patterns = await attempt(
    "template_patterns",
    raising((tx) => raiseTemplatePatternAlerts(tx, now)),
    [],
  );
  const deleted = await attempt(
    "retention",
    () => deleteExpiredProgress(db, { now, retentionDays: options.retentionDays }),
    0,
  );
  const eventsDeleted = await attempt(
    "event_retention",
    () => deleteExpiredEvents(db, { now, retentionDays: options.retentionDays }),
    0,
  );
  const { notified, failures } = await attempt(
    "notify",
    () => notifyPending(db, options.notifier, now, logger),
    { notified: 0, failures: 0 },
  );

  const raised = [...overdue.raised, ...failed, ...longRunning, ...overLimits, ...patterns];
  const overdueStarted = overdue.schedules.filter((s) => s.outcome === "started").length;
  const result: SweepResult = {
    raised,
    overdueStarted,
    warningsAdded: longRunning.length,
    tenantsChecked,
    resolved,
    deleted,
    eventsDeleted,
    notified,
    notifyFailures: failures,
    errors,
  };
  if (raised.length > 0 || resolved > 0 || deleted > 0 || eventsDeleted > 0 || errors.length > 0) {
    logger?.info("sweep finished", {
      raised: raised.length,
      overdueStarted,
      warningsAdded: result.warningsAdded,
      resolved,
      deleted,
      eventsDeleted,
      notified,
      notifyFailures: failures,
      errors: errors.length,
    });
  }
  return result;
}
