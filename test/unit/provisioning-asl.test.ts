/**
 * The provisioning state machine (statemachines/provisioning.asl.json) against the step catalog,
 * the error vocabulary and asl-validator; and the Step Functions runner that starts it in AWS.
 */
import {
  ExecutionDoesNotExist,
  InvalidArn,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
// @ts-expect-error -- asl-validator 4 ships no type declarations; `validate` below types it.
import aslValidator from "asl-validator";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { STEP_ERROR_NAMES } from "../../functions/shared/errors.ts";
import { TASK_HANDLERS } from "../../functions/steps/index.ts";
import {
  applyRetryPolicy,
  readDefinitionText,
  substitute,
  substitutionNames,
} from "../../functions/workflows/definitions.ts";
import { SfnWorkflowRunner } from "../../functions/workflows/sfn-workflow-runner.ts";
import {
  BOOKKEEPING_TASKS,
  functionArnSubstitution,
  PROVISIONING_STEPS,
  WORKFLOW_TASKS,
  workflowLambda,
} from "../../functions/workflows/step-catalog.ts";
import type { WorkflowInput } from "../../functions/workflows/workflow-runner.ts";

const validate = aslValidator as (definition: unknown) => {
  isValid: boolean;
  errors: { message?: string; [key: string]: unknown }[];
};

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  BackoffRate?: number;
  MaxAttempts?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}
interface State {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Variable: string; StringEquals?: string; Next: string }[];
  Retry?: Retrier[];
  Catch?: Catcher[];
  ItemProcessor?: { StartAt: string; States: Record<string, State> };
}
interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

const TEXT = readDefinitionText("provisioning");
const ASL = JSON.parse(TEXT) as Definition;
const STATES = ASL.States;

/** Every state, nested ones (Map item processors) included, by name. */
function allStates(states: Record<string, State> = STATES): Map<string, State> {
  const found = new Map<string, State>();
  for (const [name, state] of Object.entries(states)) {
    found.set(name, state);
    if (state.ItemProcessor) for (const [n, s] of allStates(state.ItemProcessor.States)) found.set(n, s);
  }
  return found;
}

const tasks = [...allStates()].filter(([, s]) => s.Type === "Task");

/** The Task state that runs a catalog step (the Map's inner Task for a Map step). */
function taskOf(stepName: string): [string, State] {
  const state = STATES[stepName];
  if (!state) throw new Error(`no state ${stepName}`);
  if (state.Type === "Map") {
    const inner = Object.entries(state.ItemProcessor!.States).filter(([, s]) => s.Type === "Task");
    expect(inner, `${stepName} runs one Task per item`).toHaveLength(1);
    return inner[0]!;
  }
  return [stepName, state];
}

const transientRetrier = (state: State) => state.Retry?.find((r) => r.ErrorEquals.includes("TransientError"));
const unavailableRetrier = (state: State) =>
  state.Retry?.find((r) => r.ErrorEquals.includes("DatabaseUnavailableError"));

/**
 * What is wrong with a Task's DatabaseUnavailableError retrier for riding out an Aurora resume
 * (15-30 s) - nothing when the list is empty. Step Functions waits IntervalSeconds × BackoffRate^n
 * (capped by MaxDelaySeconds) before retry n+1; full jitter could shorten any wait to nearly 0.
 */
