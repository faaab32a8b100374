/**
 * The contract every workflow step keeps:
 * 1. the run must still be wanted (not cancelled or finished) — checked before anything is done;
 * 2. an attempt is recorded (status running, attempts + 1) by one autocommit statement, so the
 *    step shows as running while it works — or, for a step whose work is statements only, by the
 *    statement that does the work (below);
 * 3. the step's work and its "completed" mark commit together, under a lock on the progress row —
 *    in ONE transaction (`runStep`), or, for a step whose work is statements only, in ONE
 *    statement that also checks the row is as the attempt mark left it (`runAtomicStep`). When
 *    this container wrote the run's previous step, it knows the row, and that statement makes the
 *    attempt mark too: the step is one Data API call, no Begin or Commit. So a step either
 *    happened completely or not at all, and a completed step is never run again (idempotency). A
 *    failed attempt's error is recorded after the rollback (with the attempt, if the rolled-back
 *    statement was to mark it).
 * 4. failures are classified: `TransientError` (retried by the state machine's Retry) or a named
 *    permanent error (caught by its Catch and recorded).
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { dollarTag, inlineSql, queryRows, sqlLiteral } from "../../db/sql.ts";
import type { ProgressStep } from "../../schemas/progress.ts";
import {
  ConfigurationError,
  DatabaseError,
  MigrationError,
  NetworkError,
  NotFoundError,
  RunCancelledError,
  rootMessage,
  sqlState,
  TransientError,
  transientDatabaseError,
  ValidationError,
} from "../../shared/errors.ts";
import { type CellWorkKey, cellsOf } from "../cells/cell-directory.ts";
import { onceOnCell } from "../cells/tenant-cell-scope.ts";
import {
  getProgressRow,
  lockProgressRow,
  markStepAttempt,
  markStepAttemptRow,
  type ProgressRow,
  saveProgress,
} from "../runs/progress-store.ts";
import { isActive } from "../runs/run-status.ts";
import {
  completedCount,
  isDoneFor,
  markAttemptFailed,
  markCompleted,
  markRunning,
  updateStep,
} from "../runs/step-state.ts";
import type { StepDeps } from "./step-deps.ts";

export interface StepContext {
  readonly tx: Database;
  readonly progress: ProgressRow;
  readonly now: Date;
  readonly deps: StepDeps;
}

export type PermanentErrorFactory = (message: string, cause: unknown) => Error;

const NAMED = [
  RunCancelledError,
  TransientError,
  ValidationError,
  DatabaseError,
  MigrationError,
  ConfigurationError,
  NetworkError,
];

/**
 * Maps any error to a name the ASL matches: DatabaseUnavailableError or TransientError (retried),
 * or the step's permanent error.
 */
export function classifyStepError(error: unknown, permanent: PermanentErrorFactory): Error {
  if (NAMED.some((E) => error instanceof E)) return error as Error;
  return transientDatabaseError(error) ?? permanent(rootMessage(error), error);
}

export const databaseError: PermanentErrorFactory = (m, cause) => new DatabaseError(m, { cause });

/**
 * An action of a Map step whose pass has already failed: it is not started and records nothing
 * (a Step Functions Map stops at the first failed item; aws-local-stepfunctions starts the rest).
 */
class ActionNotStartedError extends ValidationError {
  constructor(step: string, action: string) {
    super(`an earlier action of ${step} failed; ${action} was not started`);
  }
}

/** A step, or one named action inside a step (the iterations of a Map state). */
export interface StepTarget {
  readonly step: string;
  readonly action?: string;
}

export interface StepOptions {
  /**
   * Work done after the attempt is marked and before the step's transaction, in short statements
   * and transactions of its own (sending a notice to each of thousands of users must not hold one
   * transaction open). It must be idempotent: it runs again on every attempt until the step
   * completes. A step run as a loop of the state machine (BackupData, RestoreData) answers
   * `"more"` while work remains: the step's transaction waits for a later invocation.
   */
  readonly beforeTransaction?: (ctx: Omit<StepContext, "tx">) => Promise<unknown>;
  /**
   * Whether this invocation is an attempt (default true). The next iteration of a step's loop is
   * not: the step stays one step, running, its attempts counting tries, not iterations.
   */
  readonly countAttempt?: boolean;
}

/**
 * Runs one step (or one action of a step) of a run. Returns `"already-completed"` without doing
 * anything when it completed before (a retried or resumed execution passing through).
 */
