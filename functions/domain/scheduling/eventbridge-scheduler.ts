/**
 * The AWS scheduler: one EventBridge Scheduler one-time schedule (`at(...)`, UTC) per operation,
 * in the service's schedule group, starting the operation's state machine (deprovisioning,
 * provisioning or batch) as the scheduler role, and deleted by EventBridge once it has run. A schedule that cannot start its target after
 * its retries sends its event to the dead-letter queue (an alarm watches it) — and the periodic
 * sweep starts any schedule still waiting past its time (functions/domain/operations/overdue-schedules.ts).
 */
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import {
  type ScheduledOperationRef,
  type ScheduleKind,
  type Scheduler,
  scheduledExecutionInput,
} from "./scheduler.ts";

export interface EventBridgeSchedulerOptions {
  readonly groupName: string;
  /** The role schedules run as (may start the state machine, nothing else). */
  readonly roleArn: string;
  /** The state machine each kind of schedule starts. */
  readonly stateMachineArns: Readonly<Record<ScheduleKind, string>>;
  /**
   * Standard SQS queue for events the schedule could not deliver (Scheduler's DLQs must not be
   * FIFO: scheduler/latest/UserGuide/configuring-schedule-dlq.html).
   */
  readonly deadLetterQueueArn: string;
}

/** The schedule's name: unique per operation, within EventBridge's 64 characters. */
export function scheduleName(operationId: string, kind: ScheduleKind = "deprovision"): string {
  return `${kind}-${operationId}`;
}

/** `at()` takes whole seconds without a zone; round up so a schedule never fires early. */
export function atExpression(runAt: Date): string {
  const seconds = Math.ceil(runAt.getTime() / 1000) * 1000;
  return `at(${new Date(seconds).toISOString().slice(0, 19)})`;
}

export class EventBridgeScheduler implements Scheduler {
  readonly kind = "eventbridge" as const;

  constructor(
    private readonly client: SchedulerClient,
    private readonly options: EventBridgeSchedulerOptions,
  ) {}

  async create(operation: ScheduledOperationRef): Promise<string> {
    const name = scheduleName(operation.id, operation.kind);
    await this.client.send(
      new CreateScheduleCommand({
        Name: name,
        GroupName: this.options.groupName,
        Description:
          operation.kind === "batch"
            ? `Start batch ${operation.id} (scheduled operation ${operation.id})`
            : `${operation.kind === "provision" ? "Provision" : "Deprovision"} tenant ${operation.tenantId} (scheduled operation ${operation.id})`,
        ScheduleExpression: atExpression(operation.runAt),
        ScheduleExpressionTimezone: "UTC",
        FlexibleTimeWindow: { Mode: "OFF" },
        ActionAfterCompletion: "DELETE",
        // A repeated request for the same operation creates one schedule.
        ClientToken: operation.id,
        Target: {
          Arn: this.options.stateMachineArns[operation.kind],
          RoleArn: this.options.roleArn,
          Input: JSON.stringify(scheduledExecutionInput(operation.id)),
          RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: this.options.deadLetterQueueArn },
        },
      }),
    );
    return name;
  }

  async delete(externalRef: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteScheduleCommand({ Name: externalRef, GroupName: this.options.groupName }),
      );
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return;
      throw error;
    }
  }
}
