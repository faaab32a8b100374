/**
 * The EventBridge event Step Functions sends when a Standard Workflows execution changes status
 * ("Step Functions Execution Status Change", source `aws.states`; step-functions/latest/dg/cw-events.html).
 * Its `detail` carries the execution's ARN, name, status, `error` and `cause` and — when the input
 * and output together stay under EventBridge's 248 KB — the input as a JSON string; otherwise
 * `inputDetails.included` is false and DescribeExecution returns it.
 */
import { z } from "zod";
import { EXECUTION_END_STATUSES, type ExecutionEnded } from "./execution-ended.ts";

export const EXECUTION_STATUS_CHANGE = {
  source: "aws.states",
  detailType: "Step Functions Execution Status Change",
} as const;

export const executionStatusChangeSchema = z.object({
  source: z.literal(EXECUTION_STATUS_CHANGE.source),
  "detail-type": z.literal(EXECUTION_STATUS_CHANGE.detailType),
  detail: z.object({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    name: z.string().min(1),
    status: z.string().min(1),
    input: z.string().nullish(),
    inputDetails: z.object({ included: z.boolean() }).nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});
export type ExecutionStatusChange = z.output<typeof executionStatusChangeSchema>;

const endStatusSchema = z.enum(EXECUTION_END_STATUSES);

/** The `progressId` of an execution input: provisioning, deprovisioning, restore and scheduled inputs all carry it. */
function progressIdOfInput(input: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(input);
    const id = (parsed as { progressId?: unknown } | null)?.progressId;
    return typeof id === "string" && id !== "" ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The end to record for an event, or undefined when there is none: an execution still running or
 * one that succeeded, or an input that names no run. `readInput` fetches the input when the event
 * left it out (DescribeExecution).
 */
export async function executionEndedFromEvent(
  event: ExecutionStatusChange,
  readInput: (executionArn: string) => Promise<string | undefined>,
): Promise<ExecutionEnded | undefined> {
  const { detail } = event;
  const status = endStatusSchema.safeParse(detail.status);
  if (!status.success) return undefined;
  const input =
    detail.inputDetails?.included === false || detail.input === undefined || detail.input === null
      ? await readInput(detail.executionArn)
      : detail.input;
  const progressId = input === undefined ? undefined : progressIdOfInput(input);
  if (!progressId) return undefined;
  return {
    progressId,
    executionRef: detail.executionArn,
    executionName: detail.name,
    status: status.data,
    error: detail.error ?? null,
    cause: detail.cause ?? null,
  };
}