export async function runStep(
  deps: StepDeps,
  progressId: string,
  target: string | StepTarget,
  work: (ctx: StepContext) => Promise<void>,
  permanent: PermanentErrorFactory = databaseError,
  options: StepOptions = {},
): Promise<"completed" | "already-completed" | "continuing"> {
  const { db, clock, logger } = deps;
  const { step: stepName, action } =
    typeof target === "string" ? { step: target, action: undefined } : target;
  // This step's writes are not the atomic steps' own: what this container knew of the run is stale.
  forgetRun(progressId);
  try {
    // The attempt: one autocommit statement, visible at once (status running, attempts + 1). The
    // next iteration of a loop is no new attempt while the step is still running.
    const continuation = options.countAttempt === false && (await isRunning(db, progressId, stepName));
    if (
      !continuation &&
      (await markStepAttempt(db, progressId, stepName, action, clock())) === "not-marked"
    ) {
      return await whyNotMarked(db, progressId, stepName, action);
    }

    return await continueStep(deps, progressId, work, options);
  } catch (error) {
    throw await stepFailed(deps, progressId, stepName, action, classifyStepError(error, permanent));
  }

  /** The work after the attempt is recorded: `beforeTransaction`, then the step's transaction. */
  async function continueStep(
    deps: StepDeps,
    progressId: string,
    work: (ctx: StepContext) => Promise<void>,
    options: StepOptions,
  ): Promise<"completed" | "already-completed" | "continuing"> {
    if (options.beforeTransaction) {
      const row = await getProgressRow(db, progressId);
      if (!row) throw new NotFoundError("progress record", progressId);
      if (!isActive(row.status)) throw new RunCancelledError(progressId, row.status);
      if ((await options.beforeTransaction({ progress: row, now: clock(), deps })) === "more")
        return "continuing";
    }

    const outcome = await db.transaction(async (tx) => {
      // The lock serialises this step with a cancel; lock_timeout is set in the same round trip.
      const row = await lockProgressRow(tx, progressId, deps.lockTimeoutMs);
      if (!isActive(row.status)) throw new RunCancelledError(progressId, row.status);
      // Another execution passing through completed it since the attempt was marked.
      const current = row.steps.find((s) => s.name === stepName);
      if (current && isDoneFor(current, action)) return "already-completed" as const;
      await work({ tx, progress: row, now: clock(), deps });
      const done = clock();
      const steps = updateStep(row.steps, stepName, (s) => markCompleted(s, done, action));
      await saveProgress(tx, progressId, { steps }, done);
      // The row as committed (`done` is the updated_at written), for the run's next atomic step.
      return { ...row, steps, completedSteps: completedCount(steps), updatedAt: done };
    });
    if (outcome === "already-completed") return outcome;
    rememberRun(outcome);
    logger.info("step completed", { progressId, step: stepName, ...(action ? { action } : {}) });
    return "completed";
  }
}

/** Whether the run is active and its step running (a loop's next iteration goes on without a new attempt). */
async function isRunning(db: Database, progressId: string, stepName: string): Promise<boolean> {
  const row = await getProgressRow(db, progressId);
  if (!row) throw new NotFoundError("progress record", progressId);
  if (!isActive(row.status)) throw new RunCancelledError(progressId, row.status);
  return row.steps.find((s) => s.name === stepName)?.status === "running";
}

/**
 * Why an attempt was not marked: the run is gone or no longer active (an error), the step or
 * action completed already (`"already-completed"`), or the row changed under the mark (a
 * TransientError: a retry sorts it out).
 */
async function whyNotMarked(
  db: Database,
  progressId: string,
  stepName: string,
  action: string | undefined,
): Promise<"already-completed"> {
  const row = await getProgressRow(db, progressId);
  if (!row) throw new NotFoundError("progress record", progressId);
  if (!isActive(row.status)) throw new RunCancelledError(progressId, row.status);
  const step = row.steps.find((s) => s.name === stepName);
  if (!step) throw new ValidationError(`run ${progressId} has no step ${stepName}`);
  if (isDoneFor(step, action)) return "already-completed";
  if (action && step.status === "failed") throw new ActionNotStartedError(stepName, action);
  throw new TransientError(`run ${progressId}: the attempt at ${stepName} could not be recorded`);
}

// --- Atomic steps: the work and the completion mark in ONE statement -----------------------------

/**
 * One piece of an atomic step's work, in order: a statement to run, or a check — a query returning
 * one row with a text column `problem`; a problem that is not null stops the step (nothing of it
 * is kept) with a ValidationError carrying it.
 */