function unavailableRetrierProblems(state: State): string[] {
  const r = unavailableRetrier(state);
  if (!r) return ["no DatabaseUnavailableError retrier"];
  const problems: string[] = [];
  if (r.ErrorEquals.length !== 1) problems.push(`it also matches ${r.ErrorEquals.join(", ")}`);
  if (r.JitterStrategy !== undefined && r.JitterStrategy !== "NONE")
    problems.push("jitter shortens its waits");
  const waits = Array.from({ length: r.MaxAttempts ?? 3 }, (_, n) =>
    Math.min(
      (r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** n,
      r.MaxDelaySeconds ?? Number.POSITIVE_INFINITY,
    ),
  );
  if ((waits[0] ?? 0) < 15) problems.push(`first wait ${waits[0] ?? 0} s < 15 s`);
  const total = waits.reduce((a, b) => a + b, 0);
  if (total < 60) problems.push(`all retries wait ${total} s < 60 s`);
  return problems;
}

describe("statemachines/provisioning.asl.json", () => {
  it("is valid ASL according to asl-validator, as written and with ARNs substituted", () => {
    // Prepare
    const arns = Object.fromEntries(
      substitutionNames(TEXT).map((n) => [n, `arn:aws:lambda:eu-west-1:123456789012:function:tp-${n}`]),
    );

    // Act
    const raw = validate(JSON.parse(TEXT));
    const substituted = validate(JSON.parse(substitute(TEXT, arns)));

    // Assess
    expect(raw.errors).toEqual([]);
    expect(raw.isValid).toBe(true);
    expect(substituted.errors).toEqual([]);
    expect(substituted.isValid).toBe(true);
  });

  it("asl-validator rejects a broken definition (the check above can fail)", () => {
    // Prepare
    const broken = structuredClone(ASL);
    broken.States.CreateTenant!.Next = "NoSuchState";

    // Act
    const result = validate(broken);

    // Assess
    expect(result.isValid).toBe(false);
  });

  it("gives every Task a Lambda ARN substitution (…FunctionArn) as its resource", () => {
    // Assess
    expect(tasks.length).toBeGreaterThan(0);
    for (const [name, state] of tasks) {
      expect(state.Resource, name).toMatch(/^\$\{[A-Z][A-Za-z]*FunctionArn\}$/);
    }
  });

  it("has exactly the catalog's Task states, each invoking the workflow's one Lambda and naming itself", () => {
    // Prepare: one Task per provisioning step (a Map step's inner Task), plus the bookkeeping Tasks.
    const steps = PROVISIONING_STEPS.map((step) => taskOf(step.name)[0]);
    const others = tasks.map(([n]) => n).filter((n) => !steps.includes(n));

    // Assess
    expect(steps).toContain("PostProvisioningStep");
    expect(STATES.PostProvisioningSteps!.Type).toBe("Map");
    for (const name of steps) expect(allStates().get(name)?.Type, name).toBe("Task");
    expect(others.sort()).toEqual(["CompleteRun", "RecordFailure", "StartScheduledRun"]);
    for (const name of others) expect(BOOKKEEPING_TASKS, `${name} is a bookkeeping Task`).toContain(name);
    expect(tasks.map(([n]) => n).sort()).toEqual([...WORKFLOW_TASKS.provisioning].sort());
    for (const [name, state] of tasks) {
      expect(state.Resource, name).toBe(`\${${functionArnSubstitution(workflowLambda("provisioning"))}}`);
      // aws-local-stepfunctions has no $$.State.Name: the Task names itself for the dispatch.
      expect(state.Parameters?.task, name).toBe(name);
      expect(Object.keys(TASK_HANDLERS.provisioning), name).toContain(name);
    }
  });

  it("retries TransientError natively on every step and catches everything else into RecordFailure → Fail", () => {
    for (const step of PROVISIONING_STEPS) {
      // Prepare
      const state = STATES[step.name]!;
      const [, task] = taskOf(step.name);
      const retrier = transientRetrier(task);

      // Assess
      expect(retrier, `${step.name} retries TransientError`).toBeDefined();
      expect(retrier!.IntervalSeconds, step.name).toBeGreaterThanOrEqual(1);
      expect(retrier!.BackoffRate, step.name).toBeGreaterThanOrEqual(1);
      expect(retrier!.MaxAttempts, step.name).toBeGreaterThanOrEqual(1);
      expect(retrier!.JitterStrategy, step.name).toBe("FULL");
      // A retrier that also caught everything would retry permanent errors.
      expect(retrier!.ErrorEquals, step.name).not.toContain("States.ALL");
      const catchAll = state.Catch?.find((c) => c.ErrorEquals.includes("States.ALL"));
      expect(catchAll?.Next, `${step.name} catches into RecordFailure`).toBe("RecordFailure");
      // The error reaches RecordFailure beside the input (progressId stays readable).
      expect(catchAll?.ResultPath, step.name).toMatch(/^\$\.\w+$/);
      expect(state.Catch!.at(-1), `${step.name}: States.ALL comes last`).toBe(catchAll);
    }
    const recordFailure = STATES.RecordFailure!;
    expect(recordFailure.Type).toBe("Task");
    expect(STATES[recordFailure.Next!]!.Type).toBe("Fail");
  });

  it("retries DatabaseUnavailableError on every Task, bookkeeping included, long enough for an Aurora resume", () => {
    // Assess
    expect(tasks.length).toBeGreaterThan(0);
    for (const [name, state] of tasks) {
      expect(unavailableRetrierProblems(state), name).toEqual([]);
      // Its own retrier: a resume wait does not use up the TransientError retries, nor the reverse.
      expect(unavailableRetrier(state), name).not.toBe(transientRetrier(state));
    }
  });

  it("the resume check flags a retrier too short or jittered (the check above can fail)", () => {
    // Prepare
    const short = structuredClone(STATES.CreateTenant!);
    Object.assign(unavailableRetrier(short)!, { IntervalSeconds: 2 });
    const jittered = structuredClone(STATES.CreateTenant!);
    Object.assign(unavailableRetrier(jittered)!, { JitterStrategy: "FULL" });
    const missing = structuredClone(STATES.CreateTenant!);
    missing.Retry = missing.Retry!.filter((r) => !r.ErrorEquals.includes("DatabaseUnavailableError"));

    // Assess
    expect(unavailableRetrierProblems(short)).toContain("first wait 2 s < 15 s");
    expect(unavailableRetrierProblems(jittered)).toEqual(["jitter shortens its waits"]);
    expect(unavailableRetrierProblems(missing)).toEqual(["no DatabaseUnavailableError retrier"]);
  });

  it("runs the steps in the catalog's order, then CompleteRun and a Succeed state", () => {
    // Prepare
    const order: string[] = [];
    let current: string | undefined = STATES.ChooseStartStep!.Default;

    // Act
    while (current && STATES[current]?.Type !== "Succeed") {
      order.push(current);
      current = STATES[current]!.Next;
    }

    // Assess
    expect(order).toEqual([...PROVISIONING_STEPS.map((s) => s.name), "CompleteRun"]);
    expect(current && STATES[current]!.Type).toBe("Succeed");
  });

  it("starts at a Choice that can start at every step, or claim a schedule first", () => {
    // Prepare
    const choice = STATES[ASL.StartAt]!;

    // Assess
    expect(choice.Type).toBe("Choice");
    const targets = new Set([...(choice.Choices ?? []).map((c) => c.Next), choice.Default]);
    expect([...targets].sort()).toEqual(
      [...PROVISIONING_STEPS.map((s) => s.name), "StartScheduledRun"].sort(),
    );
    // A scheduled execution claims its schedule, then goes on at the first step; if the claim
    // fails nothing was created, so it fails without RecordFailure.
    const scheduled = STATES.StartScheduledRun!;
    expect(scheduled.Next).toBe(PROVISIONING_STEPS[0].name);
    expect(scheduled.Catch?.map((c) => c.Next)).toEqual(["ScheduleNotStarted"]);
    expect(STATES.ScheduleNotStarted!.Type).toBe("Fail");
    for (const c of choice.Choices ?? []) {
      expect(c.Variable).toBe("$.startAt");
      expect(c.StringEquals, "each choice starts at the step it names").toBe(c.Next);
    }
    expect(choice.Default).toBe(PROVISIONING_STEPS[0].name);
  });

  it("matches only error names of functions/shared/errors.ts (besides States.* and Lambda.*)", () => {
    // Prepare
    const names = new Set<string>();
    for (const [, state] of allStates()) {
      for (const r of [...(state.Retry ?? []), ...(state.Catch ?? [])]) {
        for (const n of r.ErrorEquals) names.add(n);
      }
    }
    const own = [...names].filter((n) => !n.startsWith("States.") && !n.startsWith("Lambda."));

    // Assess
    expect(own).toContain("TransientError");
    expect(own).toContain("RunCancelledError");
    for (const n of own) expect(STEP_ERROR_NAMES as readonly string[], n).toContain(n);
  });

  it("applyRetryPolicy sets every TransientError retrier to the policy and leaves the input alone", () => {
    // Prepare
    const policy = { intervalSeconds: 7, backoffRate: 1.5, maxAttempts: 9, maxDelaySeconds: 11 };
    const before = JSON.stringify(ASL);

    // Act
    const changed = applyRetryPolicy(ASL, policy);

    // Assess
    expect(JSON.stringify(ASL)).toBe(before);
    const retriers = [...allStates(changed.States)].flatMap(([, s]) => s.Retry ?? []);
    const transient = retriers.filter((r) => r.ErrorEquals.includes("TransientError"));
    expect(transient.length).toBe(tasks.length);
    for (const r of transient) {
      expect(r).toMatchObject({
        IntervalSeconds: 7,
        BackoffRate: 1.5,
        MaxAttempts: 9,
        MaxDelaySeconds: 11,
        JitterStrategy: "FULL",
      });
    }
    const original = [...allStates()].flatMap(([, s]) => s.Retry ?? []);
    expect(
      original.filter((r) => r.ErrorEquals.includes("TransientError")).every((r) => r.IntervalSeconds !== 7),
    ).toBe(true);
    // Without a policy of its own, the DatabaseUnavailableError retrier keeps the ASL's values.
    const unavailable = (d: Definition) =>
      [...allStates(d.States)]
        .flatMap(([, s]) => s.Retry ?? [])
        .filter((r) => r.ErrorEquals.includes("DatabaseUnavailableError"));
    expect(unavailable(changed)).toEqual(unavailable(ASL));
  });

  it("applyRetryPolicy sets every DatabaseUnavailableError retrier to its own policy, apart from TransientError's", () => {
    // Prepare
    const transient = { intervalSeconds: 1, backoffRate: 1, maxAttempts: 20, maxDelaySeconds: 1 };
    const unavailable = { intervalSeconds: 3, backoffRate: 1.5, maxAttempts: 6, maxDelaySeconds: 9 };

    // Act
    const changed = applyRetryPolicy(ASL, transient, unavailable);

    // Assess
    const retriers = [...allStates(changed.States)].flatMap(([, s]) => s.Retry ?? []);
    const byName = (name: string) => retriers.filter((r) => r.ErrorEquals.includes(name));
    expect(byName("DatabaseUnavailableError")).toHaveLength(tasks.length);
    for (const r of byName("DatabaseUnavailableError")) {
      expect(r).toEqual({
        ErrorEquals: ["DatabaseUnavailableError"],
        IntervalSeconds: 3,
        BackoffRate: 1.5,
        MaxAttempts: 6,
        MaxDelaySeconds: 9,
      });
    }
    for (const r of byName("TransientError"))
      expect(r).toMatchObject({ IntervalSeconds: 1, MaxAttempts: 20 });
  });
});

describe("SfnWorkflowRunner", () => {
  const sfn = mockClient(SFNClient);
  const ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:tp-provisioning";
  const runner = () => new SfnWorkflowRunner(new SFNClient({}), { provisioning: ARN });

  afterEach(() => {
    sfn.reset();
  });

  it("starts an execution of the kind's state machine with the name and the JSON input", async () => {
    // Prepare
    const executionArn = "arn:aws:states:eu-west-1:123456789012:execution:tp-provisioning:run-1";
    sfn.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date() });
    const input: WorkflowInput = {
      progressId: "0e597b4e-27ef-45a1-b84e-b1a65dd5fbc8",
      startAt: "CreateTenant",
      postProvisioningSteps: ["send-welcome-notification"],
    };

    // Act
    const ref = await runner().start("provisioning", "0e597b4e-1-1700000000000", input);

    // Assess
    expect(ref).toBe(executionArn);
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    const sent = calls[0]!.args[0].input;
    expect(sent.stateMachineArn).toBe(ARN);
    expect(sent.name).toBe("0e597b4e-1-1700000000000");
    expect(JSON.parse(sent.input!)).toEqual(input);
    expect(sent.input).not.toMatch(/password|secret|hash/i);
  });

  it("keeps execution names within Step Functions' 80 characters", async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:x`, startDate: new Date() });

    // Act
    await runner().start("provisioning", "n".repeat(120), { progressId: "p", startAt: "CreateTenant" });

    // Assess
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.name).toBe("n".repeat(80));
  });

  it("throws for a workflow kind with no state machine, sending nothing", async () => {
    // Act
    const started = runner().start("deprovisioning", "run-1", { progressId: "p", startAt: "x" });

    // Assess
    await expect(started).rejects.toThrow(/deprovisioning/);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("stops an execution by its ARN with the cause", async () => {
    // Prepare
    const executionArn = `${ARN.replace("stateMachine", "execution")}:run-1`;
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });

    // Act
    await runner().stop(executionArn, "cancelled by an operator");

    // Assess
    const calls = sfn.commandCalls(StopExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({ executionArn, cause: "cancelled by an operator" });
  });

  it("treats stopping an execution that does not exist (any more) as done", async () => {
    // Prepare
    sfn
      .on(StopExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: "Execution Does Not Exist", $metadata: {} }));

    // Act
    const stopped = runner().stop(`${ARN}:gone`, "cancelled");

    // Assess
    await expect(stopped).resolves.toBeUndefined();
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(1);
  });

  it("passes other StopExecution errors on", async () => {
    // Prepare
    sfn.on(StopExecutionCommand).rejects(new InvalidArn({ message: "Invalid Arn", $metadata: {} }));

    // Act
    const stopped = runner().stop("not-an-arn", "cancelled");

    // Assess
    await expect(stopped).rejects.toBeInstanceOf(InvalidArn);
  });
});
