/**
 * The batch state machine (statemachines/batch.asl.json): valid ASL whose Map is a Distributed Map
 * over the children with the batch's concurrency, and — run by aws-local-stepfunctions with stub
 * Tasks — an iteration polls its child until it has ended, never more children in flight than
 * `maxConcurrency`, and FinishBatch and CompleteRun follow the Map.
 */
// Node 20 has no Promise.withResolvers, which aws-local-stepfunctions uses (the local runner adds it too).
import "../../local/promise-with-resolvers.ts";
// @ts-expect-error -- asl-validator 4 ships no type declarations.
import aslValidator from "asl-validator";
import { StateMachine } from "aws-local-stepfunctions";
import { describe, expect, it } from "vitest";
import { readDefinitionText, substitute, substitutionNames } from "../../functions/workflows/definitions.ts";

const text = readDefinitionText("batch");
const definition = JSON.parse(
  substitute(
    text,
    Object.fromEntries(
      substitutionNames(text).map((n) => [n, `arn:aws:lambda:eu-west-1:123456789012:function:${n}`]),
    ),
  ),
);

describe("statemachines/batch.asl.json", () => {
  it("is valid ASL with a Distributed Map over $.children, as concurrent as $.maxConcurrency", () => {
    const result = (aslValidator as (d: unknown) => { isValid: boolean; errors: unknown[] })(definition);
    expect(result.errors).toEqual([]);
    const map = definition.States.ForEachChild;
    expect(map).toMatchObject({
      Type: "Map",
      ItemsPath: "$.children",
      MaxConcurrencyPath: "$.maxConcurrency",
      ItemProcessor: { ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" } },
      Next: "FinishBatch",
    });
    // Every Task runs in the batch workflow's one Lambda.
    expect(substitutionNames(text)).toEqual(["BatchStepsFunctionArn"]);
  });

  it("polls each child until it has ended, at most maxConcurrency at a time, then finishes the batch", async () => {
    const polls = new Map<string, number>();
    let inFlight = 0;
    let most = 0;
    const calls: string[] = [];
    const machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
    const execution = machine.run(
      {
        progressId: "b",
        startAt: "ProvisionChildren",
        children: ["c1", "c2", "c3", "c4"],
        maxConcurrency: 2,
      } as never,
      {
        overrides: {
          waitTimeOverrides: { WaitForChild: 1 },
          taskResourceLocalHandlers: {
            AdvanceBatchChild: async (input: { task: string; batchId: string; childId: string }) => {
              expect(input.task).toBe("AdvanceBatchChild");
              expect(input.batchId).toBe("b");
              const n = (polls.get(input.childId) ?? 0) + 1;
              polls.set(input.childId, n);
              if (n === 1) {
                inFlight++;
                most = Math.max(most, inFlight);
              }
              if (n < 3) return { status: "running" };
              inFlight--;
              return { status: input.childId === "c3" ? "failed" : "completed" };
            },
            FinishBatch: async (input: { task: string; progressId: string; step: string }) => {
              calls.push(`${input.task}:${input.progressId}:${input.step}`);
              return {};
            },
            CompleteRun: async () => {
              calls.push("CompleteRun");
              return {};
            },
            RecordFailure: async () => {
              calls.push("RecordFailure");
              return {};
            },
          } as never,
        },
      },
    );
    await execution.result;

    expect(Object.fromEntries(polls)).toEqual({ c1: 3, c2: 3, c3: 3, c4: 3 });
    expect(most).toBe(2);
    // A failed child is an outcome for FinishBatch to weigh, not a failed iteration.
    expect(calls).toEqual(["FinishBatch:b:ProvisionChildren", "CompleteRun"]);
  });
});
