/**
 * The local workflow runner: executes the ASL files in `statemachines/` in-process with
 * aws-local-stepfunctions, every Task state bound to the handler of its workflow's one Lambda
 * (the same dispatch on the Task's `task` parameter, functions/steps/index.ts).
 * Its event stream is logged and watched, so an execution that ends without reaching its own
 * failure handler (a timeout, a runtime error) still leaves its progress record failed — through
 * `recordExecutionEnded`, the code the AWS status-change handler (functions/execution-ended.ts) runs.
 */
import "./promise-with-resolvers.ts";
import { randomUUID } from "node:crypto";
import { ExecutionTimeoutError, StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";
import { recordExecutionEnded } from "../functions/domain/runs/execution-ended.ts";
import type { StepDeps, StepHandler } from "../functions/domain/steps/step-deps.ts";
import type { RetryPolicy } from "../functions/shared/config.ts";
import type { Logger } from "../functions/shared/logger.ts";
import { TASK_HANDLERS, workflowTaskHandler } from "../functions/steps/index.ts";
import {
  applyRetryPolicy,
  readDefinitionText,
  substitute,
  substitutionNames,
} from "../functions/workflows/definitions.ts";
import { WORKFLOW_STEPS, type WorkflowName, workflowLambda } from "../functions/workflows/step-catalog.ts";
import type { WorkflowInput, WorkflowRunner } from "../functions/workflows/workflow-runner.ts";

export interface LocalWorkflowRunnerOptions {
  readonly stepDeps: StepDeps;
  readonly logger: Logger;
  readonly retry: RetryPolicy;
  /** For `DatabaseUnavailableError`; the ASL's own values when unset. */
  readonly unavailableRetry?: RetryPolicy;
  readonly kinds?: readonly WorkflowName[];
  /** Milliseconds for every Wait state (tests shorten grace periods with this). */
  readonly waitTimeOverrideMs?: number;
}

interface Running {
  readonly kind: WorkflowName;
  readonly input: WorkflowInput;
  readonly abort: () => void;
  readonly done: Promise<void>;
  /** How the execution ended: SUCCEEDED (with its output), FAILED or ABORTED. */
  readonly outcome: Promise<ExecutionOutcome>;
}

interface ExecutionOutcome {
  readonly status: "SUCCEEDED" | "FAILED" | "ABORTED";
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

/** The error a `startExecution.sync` Task fails with when its child execution did not succeed. */
class ChildExecutionError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The Step Functions integration that starts a child execution and waits for its end. */
const START_EXECUTION_SYNC = /^arn:aws:states:::states:startExecution\.sync(:2)?$/;
/** A local state machine's ARN (the `${XStateMachineArn}` substitution): `...:stateMachine:<workflow>`. */
const LOCAL_STATE_MACHINE = /^arn:aws:states:local:000000000000:stateMachine:(.+)$/;

interface AslTaskState {
  readonly Type?: string;
  readonly Resource?: unknown;
  readonly Parameters?: Record<string, unknown>;
}

/** Every Task state of a definition (inside Map item processors and Parallel branches too), by name. */
function taskStatesOf(definition: unknown): Map<string, AslTaskState> {
  const tasks = new Map<string, AslTaskState>();
  const visit = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === "Task") tasks.set(name, state as AslTaskState);
      const processor = (state.ItemProcessor ?? state.Iterator) as
        | { States?: Record<string, Record<string, unknown>> }
        | undefined;
      if (processor?.States) visit(processor.States);
      for (const branch of (state.Branches ?? []) as { States: Record<string, Record<string, unknown>> }[])
        visit(branch.States);
    }
  };
  visit((definition as { States: Record<string, Record<string, unknown>> }).States);
  return tasks;
}

/** Every Wait state, those inside Map iterators included (their names are unique per definition). */
function waitStates(definition: unknown): string[] {
  const waits: string[] = [];
  const visit = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === "Wait") waits.push(name);
      const processor = (state.ItemProcessor ?? state.Iterator) as
        | { States?: Record<string, Record<string, unknown>> }
        | undefined;
      if (processor?.States) visit(processor.States);
    }
  };
  visit((definition as { States: Record<string, Record<string, unknown>> }).States);
  return waits;
}

/** A `${...}` substitution's local value: a step Lambda's ARN, or a local state machine's. */
function localArnOf(substitution: string): string {
  const machine = /^([A-Z][A-Za-z0-9]*)StateMachineArn$/.exec(substitution);
  if (machine?.[1]) {
    return `arn:aws:states:local:000000000000:stateMachine:${lambdaNameOf(machine[1])}`;
  }
  return `arn:aws:lambda:local:000000000000:function:${lambdaNameOf(substitution)}`;
}

