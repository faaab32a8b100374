/**
 * The local stand-in for EventBridge Scheduler: every few seconds (and right at start-up, so
 * operations that fell due while the server was down run too) it starts the state machine of the
 * operation's kind (deprovisioning, provisioning or batch) for each `scheduled_operations` row that is due and still `scheduled` — with the same
 * input an EventBridge schedule sends. The execution's first state claims the row
 * (`UPDATE ... WHERE status = 'scheduled'`), so a row started twice (two pollers, a poll racing a
 * restart) still runs once, and a cancelled row never runs.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../functions/db/client.ts";
import { queryRows } from "../functions/db/sql.ts";
import {
  SCHEDULE_WORKFLOWS,
  type ScheduleKind,
  scheduledExecutionInput,
} from "../functions/domain/scheduling/scheduler.ts";
import type { Logger } from "../functions/shared/logger.ts";
import type { WorkflowRunner } from "../functions/workflows/workflow-runner.ts";

export interface SchedulePollerOptions {
  readonly db: Database;
  readonly workflows: WorkflowRunner;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly intervalMs: number;
  /** A row still `scheduled` this long after its execution started is started again. */
  readonly restartAfterMs?: number;
}

export class SchedulePoller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Rows whose execution this process started, and when (no new start while that one claims). */
  private readonly started = new Map<string, number>();

  constructor(private readonly options: SchedulePollerOptions) {}

  start(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .catch((error: unknown) => this.options.logger.warn("schedule poll failed", { error }))
        .finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
  }

  /** Starts every due operation not started yet; returns their ids. */
  async poll(): Promise<string[]> {
    const { db, workflows, logger, clock } = this.options;
    const now = clock();
    const due = await queryRows<{ id: string; kind: ScheduleKind }>(
      db,
      sql`SELECT id, kind FROM scheduled_operations
          WHERE status = 'scheduled' AND run_at <= ${now.toISOString()}::timestamptz
          ORDER BY run_at LIMIT 50`,
    );
    const restartAfter = this.options.restartAfterMs ?? 60_000;
    const startedNow: string[] = [];
    for (const { id, kind } of due) {
      const previous = this.started.get(id);
      if (previous !== undefined && now.getTime() - previous < restartAfter) continue;
      if (this.stopped) break;
      this.started.set(id, now.getTime());
      const ref = await workflows.start(
        SCHEDULE_WORKFLOWS[kind],
        `schedule-${id}-${now.getTime()}`,
        scheduledExecutionInput(id),
      );
      logger.info("scheduled operation due: execution started", { scheduleId: id, executionRef: ref });
      startedNow.push(id);
    }
    return startedNow;
  }

  /** Stops the timer and waits for a poll in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
