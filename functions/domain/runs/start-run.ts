/**
 * Starting a run's workflow execution (first start, resume, start-up resume): the execution input
 * is the kind's (registry), plus `progressId` and the step to start at; the reference is stored on
 * the run. When the engine refuses, the run is failed (recoverable) and the caller gets a 503.
 */

import type { Database } from "../../db/client.ts";
import { ServiceUnavailableError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { executionName } from "../../workflows/execution-name.ts";
import type { WorkflowRunner } from "../../workflows/workflow-runner.ts";
import type { CellDirectory } from "../cells/cell-directory.ts";
import { type ProgressRow, saveProgress } from "./progress-store.ts";
import { RUN_KIND_REGISTRY } from "./registry.ts";
import { emitRunFailed } from "./run-events.ts";

/** What starting and controlling runs needs (the API's dependencies include these). */
export interface RunDeps {
  readonly db: Database;
  /** The tenant databases; unset: the control-plane database is the only cell (`cellsOf`). */
  readonly cells?: CellDirectory | undefined;
  readonly workflows: WorkflowRunner;
  readonly logger: Logger;
  readonly clock: () => Date;
}

export interface StartRunOptions {
  /** The step to start at; the kind's first step by default. */
  readonly startAt?: string;
  /** Execution input computed by the caller (it has the run's spec at hand); the kind's by default. */
  readonly input?: Readonly<Record<string, unknown>>;
  /**
   * The time in the execution's name (now by default). A caller that may start the same attempt
   * again after a crash passes a time fixed with the attempt, so that Step Functions sees the same
   * name twice and does not start a second execution.
   */
  readonly nameAt?: Date;
}

/** Starts (or restarts) the run's execution and stores its reference (one statement). */
export async function startRun(
  deps: RunDeps,
  run: ProgressRow,
  options: StartRunOptions = {},
): Promise<ProgressRow> {
  const { db, clock, workflows, logger } = deps;
  const definition = RUN_KIND_REGISTRY[run.kind];
  try {
    const input = options.input ?? (await definition.input(db, run));
    const startAt = options.startAt ?? definition.steps[0]!.name;
    const ref = await workflows.start(
      definition.workflow,
      executionName(run.id, run.attempt, options.nameAt ?? clock()),
      {
        ...input,
        progressId: run.id,
        startAt,
      },
    );
    return await saveProgress(db, run.id, { executionRef: ref }, clock());
  } catch (error) {
    logger.error(`could not start the ${definition.workflow} workflow`, { progressId: run.id, error });
    const now = clock();
    await db.transaction(async (tx) => {
      await saveProgress(
        tx,
        run.id,
        {
          status: "failed",
          error: `the workflow could not be started: ${(error as Error).message}`,
          completedAt: now,
        },
        now,
      );
      await emitRunFailed(tx, run, now, { step: null, errorName: (error as Error).name || "Error" });
    });
    throw new ServiceUnavailableError("the workflow could not be started; recover the run later", {
      cause: error,
    });
  }
}