/** `ProvisioningStepsFunctionArn` → `provisioning-steps`. */
function lambdaNameOf(substitution: string): string {
  return substitution
    .replace(/FunctionArn$/, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .toLowerCase();
}

/**
 * PGlite answers queries without real I/O, so a run's steps would chain as microtasks and keep the
 * HTTP server (and timers) waiting until every queued run has finished; each Task first yields to
 * the event loop.
 */
function yieldingFirst(handler: StepHandler): StepHandler {
  return async (input) => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return handler(input);
  };
}

export class LocalWorkflowRunner implements WorkflowRunner {
  private readonly machines = new Map<
    WorkflowName,
    { machine: StateMachine; handlers: Record<string, StepHandler>; waits: string[] }
  >();
  private readonly running = new Map<string, Running>();

  constructor(private readonly options: LocalWorkflowRunnerOptions) {
    const kinds =
      options.kinds ??
      (Object.keys(WORKFLOW_STEPS) as WorkflowName[]).filter((k) => WORKFLOW_STEPS[k].length > 0);
    for (const kind of kinds) {
      const text = readDefinitionText(kind);
      const substitutions = Object.fromEntries(substitutionNames(text).map((n) => [n, localArnOf(n)]));
      const definition = applyRetryPolicy(
        JSON.parse(substitute(text, substitutions)) as StateMachineDefinition,
        options.retry,
        options.unavailableRetry,
      );
      // Every Task invokes its workflow's one Lambda and names itself in `task`, and a handler of
      // that name exists: a mismatch in the ASL fails at start, not mid-run.
      const lambdaArn = `arn:aws:lambda:local:000000000000:function:${workflowLambda(kind)}`;
      const dispatch = yieldingFirst(workflowTaskHandler(kind, options.stepDeps));
      const handlers: Record<string, StepHandler> = {};
      for (const [state, task] of taskStatesOf(definition)) {
        if (typeof task.Resource === "string" && START_EXECUTION_SYNC.test(task.Resource)) {
          handlers[state] = (input) => this.runChildExecution(input);
          continue;
        }
        if (
          task.Resource !== lambdaArn ||
          task.Parameters?.task !== state ||
          !Object.hasOwn(TASK_HANDLERS[kind], state)
        ) {
          throw new Error(
            `statemachines/${kind}.asl.json ${state}: a Task must invoke \${${workflowLambda(kind)}} with "task": "${state}" in its Parameters, and name a handler of functions/steps/index.ts`,
          );
        }
        handlers[state] = dispatch;
      }
      const waits = waitStates(definition);
      this.machines.set(kind, {
        // The ASL files are validated by test/unit/definitions.test.ts (as Step Functions does on
        // deploy); validating again here would cost half a second of every start.
        machine: new StateMachine(definition, { validationOptions: { noValidate: true } }),
        handlers,
        waits,
      });
    }
  }

