/**
 * Time-driven work. One-time schedules (`schedule-deprovision`, `schedule-provision`) are
 * EventBridge Scheduler schedules the API creates in this group; they run as a role that may only
 * start the deprovisioning and provisioning state machines (locally: `scheduled_operations` rows and a poller), and send what
 * they cannot deliver to a dead-letter queue. Periodic jobs are EventBridge rules: the sweep
 * (alerts, stuck runs, overdue schedules, retention) — wired only when `functions/sweep.ts` exists.
 */
import { Duration, Stack } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { stateMachineArnVariable } from "../../functions/shared/config.ts";
import type { Database } from "./database.ts";
import type { Notifications } from "./notifications.ts";
import { ServiceFunction } from "./service-function.ts";

export interface SchedulesProps {
  /** The state machine one-time schedules (and the sweep, for overdue ones) start. */
  readonly deprovisioning?: sfn.IStateMachine;
  /** The state machine scheduled provisionings (`schedule-provision`) start. */
  readonly provisioning?: sfn.IStateMachine;
  /** The state machine scheduled batches (`schedule-batch`) start. */
  readonly batch?: sfn.IStateMachine;
  /** The periodic sweep's entry module, when it exists. */
  readonly sweepEntry?: string;
  /** How often the sweep runs (default five minutes). */
  readonly sweepInterval?: Duration;
  readonly database: Database;
  /** Where the sweep publishes alerts. */
  readonly notifications: Notifications;
  readonly logRetention: logs.RetentionDays;
}

export class Schedules extends Construct {
  readonly group: scheduler.CfnScheduleGroup;
  readonly groupName: string;
  /** The role schedules run as. */
  readonly role: iam.Role;
  /** Where a schedule sends the event it could not deliver to its target (standard queue). */
  readonly deadLetterQueue: sqs.Queue;
  readonly sweepFunction?: lambda.Function;
  readonly sweepRule?: events.Rule;

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.groupName = `${stack.stackName}-tenant-operations`;
    this.group = new scheduler.CfnScheduleGroup(this, "Group", { name: this.groupName });

    // Confused-deputy protection: "The value of aws:SourceArn must be your EventBridge Scheduler
    // schedule group ARN [...] Do not scope the aws:SourceArn statement to a specific schedule or a
    // schedule name prefix" (scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
    // Scoped to schedules, AssumeRole fails and no scheduled deprovisioning ever starts.
    this.role = new iam.Role(this, "SchedulerRole", {
      description:
        "EventBridge Scheduler: starts scheduled tenant deprovisionings, provisionings and batches",
      assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com").withConditions({
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnEquals: { "aws:SourceArn": this.group.attrArn },
      }),
    });
    props.deprovisioning?.grantStartExecution(this.role);
    props.provisioning?.grantStartExecution(this.role);
    props.batch?.grantStartExecution(this.role);

    // Scheduler DLQs must be standard queues; the role the schedule runs as sends to it
    // (scheduler/latest/UserGuide/configuring-schedule-dlq.html). SQS-managed encryption: the
    // messages name a schedule, nothing more, and no key policy has to admit the scheduler role.
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.deadLetterQueue.grantSendMessages(this.role);
    NagSuppressions.addResourceSuppressions(this.deadLetterQueue, [
      {
        id: "AwsSolutions-SQS3",
        reason:
          "This queue is the dead-letter queue of the one-time schedules; an alarm watches it and nothing consumes it automatically.",
      },
    ]);

    if (props.sweepEntry) {
      const sweep = new ServiceFunction(this, "Sweep", {
        entry: props.sweepEntry,
        description: "Tenant provisioning: periodic sweep (alerts, stuck runs, overdue schedules, retention)",
        environment: {
          ...props.database.dataApiEnvironment,
          ALERT_TOPIC_ARN: props.notifications.alertsTopic.topicArn,
          ...(props.deprovisioning
            ? { [stateMachineArnVariable("deprovisioning")]: props.deprovisioning.stateMachineArn }
            : {}),
          ...(props.provisioning
            ? { [stateMachineArnVariable("provisioning")]: props.provisioning.stateMachineArn }
            : {}),
          ...(props.batch ? { [stateMachineArnVariable("batch")]: props.batch.stateMachineArn } : {}),
        },
        timeout: Duration.minutes(2),
        logRetention: props.logRetention,
      }).function;
      props.database.grantDataApiAccess(sweep);
      props.notifications.grantPublishAlerts(sweep);
      // Overdue schedules: the sweep starts the execution the schedule did not.
      props.deprovisioning?.grantStartExecution(sweep);
      props.provisioning?.grantStartExecution(sweep);
      props.batch?.grantStartExecution(sweep);
      this.sweepFunction = sweep;
      this.sweepRule = new events.Rule(this, "SweepRule", {
        description: "Tenant provisioning: run the sweep",
        schedule: events.Schedule.rate(props.sweepInterval ?? Duration.minutes(5)),
        targets: [new targets.LambdaFunction(sweep, { retryAttempts: 2 })],
      });
    }
  }

  /** The ARN of a schedule in this group (`*` for all of them). */
  scheduleArn(name: string): string {
    return Stack.of(this).formatArn({
      service: "scheduler",
      resource: "schedule",
      resourceName: `${this.groupName}/${name}`,
    });
  }

  /** Lets `grantee` create, read and delete schedules in this group, and pass them the role. */
  grantManageSchedules(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
      resourceArns: [this.scheduleArn("*")],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["iam:PassRole"],
      resourceArns: [this.role.roleArn],
      conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    });
    if (grantee.grantPrincipal instanceof Construct) {
      NagSuppressions.addResourceSuppressions(
        grantee.grantPrincipal,
        [
          {
            id: "AwsSolutions-IAM5",
            reason:
              "Schedules are named per scheduled operation at run time; the grant is limited to schedules in this stack's schedule group.",
            appliesTo: [{ regex: "/^Resource::arn:<AWS::Partition>:scheduler:.*-tenant-operations\\/\\*$/" }],
          },
        ],
        true,
      );
    }
  }
}
