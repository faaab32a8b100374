/**
 * The deprovisioning and restore state machines (statemachines/*.asl.json) against the step
 * catalog, the error vocabulary and asl-validator; their routes run in-process with stub handlers
 * (aws-local-stepfunctions); and the grace period's clock.
 */
import "../../local/promise-with-resolvers.ts";
// @ts-expect-error -- asl-validator 4 ships no type declarations; `validate` below types it.
import aslValidator from "asl-validator";
import { StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";
import { describe, expect, it } from "vitest";
import {
  graceState,
  MAX_WAIT_MS,
  waitTimestamp,
} from "../../functions/domain/deprovisioning/deprovision-run.ts";
import { STEP_ERROR_NAMES } from "../../functions/shared/errors.ts";
import { TASK_HANDLERS } from "../../functions/steps/index.ts";
import { readDefinitionText, substitute, substitutionNames } from "../../functions/workflows/definitions.ts";
import {
  DEPROVISIONING_STEPS,
  functionArnSubstitution,
  RESTORE_STEPS,
  type StepDefinition,
  WORKFLOW_TASKS,
  type WorkflowName,
  workflowLambda,
} from "../../functions/workflows/step-catalog.ts";

const validate = aslValidator as (definition: unknown) => { isValid: boolean; errors: unknown[] };

interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  Default?: string;
  ResultPath?: string | null;
  TimestampPath?: string;
  Parameters?: Record<string, unknown>;
  TimeoutSeconds?: number;
  Choices?: { Variable: string; StringEquals?: string; BooleanEquals?: boolean; Next: string }[];
  Retry?: {
    ErrorEquals: string[];
    IntervalSeconds?: number;
    BackoffRate?: number;
    MaxAttempts?: number;
    MaxDelaySeconds?: number;
    JitterStrategy?: string;
  }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
}

function load(kind: WorkflowName) {
  const text = readDefinitionText(kind);
  return { text, states: (JSON.parse(text) as { States: Record<string, State> }).States };
}

/** The definition with every `${XFunctionArn}` replaced by a local Lambda ARN named after the module. */
function runnable(text: string): StateMachineDefinition {
  const arns = Object.fromEntries(
    substitutionNames(text).map((n) => [n, `arn:aws:lambda:eu-west-1:000000000000:function:${n}`]),
  );
  return JSON.parse(substitute(text, arns)) as StateMachineDefinition;
}

const WORKFLOWS: [WorkflowName, readonly StepDefinition[], string][] = [
  ["deprovisioning", DEPROVISIONING_STEPS, "BackupData"],
  ["restore", RESTORE_STEPS, "VerifyBackup"],
];

