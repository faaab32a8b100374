/**
 * "Step Functions Execution Status Change" events in the shape EventBridge delivers them for a
 * Standard Workflows execution (step-functions/latest/dg/cw-events.html), for the status-change
 * handler's tests.
 */
export interface StatusChangeOptions {
  readonly progressId: string;
  /** The execution's name; its ARN ends with it. */
  readonly name: string;
  readonly stateMachine?: string;
  readonly status?: "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";
  readonly error?: string | null;
  readonly cause?: string | null;
  /** Replaces the default input (`{progressId, startAt}`); null: left out of the event. */
  readonly input?: string | null;
}

export const TEST_STATE_MACHINE_ARN =
  "arn:aws:states:eu-west-1:123456789012:stateMachine:WorkflowsProvisioning902CE99F-abc";

/** The execution ARN of `name` in `stateMachine`. */
export function executionArnOf(name: string, stateMachine: string = TEST_STATE_MACHINE_ARN): string {
  return `${stateMachine.replace(":stateMachine:", ":execution:")}:${name}`;
}

export function statusChangeEvent(options: StatusChangeOptions) {
  const stateMachine = options.stateMachine ?? TEST_STATE_MACHINE_ARN;
  const executionArn = executionArnOf(options.name, stateMachine);
  const input =
    options.input === undefined
      ? JSON.stringify({ progressId: options.progressId, startAt: "CreateTenant", postProvisioningSteps: [] })
      : options.input;
  return {
    version: "0",
    id: "315c1398-40ff-a850-213b-158f73e60175",
    "detail-type": "Step Functions Execution Status Change",
    source: "aws.states",
    account: "123456789012",
    time: "2026-01-01T00:05:00Z",
    region: "eu-west-1",
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn: stateMachine,
      name: options.name,
      status: options.status ?? "FAILED",
      startDate: 1767225600000,
      stopDate: 1767225900000,
      input,
      output: null,
      inputDetails: { included: input !== null },
      outputDetails: null,
      error: options.error === undefined ? "States.Timeout" : options.error,
      cause: options.cause === undefined ? "The state CreateTenant timed out" : options.cause,
      redriveCount: 0,
      redriveStatus: "NOT_REDRIVABLE",
    },
  };
}
