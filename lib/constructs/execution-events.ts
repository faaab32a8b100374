/**
 * Executions that end outside the ASL's Catch: an EventBridge rule on "Step Functions Execution
 * Status Change" events (FAILED, TIMED_OUT, ABORTED) of this stack's state machines invokes
 * `functions/execution-ended.ts`, which records the run as failed (the local runner does the same
 * in-process). Step Functions sends these events to the default bus, best effort
 * (eventbridge/latest/ref/events-ref-states.html); the target retries for a day and then puts the
 * event in a dead-letter queue an alarm watches.
 */
import { Duration } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { EXECUTION_END_STATUSES } from "../../functions/domain/runs/execution-ended.ts";
import { EXECUTION_STATUS_CHANGE } from "../../functions/domain/runs/execution-status-change.ts";
import type { WorkflowName } from "../../functions/workflows/step-catalog.ts";
import type { Database } from "./database.ts";
import { ServiceFunction } from "./service-function.ts";

export interface ExecutionEventsProps {
  /** `functions/execution-ended.ts`. */
  readonly entry: string;
  readonly stateMachines: ReadonlyMap<WorkflowName, sfn.IStateMachine>;
  readonly database: Database;
  readonly logRetention: logs.RetentionDays;
}

export class ExecutionEvents extends Construct {
  readonly function: lambda.Function;
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ExecutionEventsProps) {
    super(scope, id);
    this.function = new ServiceFunction(this, "Handler", {
      entry: props.entry,
      description: "Tenant provisioning: records runs whose execution failed, timed out or was aborted",
      environment: props.database.dataApiEnvironment,
      timeout: Duration.seconds(60),
      memorySize: 256,
      logRetention: props.logRetention,
    }).function;
    props.database.grantDataApiAccess(this.function);
    for (const stateMachine of props.stateMachines.values()) {
      // The input when the event left it out (input and output over EventBridge's 248 KB).
      stateMachine.grantExecution(this.function, "states:DescribeExecution");
    }
    NagSuppressions.addResourceSuppressions(
      this.function.role ?? this.function,
      [
        {
          id: "AwsSolutions-IAM5",
          reason:
            "states:DescribeExecution acts on executions, whose ARNs carry a per-run name; the grant is limited to executions of this stack's state machines.",
          appliesTo: [{ regex: "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*:\\*$/" }],
        },
      ],
      true,
    );

    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    NagSuppressions.addResourceSuppressions(this.deadLetterQueue, [
      {
        id: "AwsSolutions-SQS3",
        reason:
          "This queue is the dead-letter queue of the execution status-change rule's target; an alarm watches it.",
      },
    ]);

    this.rule = new events.Rule(this, "Rule", {
      description: "Tenant provisioning: executions that failed, timed out or were aborted",
      eventPattern: {
        source: [EXECUTION_STATUS_CHANGE.source],
        detailType: [EXECUTION_STATUS_CHANGE.detailType],
        detail: {
          status: [...EXECUTION_END_STATUSES],
          stateMachineArn: [...props.stateMachines.values()].map((m) => m.stateMachineArn),
        },
      },
      targets: [
        new targets.LambdaFunction(this.function, {
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}