  async start(kind: WorkflowName, name: string, input: WorkflowInput): Promise<string> {
    const entry = this.machines.get(kind);
    if (!entry) throw new Error(`no local state machine for ${kind}`);
    const ref = `local:${kind}:${name}:${randomUUID().slice(0, 8)}`;
    const { logger } = this.options;
    const waitTimeOverrides =
      this.options.waitTimeOverrideMs === undefined
        ? undefined
        : Object.fromEntries(entry.waits.map((w) => [w, this.options.waitTimeOverrideMs as number]));
    const execution = entry.machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: entry.handlers as never,
        ...(waitTimeOverrides ? { waitTimeOverrides } : {}),
      },
      context: {
        Execution: { Id: ref, Name: name, Input: input as never, StartTime: new Date().toISOString() },
      } as never,
      noThrowOnAbort: true,
    });
    const events = (async () => {
      for await (const event of execution.eventLogs) {
        const e = event as { type: string; state?: { name?: string }; Error?: string; Cause?: string };
        logger.debug("workflow event", {
          executionRef: ref,
          type: e.type,
          state: e.state?.name,
          error: e.Error,
        });
      }
    })().catch((error: unknown) => logger.warn("workflow event stream ended", { executionRef: ref, error }));
    const done = execution.result.then(
      () => logger.info("execution ended", { executionRef: ref, kind, progressId: input.progressId }),
      async (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        logger.info("execution failed", { executionRef: ref, progressId: input.progressId, message });
        await this.recordUnexpectedFailure(input, ref, name, error);
      },
    );
    let aborted = false;
    const outcome: Promise<ExecutionOutcome> = execution.result.then(
      (output: unknown) =>
        aborted ? { status: "ABORTED" as const } : { status: "SUCCEEDED" as const, output },
      (error: unknown) => {
        const e = error as { name?: string; message?: string; cause?: { name?: string; message?: string } };
        return {
          status: "FAILED" as const,
          error: e.cause?.name ?? e.name ?? "States.TaskFailed",
          cause: e.cause?.message ?? e.message ?? "",
        };
      },
    );
    const tracked: Running = {
      kind,
      input,
      abort: () => {
        aborted = true;
        execution.abort();
      },
      done: Promise.all([done, events]).then(() => undefined),
      outcome,
    };
    this.running.set(ref, tracked);
    void tracked.done.finally(() => this.running.delete(ref));
    return ref;
  }

  /**
   * A `states:startExecution.sync:2` Task: starts the named state machine with the Task's `Name`
   * and `Input` and waits for the execution's end, as Step Functions does; the Task succeeds with
   * the execution's output (`Output`, parsed: `:2`) or fails with `States.TaskFailed`.
   */
  private async runChildExecution(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const arn = String(input.StateMachineArn ?? "");
    const kind = LOCAL_STATE_MACHINE.exec(arn)?.[1] as WorkflowName | undefined;
    if (!kind || !this.machines.has(kind)) {
      throw new ChildExecutionError(
        "StepFunctions.StateMachineDoesNotExistException",
        `no state machine ${arn}`,
      );
    }
    const name = typeof input.Name === "string" ? input.Name : randomUUID();
    if (!/^[\w-]{1,80}$/.test(name)) {
      throw new ChildExecutionError("StepFunctions.InvalidNameException", `invalid execution name ${name}`);
    }
    const childInput = (input.Input ?? {}) as WorkflowInput;
    const ref = await this.start(kind, name, childInput);
    const running = this.running.get(ref);
    const ended = running ? await running.outcome : { status: "SUCCEEDED" as const, output: null };
    await running?.done;
    if (ended.status !== "SUCCEEDED") {
      throw new ChildExecutionError(
        "States.TaskFailed",
        JSON.stringify({ ExecutionArn: ref, Status: ended.status, Error: ended.error, Cause: ended.cause }),
      );
    }
    return { ExecutionArn: ref, Name: name, Status: "SUCCEEDED", Output: ended.output ?? null };
  }

  async stop(executionRef: string): Promise<void> {
    this.running.get(executionRef)?.abort();
  }

  async waitForEnd(executionRef: string, timeoutMs: number): Promise<void> {
    const running = this.running.get(executionRef);
    if (!running) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([running.done, timeout]);
    clearTimeout(timer);
  }

  /** Executions running now. */
  get activeCount(): number {
    return this.running.size;
  }

  /** Resolves when no execution is running (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Stops every execution (server shutdown: the runs stay `running` and resume at the next start). */
  async close(): Promise<void> {
    for (const r of this.running.values()) r.abort();
    await this.idle();
  }

  /**
   * An execution that failed or timed out, whether or not through the ASL's own Fail states: what
   * AWS reports as FAILED / TIMED_OUT. `recordExecutionEnded` records a failure the ASL did not
   * route to RecordFailure (States.Timeout, States.Runtime, ...) and leaves runs that are no longer
   * active alone. (An abort — cancel, shutdown — resolves the result: `noThrowOnAbort`.)
   */
  private async recordUnexpectedFailure(
    input: WorkflowInput,
    executionRef: string,
    executionName: string,
    error: unknown,
  ): Promise<void> {
    const e = error as { name?: string; message?: string; cause?: { name?: string; message?: string } };
    const timedOut = error instanceof ExecutionTimeoutError;
    try {
      await recordExecutionEnded(this.options.stepDeps, {
        progressId: input.progressId,
        executionRef,
        executionName,
        status: timedOut ? "TIMED_OUT" : "FAILED",
        error: timedOut ? "States.Timeout" : (e.cause?.name ?? e.name ?? null),
        cause: e.cause?.message ?? e.message ?? null,
      });
    } catch (recordError) {
      this.options.logger.error("could not record an execution failure", {
        progressId: input.progressId,
        error: recordError,
      });
    }
  }
}
