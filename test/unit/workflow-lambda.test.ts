/**
 * A workflow's one Lambda (functions/steps/step-lambda.ts): it runs the Task its input names and
 * holds each Task to that Task's own deadline, though its configured timeout is the longest Task's.
 */
import { describe, expect, it } from "vitest";
import type { StepDeps } from "../../functions/domain/steps/step-deps.ts";
import { ValidationError } from "../../functions/shared/errors.ts";
import { TASK_HANDLERS } from "../../functions/steps/index.ts";
import { workflowLambda } from "../../functions/steps/step-lambda.ts";
import { readDefinitionText } from "../../functions/workflows/definitions.ts";
import {
  functionArnSubstitution,
  workflowLambda as lambdaOf,
  WORKFLOW_TASKS,
} from "../../functions/workflows/step-catalog.ts";
import { aslTasks, taskDeadlines } from "../../functions/workflows/task-timeouts.ts";
import { workflowKinds } from "../../lib/lambda-entries.ts";

/** Dependencies that never arrive: the Task's work is still waiting when its deadline passes. */
const never = () => new Promise<StepDeps>(() => {});

describe("a workflow Lambda", () => {
  it("ends the invocation when the Task passes its own deadline, and names the Task", async () => {
    // Prepare
    const passed: [string, number][] = [];
    const handler = workflowLambda("provisioning", {
      deps: never,
      deadlines: new Map([["CompleteRun", 0.05]]),
      onDeadline: (task, seconds) => passed.push([task, seconds]),
    });

    // Act
    void handler({ task: "CompleteRun", progressId: "p", kind: "provision" });
    await new Promise((r) => setTimeout(r, 150));

    // Assess
    expect(passed).toEqual([["CompleteRun", 0.05]]);
  });

  it("takes each Task's deadline from the ASL: shorter for a 60 s bookkeeping Task than for a step", () => {
    const deadlines = taskDeadlines("provisioning");

    expect(deadlines.get("CompleteRun")).toBe(50);
    expect(deadlines.get("RunMigrations")).toBe(285);
    expect(deadlines.get("PostProvisioningStep")).toBe(285);
  });

  it("refuses an input that names no Task, or a Task of another workflow", async () => {
    const options = { deps: async () => ({}) as StepDeps, deadlines: new Map<string, number>() };

    await expect(workflowLambda("restore", options)({ progressId: "p" })).rejects.toThrow(ValidationError);
    await expect(
      workflowLambda("restore", options)({ task: "CreateTenant", progressId: "p" }),
    ).rejects.toThrow(/the restore workflow has no Task CreateTenant/);
  });

  it("runs every Lambda Task of every workflow (Map iterations too), each naming itself, nothing else", () => {
    for (const kind of workflowKinds()) {
      const definition = readDefinitionText(kind);
      const tasks = aslTasks(kind, definition);
      expect(tasks.map((t) => t.state).sort(), kind).toEqual([...WORKFLOW_TASKS[kind]].sort());
      expect(Object.keys(TASK_HANDLERS[kind]).sort(), kind).toEqual([...WORKFLOW_TASKS[kind]].sort());
      for (const t of tasks)
        expect(t.placeholder, `${kind} ${t.state}`).toBe(functionArnSubstitution(lambdaOf(kind)));
      const named = [...definition.matchAll(/"task": "(\w+)"/g)].map((m) => m[1]);
      expect(named.sort(), kind).toEqual(tasks.map((t) => t.state).sort());
    }
  });
});