describe.each(WORKFLOWS)("the %s state machine", (kind, steps, first) => {
  const { text, states } = load(kind);

  it("is valid ASL", () => {
    // Act
    const result = validate(runnable(text));

    // Assess
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it("has one Task per catalog step, bound to its Lambda, retried on TransientError, caught into RecordFailure", () => {
    for (const step of steps) {
      const state = states[step.name];
      expect(state?.Type, step.name).toBe("Task");
      expect(state!.Resource).toBe(`\${${functionArnSubstitution(workflowLambda(kind))}}`);
      expect(state!.Parameters).toMatchObject({
        task: step.name,
        "progressId.$": "$.progressId",
        step: step.name,
      });
      expect(state!.Retry?.[0]?.ErrorEquals).toEqual(
        expect.arrayContaining(["TransientError", "Lambda.ServiceException"]),
      );
      expect(state!.Catch?.map((c) => [c.ErrorEquals, c.Next])).toEqual([
        [["RunCancelledError"], "Cancelled"],
        [["States.ALL"], "RecordFailure"],
      ]);
    }
    expect(states.Cancelled?.Type).toBe("Fail");
    expect(states[states.RecordFailure!.Next!]?.Type).toBe("Fail");
  });

  it("retries DatabaseUnavailableError on every Task with waits long enough for an Aurora resume", () => {
    // Prepare
    const tasks = Object.entries(states).filter(([, s]) => s.Type === "Task");

    // Assess
    expect(tasks.length).toBeGreaterThan(steps.length);
    for (const [name, state] of tasks) {
      const retrier = state.Retry?.find((r) => r.ErrorEquals.includes("DatabaseUnavailableError"));
      expect(retrier, name).toBeDefined();
      const { IntervalSeconds = 1, BackoffRate = 2, MaxAttempts = 3, MaxDelaySeconds } = retrier!;
      // Step Functions waits IntervalSeconds × BackoffRate^n (capped) before retry n + 1.
      const waits = Array.from({ length: MaxAttempts }, (_, n) =>
        Math.min(IntervalSeconds * BackoffRate ** n, MaxDelaySeconds ?? Number.POSITIVE_INFINITY),
      );
      expect(retrier!.ErrorEquals, name).toEqual(["DatabaseUnavailableError"]);
      expect(retrier!.JitterStrategy ?? "NONE", `${name}: no jitter shortens a wait`).toBe("NONE");
      expect(waits[0], name).toBeGreaterThanOrEqual(15);
      expect(
        waits.reduce((a, b) => a + b, 0),
        name,
      ).toBeGreaterThanOrEqual(60);
    }
  });

  it("has exactly the catalog's Tasks, each invoking the workflow's one Lambda and naming itself", () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === "Task");

    expect(tasks.map(([n]) => n).sort()).toEqual([...WORKFLOW_TASKS[kind]].sort());
    for (const [name, state] of tasks) {
      expect(state.Resource, name).toBe(`\${${functionArnSubstitution(workflowLambda(kind))}}`);
      expect(state.Parameters?.task, name).toBe(name);
      expect(Object.keys(TASK_HANDLERS[kind]), name).toContain(name);
    }
  });

  it("names only its workflow's Lambda and errors of the error vocabulary", () => {
    // Prepare
    const known = new Set([functionArnSubstitution(workflowLambda(kind))]);
    const errorNames = new Set<string>();
    for (const s of Object.values(states)) {
      for (const r of [...(s.Retry ?? []), ...(s.Catch ?? [])])
        for (const e of r.ErrorEquals) errorNames.add(e);
    }

    // Assess
    for (const name of substitutionNames(text)) expect(known.has(name), name).toBe(true);
    for (const e of errorNames) {
      expect(
        e.startsWith("States.") ||
          e.startsWith("Lambda.") ||
          (STEP_ERROR_NAMES as readonly string[]).includes(e),
        e,
      ).toBe(true);
    }
  });

  it("starts at the step the input names, and at the first step by default", () => {
    const choose = states.ChooseStartStep!;
    // A step run as a loop is entered through the Pass state that starts its count.
    const entry = states[choose.Default!]!;
    expect(entry.Type === "Pass" ? entry.Next : choose.Default).toBe(first);
    const targets = new Map(choose.Choices!.map((c) => [c.StringEquals, c.Next]));
    for (const step of steps.slice(1)) expect(targets.has(step.name), step.name).toBe(true);
  });
});

