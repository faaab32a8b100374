/**
 * One-time schedules for operations stored in `scheduled_operations`. In AWS an EventBridge
 * Scheduler schedule starts the operation's state machine (deprovisioning, provisioning or batch) at the
 * time (eventbridge-scheduler.ts); locally the schedule is the row itself, which the poller in
 * `local/schedule-poller.ts` starts when due. Either way the execution begins at
 * `StartScheduledRun`, which claims the row, so an operation runs at most once.
 */

import { RequestValidationError, ServiceUnavailableError } from "../../shared/errors.ts";
import type { WorkflowName } from "../../workflows/step-catalog.ts";

/** What a schedule starts, and the workflow that starts it. */

export type ScheduleKind = "deprovision" | "provision" | "batch";

export const SCHEDULE_WORKFLOWS = {
  deprovision: "deprovisioning",
  provision: "provisioning",
  batch: "batch",
} as const satisfies Record<ScheduleKind, WorkflowName>;

export interface ScheduledOperationRef {
  readonly id: string;
  readonly kind: ScheduleKind;
  /** Null for a batch. */
  readonly tenantId: string | null;
  readonly runAt: Date;
}

export interface Scheduler {
  readonly kind: "local" | "eventbridge";
  /** Arranges for the operation to start at `runAt`; returns the external reference to store. */
  create(operation: ScheduledOperationRef): Promise<string>;
  /** Removes a schedule; removing one that is gone (ran, deleted) is not an error. */
  delete(externalRef: string): Promise<void>;
}

/**
 * The execution input a schedule starts its state machine with. The run's progress
 * record will carry the operation's id, so the input can name it before it exists.
 */
export function scheduledExecutionInput(operationId: string): {
  progressId: string;
  scheduledOperationId: string;
  startAt: "StartScheduledRun";
} {
  return { progressId: operationId, scheduledOperationId: operationId, startAt: "StartScheduledRun" };
}

/** The local scheduler: the `scheduled_operations` row is the schedule; the poller reads it. */
export const localScheduler: Scheduler = {
  kind: "local",
  create: async (operation) => `local:${operation.id}`,
  delete: async () => {},
};

/**
 * What every schedule request checks first: a scheduler is configured (503 otherwise) and `at` is
 * in the future (400 naming `at` otherwise).
 */
export function scheduleSlot(
  scheduler: Scheduler | undefined,
  at: string,
  now: Date,
): { readonly scheduler: Scheduler; readonly runAt: Date } {
  if (!scheduler) throw new ServiceUnavailableError("no scheduler is configured");
  const runAt = new Date(at);
  if (runAt.getTime() <= now.getTime()) {
    throw RequestValidationError.field("at", `must be in the future (it is ${now.toISOString()} now)`);
  }
  return { scheduler, runAt };
}