export type AtomicStatement = ({ readonly run: SQL } | { readonly check: SQL }) & {
  /**
   * Runs on the tenant's cell (its schema's work), not on the control plane. For a tenant on
   * `main` it makes no difference: everything is one statement. For a tenant on another cell these
   * run first, as one statement on the cell that does them at most once per run, step and action
   * (`cellWorkStatement`), and the rest follows with the completion mark on the control plane.
   */
  readonly cell?: true;
};

/** What an atomic step's work sees: the row as its attempt mark left it. No transaction is open. */
export interface AtomicContext {
  readonly progress: ProgressRow;
  readonly now: Date;
  readonly deps: StepDeps;
}

/** The SQL text one Data API call takes (ExecuteStatement `sql`: at most 65,536 characters). */
export const MAX_STATEMENT_CHARS = 65_536;

/** Raised by the atomic statement when the row is not as the attempt mark left it. */
export const RUN_CHANGED = "TP001";
/** Raised by the atomic statement when a check found a problem. */
const CHECK_FAILED = "TP002";

/** The message a check raised, without the driver's decoration ("ERROR: …; SQLState: TP002"). */
function raisedMessage(error: unknown): string {
  return rootMessage(error)
    .replace(/^ERROR:\s*/, "")
    .replace(/;\s*SQLState:[\s\S]*$/, "")
    .trim();
}

/** The statements as the lines of a code block (a check raises CHECK_FAILED with its problem). */
function blockParts(statements: readonly AtomicStatement[]): string[] {
  return statements.map((s) => {
    const text = inlineSql("run" in s ? s.run : s.check);
    const tag = dollarTag(text);
    return "run" in s
      ? `EXECUTE ${tag}${text}${tag};`
      : `EXECUTE ${tag}${text}${tag} INTO problem;
  IF problem IS NOT NULL THEN RAISE EXCEPTION USING ERRCODE = '${CHECK_FAILED}', MESSAGE = problem; END IF;`;
  });
}

/**
 * A step's work on a tenant's cell (not `main`) as ONE statement that does it at most once: under
 * an advisory lock on the run's step (a second execution waits, then finds it done), it runs the
 * statements and records the mark in `cell_step_marks` — or, finding the mark, does nothing. The
 * work and its mark commit together, so an attempt whose control-plane part failed afterwards
 * (the completion mark is written there, in a statement of its own) finds the cell's part done.
 */
export function cellWorkStatement(
  key: CellWorkKey,
  statements: readonly AtomicStatement[],
  lockTimeoutMs: number,
): string {
  const where = `progress_id = ${sqlLiteral(key.progressId)}::uuid AND step = ${sqlLiteral(key.step)} AND action = ${sqlLiteral(key.action ?? "")}`;
  const body = `DECLARE problem text;
BEGIN
  PERFORM set_config('lock_timeout', ${sqlLiteral(`${Math.max(1, Math.floor(lockTimeoutMs))}ms`)}, true);
  PERFORM pg_advisory_xact_lock(hashtextextended(${sqlLiteral(`${key.progressId}/${key.step}/${key.action ?? ""}`)}, 0));
  IF NOT EXISTS (SELECT 1 FROM cell_step_marks WHERE ${where}) THEN
  ${blockParts(statements).join("\n  ")}
  INSERT INTO cell_step_marks (progress_id, step, action, tenant_id)
    VALUES (${sqlLiteral(key.progressId)}::uuid, ${sqlLiteral(key.step)}, ${sqlLiteral(key.action ?? "")}, ${sqlLiteral(key.tenantId)}::uuid);
  END IF;
END`;
  const tag = dollarTag(body);
  return `DO ${tag} ${body} ${tag}`;
}

/**
 * Runs a step's cell work on `db` (a cell other than `main`) at most once per run, step and action
 * (`cellWorkStatement`; in a transaction of the same shape when too long for one call's SQL text).
 * A check's problem is a ValidationError.
 */
export async function runCellWork(
  db: Database,
  key: CellWorkKey,
  statements: readonly AtomicStatement[],
  lockTimeoutMs: number,
): Promise<void> {
  if (statements.length === 0) return;
  const statement = cellWorkStatement(key, statements, lockTimeoutMs);
  if (statement.length <= MAX_STATEMENT_CHARS) {
    try {
      await db.execute(sql.raw(statement));
    } catch (error) {
      if (sqlState(error) === CHECK_FAILED) throw new ValidationError(raisedMessage(error), { cause: error });
      throw error;
    }
    return;
  }
  await onceOnCell(db, key, (tx) => runStatements(tx, statements), lockTimeoutMs);
}