describe("the deprovisioning route", () => {
  const { text, states } = load("deprovisioning");

  it("waits out the grace period before CleanupData, also when a run resumes there", () => {
    const targets = new Map(states.ChooseStartStep!.Choices!.map((c) => [c.StringEquals, c.Next]));
    expect(targets.get("CleanupData")).toBe("CheckGracePeriod");
    expect(targets.get("StartScheduledRun")).toBe("StartScheduledRun");
    expect(states.DisableAccess).toMatchObject({ ResultPath: "$.grace", Next: "GracePeriod" });
    expect(states.GracePeriod).toMatchObject({
      Type: "Wait",
      TimestampPath: "$.grace.waitUntil",
      Next: "CheckGracePeriod",
    });
    expect(states.CheckGracePeriod).toMatchObject({ ResultPath: "$.grace", Next: "GracePeriodOver" });
    expect(states.GracePeriodOver).toMatchObject({ Default: "GracePeriod" });
    expect(states.GracePeriodOver!.Choices).toEqual([
      { Variable: "$.grace.over", BooleanEquals: true, Next: "CleanupData" },
    ]);
    expect(states.CompleteRun!.Parameters).toMatchObject({ kind: "deprovision" });
  });

  async function run(
    input: Record<string, unknown>,
    checks: boolean[],
    backupIterations = 1,
    loops: unknown[] = [],
  ): Promise<string[]> {
    const calls: string[] = [];
    const handler = (name: string) => async (event: Record<string, unknown>) => {
      calls.push(name);
      if (name === "BackupData") {
        loops.push({ executionRef: event.executionRef, loop: event.loop });
        const iteration = (event.loop as { iteration: number }).iteration + 1;
        return { step: name, outcome: "continuing", done: iteration >= backupIterations, iteration };
      }
      if (name === "StartScheduledRun") {
        expect(event.scheduledOperationId).toBe("op-1");
        return { progressId: "op-1", startAt: "BackupData", notifyUsers: false };
      }
      if (name === "DisableAccess" || name === "CheckGracePeriod") {
        const over = name === "DisableAccess" ? false : (checks.shift() ?? true);
        return { deleteAfter: "2030-01-01T00:00:00Z", waitUntil: "2020-01-01T00:00:00Z", over };
      }
      return { step: name };
    };
    const names = [
      "StartScheduledRun",
      ...DEPROVISIONING_STEPS.map((s) => s.name),
      "CheckGracePeriod",
      "CompleteRun",
      "RecordFailure",
    ];
    const machine = new StateMachine(runnable(text), { validationOptions: { checkArn: false } });
    const execution = machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(names.map((n) => [n, handler(n)])) as never,
        waitTimeOverrides: { GracePeriod: 0 },
      },
      context: { Execution: { Id: "arn:aws:states:eu-west-1:1:execution:deprovisioning:x" } } as never,
    });
    await execution.result;
    return calls;
  }

  it("runs every step in order, NotifyUsers only when asked, and checks the grace period until it is over", async () => {
    // Act
    const withNotice = await run({ progressId: "p", startAt: "BackupData", notifyUsers: true }, [
      false,
      false,
      true,
    ]);
    const without = await run({ progressId: "p", startAt: "BackupData", notifyUsers: false }, [true]);

    // Assess
    expect(withNotice).toEqual([
      "BackupData",
      "NotifyUsers",
      "DisableAccess",
      "CheckGracePeriod",
      "CheckGracePeriod",
      "CheckGracePeriod",
      "CleanupData",
      "CleanupAuditLogs",
      "CompleteRun",
    ]);
    expect(without).toEqual([
      "BackupData",
      "DisableAccess",
      "CheckGracePeriod",
      "CleanupData",
      "CleanupAuditLogs",
      "CompleteRun",
    ]);
  });

  it("starts a scheduled execution by claiming its schedule, and a resumed one past the grace check", async () => {
    // Act
    const scheduled = await run(
      { progressId: "op-1", scheduledOperationId: "op-1", startAt: "StartScheduledRun" },
      [true],
    );
    const resumed = await run({ progressId: "p", startAt: "CleanupData", notifyUsers: false }, [true]);

    // Assess
    expect(scheduled).toEqual([
      "StartScheduledRun",
      "BackupData",
      "DisableAccess",
      "CheckGracePeriod",
      "CleanupData",
      "CleanupAuditLogs",
      "CompleteRun",
    ]);
    expect(resumed).toEqual(["CheckGracePeriod", "CleanupData", "CleanupAuditLogs", "CompleteRun"]);
  });
});

