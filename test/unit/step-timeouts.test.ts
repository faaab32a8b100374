/**
 * Step Lambda timeouts derived from the ASL (lib/step-timeouts.ts): one Lambda per workflow runs
 * every Task of it, so it gets what its longest Task needs (never above Lambda's 900 s), and each
 * Task is held to its own deadline inside the function (functions/steps/step-lambda.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { workflowLambda } from "../../functions/workflows/step-catalog.ts";
import { taskDeadlines } from "../../functions/workflows/task-timeouts.ts";
import { workflowKinds } from "../../lib/lambda-entries.ts";
import {
  lambdaTimeoutSeconds,
  shortestTaskDeadlines,
  stepLambdaTimeouts,
  taskStates,
} from "../../lib/step-timeouts.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A statemachines/ directory holding one provisioning.asl.json with these states. */
function aslDir(states: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "asl-"));
  dirs.push(dir);
  writeFileSync(
    join(dir, "provisioning.asl.json"),
    JSON.stringify({ StartAt: Object.keys(states)[0], States: states }),
  );
  return dir;
}

const task = (lambda: string, timeout?: number, next?: string) => ({
  Type: "Task",
  Resource: `\${${lambda}FunctionArn}`,
  ...(timeout === undefined ? {} : { TimeoutSeconds: timeout }),
  ...(next ? { Next: next } : { End: true }),
});

describe("step Lambda timeouts", () => {
  it("leave 5 % (at least 10 s) of the state's timeout, and never pass 900 s", () => {
    expect(lambdaTimeoutSeconds(60)).toBe(50);
    expect(lambdaTimeoutSeconds(300)).toBe(285);
    expect(lambdaTimeoutSeconds(900)).toBe(855);
    expect(lambdaTimeoutSeconds(3600)).toBe(900);
    expect(() => lambdaTimeoutSeconds(10)).toThrow(/leaves its Lambda no time/);
  });

  it("take the largest TimeoutSeconds of the Tasks that share a Lambda, Map iterations included", () => {
    // Prepare
    const dir = aslDir({
      First: task("CompleteRun", 300, "Each"),
      Each: {
        Type: "Map",
        ItemProcessor: { StartAt: "Inner", States: { Inner: task("CompleteRun", 60) } },
        Next: "Other",
      },
      Other: task("RecordFailure", 120),
    });

    // Act
    const timeouts = stepLambdaTimeouts(["provisioning"], dir);

    // Assess
    expect(taskStates("provisioning", dir).map((t) => t.state)).toEqual(["First", "Inner", "Other"]);
    expect(Object.fromEntries(timeouts)).toEqual({ "complete-run": 285, "record-failure": 110 });
    expect(Object.fromEntries(shortestTaskDeadlines(["provisioning"], dir))).toEqual({
      "complete-run": 50,
      "record-failure": 110,
    });
    expect(
      Object.fromEntries(
        taskDeadlines("provisioning", readFileSync(join(dir, "provisioning.asl.json"), "utf8")),
      ),
    ).toEqual({
      First: 285,
      Inner: 50,
      Other: 110,
    });
  });

  it("refuse a Task without a fixed TimeoutSeconds", () => {
    const dir = aslDir({ First: task("CompleteRun") });

    expect(() => stepLambdaTimeouts(["provisioning"], dir)).toThrow(
      /First: every Task needs a fixed TimeoutSeconds/,
    );
  });

  it("cover every Task of the repository's workflows: one Lambda each, every Task's deadline below its state's", () => {
    const tasks = workflowKinds().flatMap((kind) => taskStates(kind));
    const timeouts = stepLambdaTimeouts(workflowKinds());

    for (const t of tasks) {
      expect(t.lambda, `${t.kind} ${t.state}`).toBe(workflowLambda(t.kind));
      const deadline = taskDeadlines(t.kind).get(t.state)!;
      expect(deadline + 10, `${t.kind} ${t.state}`).toBeLessThanOrEqual(t.timeoutSeconds);
      expect(timeouts.get(t.lambda)!, `${t.kind} ${t.state}`).toBeGreaterThanOrEqual(deadline);
    }
    // The 60-second bookkeeping Tasks keep their own 50 s; the backup loop's 300 s Tasks get 285 s.
    expect(taskDeadlines("deprovisioning").get("RecordFailure")).toBe(50);
    expect(taskDeadlines("deprovisioning").get("BackupData")).toBe(285);
    expect(timeouts.get("deprovisioning-steps")).toBe(285);
    expect(timeouts.get("provisioning-steps")).toBe(285);
    // A rollout's Lambda waits for no child execution (RunUpgrade is a service integration).
    expect(timeouts.get("rollout-steps")).toBe(50);
    expect(taskDeadlines("rollout").has("RunUpgrade")).toBe(false);
  });
});
