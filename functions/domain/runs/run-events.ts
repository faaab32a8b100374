/**
 * The lifecycle events of runs: which event types each run kind emits when a run starts,
 * completes, fails or is cancelled, and their data (built from the progress row, so every kind's
 * events look alike). Each is emitted inside the transaction that records the transition — the
 * request that inserts the run, `CompleteRun`, `RecordFailure`, a cancel — with the run and its
 * attempt in the dedupe key: a transition re-run by a retried execution is written once, and a
 * run recovered and failing again emits a new `failed`.
 *
 * A run kind without an entry here emits no run events (the fleet's kinds add theirs with their
 * catalogue entries).
 */
import type { SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import type { ChainedWrite } from "../../db/sql.ts";
import type { EventType, NewEvent } from "../../schemas/events.ts";
import type { RunKind } from "../../schemas/progress.ts";
import { dedupeKey, emitEvent, emitEventStatement } from "../events/outbox.ts";
import type { ProgressRow } from "./progress-store.ts";

type RunStartedType =
  | "tenant.provisioning.started"
  | "tenant.deprovisioning.started"
  | "tenant.restore.started"
  | "batch.started"
  | "tenant.upgrade.started"
  | "template.rollout.started";
type RunCompletedType =
  | "tenant.provisioning.completed"
  | "tenant.deprovisioning.completed"
  | "tenant.restored"
  | "batch.completed"
  | "tenant.upgraded"
  | "template.rollout.completed";
type RunFailedType =
  | "tenant.provisioning.failed"
  | "tenant.deprovisioning.failed"
  | "tenant.restore.failed"
  | "batch.failed"
  | "tenant.upgrade.failed"
  | "template.rollout.failed";
type RunCancelledType =
  | "tenant.provisioning.cancelled"
  | "tenant.deprovisioning.cancelled"
  | "tenant.restore.cancelled"
  | "batch.cancelled"
  | "tenant.upgrade.cancelled"
  | "template.rollout.cancelled";

/** A kind's event type for each transition of its runs. */
export interface RunEventTypes {
  readonly started: RunStartedType;
  readonly completed: RunCompletedType;
  readonly failed: RunFailedType;
  readonly cancelled: RunCancelledType;
}

export const RUN_EVENT_TYPES: { readonly [K in RunKind]?: RunEventTypes } = {
  provision: {
    started: "tenant.provisioning.started",
    completed: "tenant.provisioning.completed",
    failed: "tenant.provisioning.failed",
    cancelled: "tenant.provisioning.cancelled",
  },
  deprovision: {
    started: "tenant.deprovisioning.started",
    completed: "tenant.deprovisioning.completed",
    failed: "tenant.deprovisioning.failed",
    cancelled: "tenant.deprovisioning.cancelled",
  },
  restore: {
    started: "tenant.restore.started",
    completed: "tenant.restored",
    failed: "tenant.restore.failed",
    cancelled: "tenant.restore.cancelled",
  },
  batch: {
    started: "batch.started",
    completed: "batch.completed",
    failed: "batch.failed",
    cancelled: "batch.cancelled",
  },
  upgrade: {
    started: "tenant.upgrade.started",
    completed: "tenant.upgraded",
    failed: "tenant.upgrade.failed",
    cancelled: "tenant.upgrade.cancelled",
  },
  rollout: {
    started: "template.rollout.started",
    completed: "template.rollout.completed",
    failed: "template.rollout.failed",
    cancelled: "template.rollout.cancelled",
  },
};

function runFields(run: ProgressRow) {
  return {
    kind: run.kind,
    attempt: run.attempt,
    templateId: run.templateId,
    templateVersion: run.templateVersion,
  };
}

const key = (type: EventType, run: ProgressRow) => dedupeKey(type, run.id, run.attempt);

/** The run's `started` event (none for a kind without run events). */
function runStarted(run: ProgressRow): NewEvent | undefined {
  const types = RUN_EVENT_TYPES[run.kind];
  if (!types) return undefined;
  return {
    type: types.started,
    tenantId: run.tenantId,
    runId: run.id,
    data: runFields(run),
    dedupeKey: key(types.started, run),
  };
}

/** The run was accepted (its record inserted): in the request's transaction. */
export async function emitRunStarted(tx: Database, run: ProgressRow, now: Date): Promise<void> {
  const event = runStarted(run);
  if (event) await emitEvent(tx, event, now);
}

/** `emitRunStarted` as writes to run with others as one statement (`writesAsOne`). */
export function runStartedWrites(run: ProgressRow, now: Date): ChainedWrite[] {
  const event = runStarted(run);
  return event ? [emitEventStatement(event, now).write] : [];
}

/** The run's `completed` event; `run` is the record as it was before completion. */
function runCompleted(run: ProgressRow, now: Date): NewEvent | undefined {
  const types = RUN_EVENT_TYPES[run.kind];
  if (!types) return undefined;
  return {
    type: types.completed,
    tenantId: run.tenantId,
    runId: run.id,
    data: {
      ...runFields(run),
      durationMs: run.startedAt ? Math.max(0, now.getTime() - run.startedAt.getTime()) : null,
    },
    dedupeKey: key(types.completed, run),
  };
}

/** `CompleteRun`: `run` is the record as it was before completion. */
export async function emitRunCompleted(tx: Database, run: ProgressRow, now: Date): Promise<void> {
  const event = runCompleted(run, now);
  if (event) await emitEvent(tx, event, now);
}

/** `emitRunCompleted` as statements to run with others as one. */
export function runCompletedStatements(run: ProgressRow, now: Date): SQL[] {
  const event = runCompleted(run, now);
  return event ? [emitEventStatement(event, now).statement] : [];
}

export interface RunFailure {
  /** The step that failed; null when the run failed before any step (its workflow did not start). */
  readonly step: string | null;
  /** The error's name (`TransientError`, `MigrationError`, …); never its message. */
  readonly errorName: string;
}

/**
 * The run failed: its kind's `failed` event and, when a step failed for good (`RecordFailure`,
 * after the state machine's retries), `tenant.step.failed`.
 */
export async function emitRunFailed(
  tx: Database,
  run: ProgressRow,
  now: Date,
  failure: RunFailure,
): Promise<void> {
  const types = RUN_EVENT_TYPES[run.kind];
  if (!types) return;
  const error = { name: failure.errorName.slice(0, 100) };
  if (failure.step) {
    const step = run.steps.find((s) => s.name === failure.step);
    await emitEvent(
      tx,
      {
        type: "tenant.step.failed",
        tenantId: run.tenantId,
        runId: run.id,
        data: { ...runFields(run), step: failure.step, attempts: step?.attempts ?? 0, error },
        dedupeKey: dedupeKey("tenant.step.failed", run.id, run.attempt, failure.step),
      },
      now,
    );
  }
  await emitEvent(
    tx,
    {
      type: types.failed,
      tenantId: run.tenantId,
      runId: run.id,
      data: { ...runFields(run), step: failure.step, error },
      dedupeKey: key(types.failed, run),
    },
    now,
  );
}

/** An operator cancelled the run: `run` is the record as it was before (its step in flight). */
export async function emitRunCancelled(tx: Database, run: ProgressRow, now: Date): Promise<void> {
  const types = RUN_EVENT_TYPES[run.kind];
  if (!types) return;
  await emitEvent(
    tx,
    {
      type: types.cancelled,
      tenantId: run.tenantId,
      runId: run.id,
      data: { ...runFields(run), step: run.currentStep },
      dedupeKey: key(types.cancelled, run),
    },
    now,
  );
}