describe("steps run as a loop", () => {
  it("BackupData is entered until it answers done, with the execution and the iteration, then the run goes on", async () => {
    // Prepare
    const { text, states } = load("deprovisioning");
    const calls: string[] = [];
    const loops: unknown[] = [];
    const handler = (name: string) => async (event: Record<string, unknown>) => {
      calls.push(name);
      if (name === "BackupData") {
        loops.push({ executionRef: event.executionRef, loop: event.loop });
        const iteration = (event.loop as { iteration: number }).iteration + 1;
        return { step: name, done: iteration >= 3, iteration };
      }
      if (name === "DisableAccess" || name === "CheckGracePeriod")
        return { waitUntil: "2020-01-01T00:00:00Z", over: true };
      return { step: name };
    };
    const names = [
      ...DEPROVISIONING_STEPS.map((s) => s.name),
      "CheckGracePeriod",
      "CompleteRun",
      "RecordFailure",
    ];
    const machine = new StateMachine(runnable(text), { validationOptions: { checkArn: false } });

    // Act
    await machine.run({ progressId: "p", startAt: "BackupData", notifyUsers: false } as never, {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(names.map((n) => [n, handler(n)])) as never,
        waitTimeOverrides: { GracePeriod: 0 },
      },
      context: { Execution: { Id: "arn:aws:states:eu-west-1:1:execution:deprovisioning:x" } } as never,
    }).result;

    // Assess
    expect(calls.slice(0, 4)).toEqual(["BackupData", "BackupData", "BackupData", "DisableAccess"]);
    expect(loops.map((l: any) => l.loop.iteration)).toEqual([0, 1, 2]);
    expect(loops.map((l: any) => l.executionRef)).toEqual(
      Array(3).fill("arn:aws:states:eu-west-1:1:execution:deprovisioning:x"),
    );
    expect(states.BackupDataDone).toMatchObject({ Type: "Choice", Default: "ShouldNotifyUsers" });
    expect(states.BackupData!.TimeoutSeconds).toBeLessThanOrEqual(300);
  });

  it("RestoreData is entered until it answers done, also when a run resumes at it", async () => {
    // Prepare
    const { text, states } = load("restore");
    const run = async (startAt: string) => {
      const calls: string[] = [];
      const handler = (name: string) => async (event: Record<string, unknown>) => {
        calls.push(name);
        if (name !== "RestoreData") return { step: name };
        const iteration = (event.loop as { iteration: number }).iteration + 1;
        return { step: name, done: iteration >= 2, iteration };
      };
      const names = [...RESTORE_STEPS.map((s) => s.name), "CompleteRun", "RecordFailure"];
      const machine = new StateMachine(runnable(text), { validationOptions: { checkArn: false } });
      await machine.run({ progressId: "p", startAt } as never, {
        overrides: {
          taskResourceLocalHandlers: Object.fromEntries(names.map((n) => [n, handler(n)])) as never,
        },
        context: { Execution: { Id: "x" } } as never,
      }).result;
      return calls;
    };

    // Act
    const fresh = await run("VerifyBackup");
    const resumed = await run("RestoreData");

    // Assess
    expect(fresh).toEqual(["VerifyBackup", "RestoreData", "RestoreData", "CompleteRun"]);
    expect(resumed).toEqual(["RestoreData", "RestoreData", "CompleteRun"]);
    expect(states.RestoreDataDone).toMatchObject({ Type: "Choice", Default: "CompleteRun" });
  });
});

describe("the grace period's clock", () => {
  const now = new Date("2030-03-01T12:00:00.400Z");

  it("waits at most a day at a time, and is over once deleteAfter has passed", () => {
    // Act
    const long = graceState("2031-03-01T12:00:00Z", now);
    const short = graceState("2030-03-01T13:00:00Z", now);
    const past = graceState("2030-03-01T11:00:00Z", now);

    // Assess
    expect(Date.parse(long.waitUntil) - now.getTime()).toBeLessThanOrEqual(MAX_WAIT_MS + 1000);
    expect(long.over).toBe(false);
    expect(short).toEqual({
      deleteAfter: "2030-03-01T13:00:00Z",
      waitUntil: "2030-03-01T13:00:00Z",
      over: false,
    });
    expect(past.over).toBe(true);
  });

  it("writes RFC 3339 timestamps in whole seconds, rounded up", () => {
    expect(waitTimestamp(Date.parse("2030-03-01T12:00:00.400Z"))).toBe("2030-03-01T12:00:01Z");
    expect(waitTimestamp(Date.parse("2030-03-01T12:00:00.000Z"))).toBe("2030-03-01T12:00:00Z");
  });
});
