/**
 * Reading "Step Functions Execution Status Change" events (functions/domain/runs/execution-status-change.ts)
 * in the shape EventBridge delivers them (step-functions/latest/dg/cw-events.html), the input fetched
 * with DescribeExecution when the event left it out (SFN client mocked with aws-sdk-client-mock),
 * execution names that carry the attempt, and the EMF metric the handler writes.
 */
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import type { Database } from "../../functions/db/client.ts";
import { outboxChannel } from "../../functions/domain/notifications/notification-channel.ts";
import {
  executionEndedFromEvent,
  executionStatusChangeSchema,
} from "../../functions/domain/runs/execution-status-change.ts";
import { createExecutionEndedHandler, describeExecutionInput } from "../../functions/execution-ended.ts";
import { silentLogger } from "../../functions/shared/logger.ts";
import { emfDocument, emitMetric } from "../../functions/shared/metrics.ts";
import { executionAttempt, executionName } from "../../functions/workflows/execution-name.ts";
import { statusChangeEvent } from "../support/execution-events.ts";

const PROGRESS_ID = "0a3c7a0e-4e43-4c57-8f2a-6f3c1f2b9e10";
const STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:WorkflowsProvisioning902CE99F-abc";
const NAME = `${PROGRESS_ID}-1-1767225600000`;
const EXECUTION = `arn:aws:states:eu-west-1:123456789012:execution:WorkflowsProvisioning902CE99F-abc:${NAME}`;

const event = (
  detail: {
    status?: "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";
    error?: string | null;
    cause?: string | null;
    input?: string | null;
  } = {},
) => statusChangeEvent({ progressId: PROGRESS_ID, name: NAME, stateMachine: STATE_MACHINE, ...detail });

const sfnMock = mockClient(SFNClient);
afterEach(() => sfnMock.reset());

const noInput = async () => {
  throw new Error("the event carried its input");
};

describe("executionEndedFromEvent", () => {
  it("reads the run, execution, status, error and cause of a failed execution", async () => {
    // Act
    const ended = await executionEndedFromEvent(executionStatusChangeSchema.parse(event()), noInput);

    // Assess
    expect(ended).toEqual({
      progressId: PROGRESS_ID,
      executionRef: EXECUTION,
      executionName: NAME,
      status: "FAILED",
      error: "States.Timeout",
      cause: "The state CreateTenant timed out",
    });
  });

  it("reads an aborted execution without error and cause", async () => {
    const ended = await executionEndedFromEvent(
      executionStatusChangeSchema.parse(event({ status: "ABORTED", error: null, cause: null })),
      noInput,
    );

    expect(ended).toMatchObject({ status: "ABORTED", error: null, cause: null });
  });

  it("fetches the input with DescribeExecution when the event left it out", async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: EXECUTION })
      .resolves({ input: JSON.stringify({ progressId: PROGRESS_ID, startAt: "BackupData" }) });
    const timedOut = event({ status: "TIMED_OUT", input: null });

    // Act
    const ended = await executionEndedFromEvent(
      executionStatusChangeSchema.parse(timedOut),
      describeExecutionInput(new SFNClient({ region: "eu-west-1" })),
    );

    // Assess
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(1);
    expect(ended).toMatchObject({ progressId: PROGRESS_ID, status: "TIMED_OUT" });
  });

  it("has nothing to record for a running or succeeded execution, or an input without a run", async () => {
    for (const status of ["RUNNING", "SUCCEEDED"] as const) {
      const parsed = executionStatusChangeSchema.parse(event({ status }));
      expect(await executionEndedFromEvent(parsed, noInput), status).toBeUndefined();
    }
    const noRun = executionStatusChangeSchema.parse(event({ input: JSON.stringify({ other: 1 }) }));
    expect(await executionEndedFromEvent(noRun, noInput)).toBeUndefined();
  });

  it("the handler ignores (does not throw on) an event of another shape, touching nothing", async () => {
    // Prepare: a database that fails any use.
    const db = new Proxy({} as Database, {
      get: () => {
        throw new Error("the database was used");
      },
    });
    const emitted: unknown[] = [];
    const handler = createExecutionEndedHandler({
      stepDeps: {
        db,
        logger: silentLogger,
        clock: () => new Date(),
        notifications: outboxChannel,
        lockTimeoutMs: 1000,
      },
      readInput: noInput,
      emit: (point) => void emitted.push(point),
    });

    // Act
    const wrongSource = await handler({ ...event(), source: "aws.lambda" });
    const succeeded = await handler(event({ status: "SUCCEEDED" }));

    // Assess
    expect(wrongSource).toEqual({ outcome: "ignored" });
    expect(succeeded).toEqual({ outcome: "ignored" });
    expect(emitted).toEqual([]);
  });
});

describe("execution names", () => {
  it("carry the run's attempt, which is read back only for that run", () => {
    const name = executionName(PROGRESS_ID, 3, new Date(1767225600000));

    expect(name).toBe(`${PROGRESS_ID}-3-1767225600000`);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(executionAttempt(name, PROGRESS_ID)).toBe(3);
    expect(executionAttempt(name, "7d1c2b3a-0000-4000-8000-000000000000")).toBeUndefined();
    expect(executionAttempt(`schedule-${PROGRESS_ID}-1767225600000`, PROGRESS_ID)).toBeUndefined();
    expect(executionAttempt("3f2a9c1e-bc55-4a0b-9d8e-12ab34cd56ef", PROGRESS_ID)).toBeUndefined();
  });
});

describe("embedded metric format", () => {
  it("writes one JSON line CloudWatch extracts the metric from", () => {
    // Prepare
    const lines: string[] = [];
    const point = {
      name: "RunExecutionsFailed",
      value: 1,
      unit: "Count" as const,
      dimensions: { StateMachineArn: STATE_MACHINE },
    };

    // Act
    emitMetric(point, (line) => void lines.push(line));

    // Assess
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("\n")).toBe(true);
    const doc = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(doc).toMatchObject({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: "TenantProvisioning",
            Dimensions: [["StateMachineArn"]],
            Metrics: [{ Name: "RunExecutionsFailed", Unit: "Count" }],
          },
        ],
      },
      StateMachineArn: STATE_MACHINE,
      RunExecutionsFailed: 1,
    });
    expect(emfDocument(point, new Date(5))).toMatchObject({ _aws: { Timestamp: 5 } });
  });
});
