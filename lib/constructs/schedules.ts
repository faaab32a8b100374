/**
 * Time-driven work. One-time schedules (`schedule-deprovision`) are EventBridge Scheduler
 * schedules the API creates in this group; they run as a role that may only start the
 * deprovisioning state machine (locally: `scheduled_operations` rows and a poller). Periodic jobs
 * are EventBridge rules: the sweep (alerts, stuck runs, retention) every five minutes — wired only
 * when `functions/sweep.ts` exists, since that module arrives with a later issue.
 */
import { Duration, Stack } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import type { Database } from "./database.ts";
import type { Notifications } from "./notifications.ts";
import { ServiceFunction } from "./service-function.ts";

export interface SchedulesProps {
  /** The state machine one-time schedules start; without it the role may start nothing. */
  readonly deprovisioning?: sfn.IStateMachine;
  /** The periodic sweep's entry module, when it exists. */
  readonly sweepEntry?: string;
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
  readonly sweepFunction?: lambda.Function;
  readonly sweepRule?: events.Rule;

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.groupName = `${stack.stackName}-tenant-operations`;
    this.group = new scheduler.CfnScheduleGroup(this, "Group", { name: this.groupName });

    this.role = new iam.Role(this, "SchedulerRole", {
      description: "EventBridge Scheduler: starts scheduled tenant deprovisionings",
      assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com").withConditions({
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnLike: { "aws:SourceArn": this.scheduleArn("*") },
      }),
    });
    props.deprovisioning?.grantStartExecution(this.role);

    if (props.sweepEntry) {
      const sweep = new ServiceFunction(this, "Sweep", {
        entry: props.sweepEntry,
        description: "Tenant provisioning: periodic sweep (alerts, stuck runs, retention)",
        environment: {
          ...props.database.dataApiEnvironment,
          ALERT_TOPIC_ARN: props.notifications.alertsTopic.topicArn,
        },
        timeout: Duration.minutes(2),
        logRetention: props.logRetention,
      }).function;
      props.database.grantDataApiAccess(sweep);
      props.notifications.grantPublishAlerts(sweep);
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