/** The statements one by one in `tx` (a check's problem is a ValidationError): the long way. */
async function runStatements(tx: Database, statements: readonly AtomicStatement[]): Promise<void> {
  for (const s of statements) {
    if ("run" in s) {
      await tx.execute(s.run);
    } else {
      const [found] = await queryRows<{ problem: string | null }>(tx, s.check);
      if (found?.problem) throw new ValidationError(found.problem);
    }
  }
}

/**
 * The statements of a step's work that are left for the control plane: all of them for a tenant on
 * `main`; for a tenant on another cell, its cell statements are run there first (`runCellWork`).
 */
async function controlPlanePart(
  deps: StepDeps,
  progress: ProgressRow,
  stepName: string,
  action: string | undefined,
  statements: readonly AtomicStatement[],
): Promise<readonly AtomicStatement[]> {
  if (!statements.some((s) => s.cell) || progress.tenantId === null) return statements;
  const cell = await cellsOf(deps).forTenant(progress.tenantId);
  if (cell.isControlPlane) return statements;
  await runCellWork(
    cell.db,
    { progressId: progress.id, tenantId: progress.tenantId, step: stepName, action },
    statements.filter((s) => s.cell),
    deps.lockTimeoutMs,
  );
  return statements.filter((s) => !s.cell);
}

/**
 * How the atomic statement knows the progress row is as the step's work was built against:
 * - `version`: `md5(steps::text)` as the attempt mark returned it (the mark was its own call);
 * - `known`: the status, steps and `updated_at` this container last wrote (`knownRuns`), compared
 *   whole — the attempt mark is then made by this same statement, so the step costs one call.
 * Any other writer (a cancel, another execution, a recorded failure) changes one of them.
 */
export type AtomicGuard =
  | { readonly version: string }
  | { readonly known: Pick<ProgressRow, "steps" | "updatedAt"> };

/**
 * The run's columns the atomic statement sets besides its steps: running at a step (the attempt
 * mark's columns), or completed (`CompleteRun`).
 */
export type RunColumns =
  | { readonly status: "running"; readonly currentStep: string }
  | { readonly status: "completed" };

/**
 * The step's work and its completion mark as ONE statement (an anonymous code block; values
 * written in as literals, since a DO block takes no parameters): it locks the progress row and
 * goes on only if the row is as `guard` says (still active, unchanged — no cancel, no other
 * execution's mark or completion since), runs the work in order, and writes the completed steps
 * (with the run running at this step: the attempt mark's columns, for a step whose mark is made
 * here). One statement commits or rolls back as a whole, so no Begin and Commit calls are needed
 * for the guarantee a transaction gave.
 */
export function atomicStepStatement(
  progressId: string,
  guard: string | AtomicGuard,
  statements: readonly AtomicStatement[],
  steps: readonly ProgressStep[],
  now: Date,
  lockTimeoutMs: number,
  run?: RunColumns,
): string {
  const parts = blockParts(statements);
  const id = `${sqlLiteral(progressId)}::uuid`;
  const g: AtomicGuard = typeof guard === "string" ? { version: guard } : guard;
  const unchanged =
    "version" in g
      ? `md5(steps::text) = ${sqlLiteral(g.version)}`
      : `steps = ${sqlLiteral(g.known.steps)}::jsonb AND updated_at = ${sqlLiteral(g.known.updatedAt)}::timestamp`;
  const stamp = `${sqlLiteral(now)}::timestamp`;
  const running =
    run === undefined
      ? ""
      : run.status === "running"
        ? `status = 'running', current_step = ${sqlLiteral(run.currentStep)}, started_at = coalesce(started_at, ${stamp}),
        `
        : `status = 'completed', completed_at = ${stamp}, current_step = NULL, error = NULL,
        `;
  const body = `DECLARE problem text;
BEGIN
  PERFORM set_config('lock_timeout', ${sqlLiteral(`${Math.max(1, Math.floor(lockTimeoutMs))}ms`)}, true);
  PERFORM 1 FROM tenant_provisioning_progress
    WHERE id = ${id} AND status IN ('pending', 'running') AND ${unchanged}
    FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '${RUN_CHANGED}', MESSAGE = 'the run changed since the attempt was marked';
  END IF;
  ${parts.join("\n  ")}
  UPDATE tenant_provisioning_progress
    SET ${running}steps = ${sqlLiteral(steps)}::jsonb, completed_steps = ${sqlLiteral(completedCount(steps))},
        updated_at = ${stamp}
    WHERE id = ${id};
END`;
  const tag = dollarTag(body);
  return `DO ${tag} ${body} ${tag}`;
}

