/**
 * The local server's stand-in for the EventBridge rule: runs the operations sweep every
 * `sweepIntervalSeconds`. The next run is scheduled only when the previous one has finished, so
 * runs never overlap; the timer is unref'ed so that it never keeps the process alive.
 */
import type { Database } from "../functions/db/client.ts";
import type { CellDirectory } from "../functions/domain/cells/cell-directory.ts";
import type { AlertNotifier } from "../functions/domain/operations/alerts.ts";
import { runSweep, type SweepResult } from "../functions/domain/operations/sweep.ts";
import type { OperationsConfig } from "../functions/shared/config.ts";
import type { Logger } from "../functions/shared/logger.ts";
import type { WorkflowRunner } from "../functions/workflows/workflow-runner.ts";

export interface SweeperOptions {
  readonly db: Database;
  /** The tenant databases (limit checks count each tenant's tables on its cell). */
  readonly cells?: CellDirectory;
  readonly operations: OperationsConfig;
  readonly notifier: AlertNotifier;
  readonly logger: Logger;
  readonly clock: () => Date;
  /** Starts scheduled deprovisionings the schedule poller missed. */
  readonly workflows: WorkflowRunner;
}

export interface Sweeper {
  /** Schedules the first run one interval from now. */
  start(): void;
  /** Runs the sweep now (or waits for the run in progress and returns its result). */
  runOnce(): Promise<SweepResult>;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

export function createSweeper(options: SweeperOptions): Sweeper {
  const { db, cells, operations, notifier, logger, clock, workflows } = options;
  const intervalMs = operations.sweepIntervalSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<SweepResult> | undefined;
  let stopped = false;

  const runOnce = (): Promise<SweepResult> => {
    inFlight ??= runSweep(db, {
      now: clock(),
      longRunningMinutes: operations.longRunningMinutes,
      retentionDays: operations.retentionDays,
      notifier,
      logger,
      overdueSchedules: { overdueMinutes: operations.scheduleOverdueMinutes, workflows },
      limitChecks: {
        periodSeconds: operations.limitCheckPeriodSeconds,
        intervalSeconds: operations.sweepIntervalSeconds,
        maxBatch: operations.limitCheckMaxBatch,
        ...(cells ? { cells } : {}),
      },
    }).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      runOnce()
        .catch((error: unknown) => logger.error("sweep failed", { error }))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };

  return {
    start: () => {
      stopped = false;
      if (!timer && !inFlight) schedule();
    },
    runOnce,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await inFlight?.catch(() => {});
    },
  };
}
