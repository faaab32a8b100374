/** The AWS workflow runner: Step Functions StartExecution / StopExecution. */
import {
  ExecutionDoesNotExist,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { WorkflowName } from "./step-catalog.ts";
import type { WorkflowInput, WorkflowRunner } from "./workflow-runner.ts";

export class SfnWorkflowRunner implements WorkflowRunner {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArns: Readonly<Partial<Record<WorkflowName, string>>>,
  ) {}

  async start(kind: WorkflowName, name: string, input: WorkflowInput): Promise<string> {
    const stateMachineArn = this.stateMachineArns[kind];
    if (!stateMachineArn) throw new Error(`no state machine configured for ${kind}`);
    const out = await this.client.send(
      // Execution names are unique per state machine for 90 days: a repeated start of the same name fails loudly.
      new StartExecutionCommand({ stateMachineArn, name: name.slice(0, 80), input: JSON.stringify(input) }),
    );
    if (!out.executionArn) throw new Error("StartExecution returned no executionArn");
    return out.executionArn;
  }

  async stop(executionRef: string, cause: string): Promise<void> {
    try {
      await this.client.send(
        new StopExecutionCommand({ executionArn: executionRef, cause: cause.slice(0, 32768) }),
      );
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return;
      throw error;
    }
  }
}