/**
 * Runs this container last saw completing an atomic step, as it left them. The next atomic step
 * of such a run marks its attempt in its own statement (guarded by `known`), not in a call of its
 * own: one call per step instead of two. Only the row's fixed parts (tenant, template, metadata)
 * are read from here to build the work; a stale entry fails the guard and the step goes the long
 * way. Bounded; the oldest entry goes first.
 */
const knownRuns = new Map<string, ProgressRow>();
const KNOWN_RUNS_MAX = 256;

function rememberRun(row: ProgressRow): void {
  knownRuns.delete(row.id);
  if (knownRuns.size >= KNOWN_RUNS_MAX) knownRuns.delete(knownRuns.keys().next().value as string);
  knownRuns.set(row.id, row);
}

/** The run as this container last wrote it (`knownRuns`), if it did. */
export function knownRun(progressId: string): ProgressRow | undefined {
  return knownRuns.get(progressId);
}

/** Forgets what this container knew of a run (a writer elsewhere changed it, or it ended here). */
export function forgetRun(progressId: string): void {
  knownRuns.delete(progressId);
}

/**
 * The attempt mark `markStepAttemptRow` would make on `known` (a run this container wrote last),
 * or undefined when that mark would be refused — the step or action done or failed — and the step
 * must go the long way to learn why.
 */
function markKnown(
  known: ProgressRow,
  stepName: string,
  action: string | undefined,
  now: Date,
): ProgressRow | undefined {
  if (known.status !== "pending" && known.status !== "running") return undefined;
  const step = known.steps.find((s) => s.name === stepName);
  if (!step || isDoneFor(step, action) || (action !== undefined && step.status === "failed"))
    return undefined;
  return {
    ...known,
    status: "running",
    currentStep: stepName,
    startedAt: known.startedAt ?? now,
    updatedAt: now,
    steps: updateStep(known.steps, stepName, (s) => markRunning(s, now, action)),
  };
}

/**
 * Runs a step whose work is statements only (it reads nothing inside the step's transaction) as
 * ONE statement holding the work and the completion mark (`atomicStepStatement`), preceded by the
 * attempt mark (which returns the row the work is built from) — or, for a run this container
 * completed the previous step of (`knownRuns`), with the attempt mark made by that same statement:
 * one Data API call for the whole step. Work too large for one call's SQL text runs in a
 * transaction instead, as `runStep` runs it. Same contract, errors and outcome as `runStep`.
 */
export async function runAtomicStep(
  deps: StepDeps,
  progressId: string,
  target: string | StepTarget,
  work: (ctx: AtomicContext) => Promise<readonly AtomicStatement[]>,
  permanent: PermanentErrorFactory = databaseError,
): Promise<"completed" | "already-completed"> {
  const { logger } = deps;
  const { step: stepName, action } =
    typeof target === "string" ? { step: target, action: undefined } : target;
  // Whether the attempt is recorded only by the statement that does the work: if that statement
  // fails, the failure's record must count the attempt.
  let markedInStatement = false;
  try {
    const known = knownRuns.get(progressId);
    const now = deps.clock();
    const marked = known && markKnown(known, stepName, action, now);
    let outcome: "completed" | "already-completed" | "run-changed" = "run-changed";
    if (known && marked) {
      markedInStatement = true;
      outcome = await runAtomicWork(deps, marked, { known }, stepName, action, work);
      markedInStatement = false;
    }
    if (outcome === "run-changed") {
      // Not known here, or changed by another writer: the attempt mark is its own call.
      forgetRun(progressId);
      const mark = await markStepAttemptRow(deps.db, progressId, stepName, action, deps.clock());
      if (!mark) return await whyNotMarked(deps.db, progressId, stepName, action);
      outcome = await runAtomicWork(deps, mark.row, { version: mark.version }, stepName, action, work);
      // Cancelled, completed by another execution, or marked again meanwhile.
      if (outcome === "run-changed") outcome = await whyNotMarked(deps.db, progressId, stepName, action);
    }
    if (outcome === "already-completed") return outcome;
    logger.info("step completed", { progressId, step: stepName, ...(action ? { action } : {}) });
    return "completed";
  } catch (error) {
    forgetRun(progressId);
    const classified = classifyStepError(error, permanent);
    throw await stepFailed(deps, progressId, stepName, action, classified, markedInStatement);
  }
}

