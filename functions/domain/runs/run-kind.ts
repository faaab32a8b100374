/**
 * What a kind of run is: its workflow (one ASL file), its steps, the execution input it needs, and
 * what its outcomes mean for its tenant. `registry.ts` holds one definition per `RunKind`; run
 * control, completion and start-up resume are generic over it.
 */
import type { SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import type { RunKind } from "../../schemas/progress.ts";
import type { StepDefinition, WorkflowName } from "../../workflows/step-catalog.ts";
import type { Cell, CellDirectory } from "../cells/cell-directory.ts";
import type { ProgressRow } from "./progress-store.ts";

/** What `afterEnded` may use: the control plane and the cells. */
export interface RunKindDeps {
  readonly db: Database;
  readonly cells?: CellDirectory | undefined;
}

/** A change a run's outcome makes, inside the transaction that records the outcome. */
export type RunHook = (tx: Database, run: ProgressRow, now: Date) => Promise<void>;

export interface RunKindDefinition<K extends RunKind = RunKind> {
  readonly kind: K;
  /** The state machine: `statemachines/<workflow>.asl.json`. */
  readonly workflow: WorkflowName;
  /** Its steps, in order (from the step catalog). */
  readonly steps: readonly StepDefinition[];
  /** Execution input besides `progressId` and `startAt` (first start, resume). */
  input(db: Database, run: ProgressRow): Promise<Record<string, unknown>>;
  /** An operator resumes the run (retry, recover): refuse (throw) or update the tenant. */
  readonly onResume?: RunHook;
  /** `CompleteRun`: the run completed. */
  readonly onCompleted: RunHook;
  /**
   * `onCompleted` as statements, for a kind whose completion reads nothing: `CompleteRun` can then
   * run them with its own writes as ONE statement (one Data API call, no Begin or Commit).
   */
  readonly completedStatements?: (run: ProgressRow, now: Date) => SQL[];
  /** `RecordFailure`: the run failed. */
  readonly onFailed: RunHook;
  /** An operator cancelled the run (after the run was marked cancelled). */
  readonly onCancelled: RunHook;
  /**
   * After a failure or cancellation committed: work outside the control plane's transaction (a
   * tenant's cell). Its errors are logged, not thrown: the outcome is recorded already.
   */
  readonly afterEnded?: (deps: RunKindDeps, run: ProgressRow) => Promise<void>;
  /**
   * Removes what the failed or cancelled run created (`POST /progress/:id/cleanup`); returns what
   * was removed. Kinds without it cannot be cleaned up. `cell`: the run's tenant's cell, looked up
   * before `tx` opened (none: the run names no tenant).
   */
  readonly cleanup?: (
    tx: Database,
    run: ProgressRow,
    now: Date,
    cell: Cell | null,
  ) => Promise<Record<string, unknown>>;
}

/** Where a run whose steps all finished resumes (its completion follows): its last step. */
export function lastStep(definition: RunKindDefinition): string {
  const last = definition.steps.at(-1);
  if (!last) throw new Error(`run kind ${definition.kind} has no steps`);
  return last.name;
}