/**
 * The work and the completion mark of an attempt marked on `marked` (by its own call, or to be
 * made by this statement: `guard` says which), in one statement — or in one transaction when too
 * large for one call's SQL text. `"run-changed"`: the row was not as `guard` says; nothing was done.
 */
async function runAtomicWork(
  deps: StepDeps,
  marked: ProgressRow,
  guard: AtomicGuard,
  stepName: string,
  action: string | undefined,
  work: (ctx: AtomicContext) => Promise<readonly AtomicStatement[]>,
): Promise<"completed" | "already-completed" | "run-changed"> {
  const { db, clock } = deps;
  const progressId = marked.id;
  const statements = await controlPlanePart(
    deps,
    marked,
    stepName,
    action,
    await work({ progress: marked, now: clock(), deps }),
  );
  const done = clock();
  const steps = updateStep(marked.steps, stepName, (s) => markCompleted(s, done, action));
  const statement = atomicStepStatement(progressId, guard, statements, steps, done, deps.lockTimeoutMs, {
    status: "running",
    currentStep: stepName,
  });
  if (statement.length <= MAX_STATEMENT_CHARS) {
    try {
      await db.execute(sql.raw(statement));
    } catch (error) {
      const state = sqlState(error);
      if (state === CHECK_FAILED) throw new ValidationError(raisedMessage(error), { cause: error });
      if (state === RUN_CHANGED) return "run-changed";
      throw error;
    }
    rememberRun({ ...marked, steps, completedSteps: completedCount(steps), updatedAt: done });
    return "completed";
  }
  // Too large for one statement: this long way keeps no memory of the run (its row is re-read).
  if ("known" in guard) return "run-changed";
  return db.transaction(async (tx) => {
    const row = await lockProgressRow(tx, progressId, deps.lockTimeoutMs);
    if (!isActive(row.status)) throw new RunCancelledError(progressId, row.status);
    const current = row.steps.find((s) => s.name === stepName);
    if (current && isDoneFor(current, action)) return "already-completed" as const;
    await runStatements(tx, statements);
    const at = clock();
    await saveProgress(
      tx,
      progressId,
      { steps: updateStep(row.steps, stepName, (s) => markCompleted(s, at, action)) },
      at,
    );
    return "completed" as const;
  });
}

/**
 * A step's attempt ended in `classified`: records it on the step (unless the run was cancelled or
 * the action never started), logs it, and returns it for the caller to throw.
 */
async function stepFailed(
  deps: StepDeps,
  progressId: string,
  stepName: string,
  action: string | undefined,
  classified: Error,
  attemptUnrecorded = false,
): Promise<Error> {
  if (!(classified instanceof RunCancelledError) && !(classified instanceof ActionNotStartedError)) {
    await recordAttemptError(deps, progressId, stepName, action, classified, attemptUnrecorded);
  }
  deps.logger.warn("step failed", {
    progressId,
    step: stepName,
    ...(action ? { action } : {}),
    error: classified.name,
    message: classified.message,
  });
  return classified;
}

/**
 * Records the attempt's error on the step (running while it may be retried, failed if permanent).
 * `attemptUnrecorded`: the attempt was to be marked by the statement that failed (rolled back with
 * it), so it is counted here.
 */
async function recordAttemptError(
  deps: StepDeps,
  progressId: string,
  stepName: string,
  action: string | undefined,
  error: Error,
  attemptUnrecorded: boolean,
): Promise<void> {
  try {
    await deps.db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, progressId);
      if (!isActive(row.status)) return;
      const now = deps.clock();
      const failure = {
        name: error.name,
        message: error.message,
        transient: error instanceof TransientError,
      };
      await saveProgress(
        tx,
        progressId,
        {
          steps: updateStep(row.steps, stepName, (s) =>
            markAttemptFailed(attemptUnrecorded ? markRunning(s, now, action) : s, failure, now, action),
          ),
          ...(attemptUnrecorded ? { status: "running" as const, currentStep: stepName } : {}),
        },
        now,
      );
    });
  } catch (recordError) {
    deps.logger.error("could not record a step error", { progressId, step: stepName, error: recordError });
  }
}

/** Reads `progressId` from a state's input. */
export function progressIdOf(input: Record<string, unknown>): string {
  const id = input.progressId;
  if (typeof id !== "string" || id.length === 0) throw new ValidationError("step input has no progressId");
  return id;
}
