/**
 * CloudWatch alarms to the operators' alerts topic (docs/aws-deployment.md says what each means and
 * what to do). Locally the same conditions show as warnings on progress records and log lines.
 *
 * Failed runs are counted from `RunExecutionsFailed`, the metric the execution status-change
 * handler writes for every execution that failed its run: AWS/States `ExecutionsFailed` also counts
 * the executions that end in the workflows' deliberate Fail states — `Cancelled` (RunCancelled) and
 * `ScheduleNotStarted` — which are not failures.
 */
import { Duration } from "aws-cdk-lib";
import type * as apigateway from "aws-cdk-lib/aws-apigateway";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as sns from "aws-cdk-lib/aws-sns";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import { METRICS_NAMESPACE, RUN_EXECUTIONS_FAILED } from "../../functions/shared/metrics.ts";
import type { WorkflowName } from "../../functions/workflows/step-catalog.ts";

export interface AlarmsProps {
  readonly topic: sns.ITopic;
  readonly stateMachines: ReadonlyMap<WorkflowName, sfn.IStateMachine>;
  readonly api: apigateway.RestApi;
  /** The notifications queue (age of its oldest message) and its dead-letter queue. */
  readonly notificationsQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** The one-time schedules' group name and dead-letter queue. */
  readonly scheduleGroupName: string;
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** Where status-change events go when the handler cannot take them. */
  readonly executionEventsDeadLetterQueue: sqs.IQueue;
  /** Lambdas whose errors are alarms of their own (the sweep, the status-change handler). */
  readonly watchedFunctions: ReadonlyMap<string, lambda.IFunction>;
  /** Every Lambda of the service, for the throttle alarms. */
  readonly serviceFunctions: ReadonlyMap<string, lambda.IFunction>;
  /** A notification older than this in the queue is not being sent. */
  readonly oldestNotificationAge?: Duration;
  /** The window each alarm looks at. */
  readonly period?: Duration;
}

/** Metric math alarms reference at most 10 metrics (AmazonCloudWatch/latest/monitoring/alarm-limits.html). */
export const MAX_METRICS_PER_ALARM = 10;

const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join("");

export class Alarms extends Construct {
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);
    const sum = { period, statistic: cloudwatch.Stats.SUM };
    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (alarmId: string, description: string, metric: cloudwatch.IMetric, threshold = 1): void => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new actions.SnsAction(props.topic));
      created.addOkAction(new actions.SnsAction(props.topic));
      alarms.push(created);
    };

    for (const [kind, stateMachine] of props.stateMachines) {
      const name = pascal(kind);
      alarm(
        `${name}RunsFailed`,
        `A ${kind} run failed (cancellations and schedules that did not start are not counted): see the run's progress record and the execution's history.`,
        new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: RUN_EXECUTIONS_FAILED,
          dimensionsMap: { StateMachineArn: stateMachine.stateMachineArn },
          ...sum,
        }),
      );
      alarm(
        `${name}ExecutionsTimedOut`,
        `A ${kind} execution timed out; the status-change handler recorded its run as failed.`,
        stateMachine.metricTimedOut(sum),
      );
    }
    alarm(
      "ApiServerErrors",
      "The API answered 5xx: see the handlers' logs.",
      props.api.metricServerError(sum),
    );
    alarm(
      "NotificationsDeadLetters",
      "Notifications landed in the dead-letter queue: they could not be delivered.",
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    );
    const oldest = props.oldestNotificationAge ?? Duration.minutes(30);
    alarm(
      "NotificationsNotSent",
      `A notification has waited in the queue for more than ${oldest.toHumanString()}: the sender is not consuming it (no notificationSender, SES errors, throttling).`,
      props.notificationsQueue.metricApproximateAgeOfOldestMessage({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      oldest.toSeconds(),
    );

    // One-time schedules: EventBridge Scheduler's metrics (namespace AWS/Scheduler) per ScheduleGroup,
    // the names CDK's ScheduleGroup.metricTargetErrors / metricDropped use.
    const scheduler = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: "AWS/Scheduler",
        metricName,
        dimensionsMap: { ScheduleGroup: props.scheduleGroupName },
        ...sum,
      });
    alarm(
      "ScheduleTargetErrors",
      "A scheduled deprovisioning could not start its state machine (TargetErrorCount); the sweep starts overdue schedules itself.",
      scheduler("TargetErrorCount"),
    );
    alarm(
      "ScheduleInvocationsDropped",
      "EventBridge Scheduler gave up on a scheduled deprovisioning (InvocationDroppedCount) after its retries.",
      scheduler("InvocationDroppedCount"),
    );
    alarm(
      "ScheduleDeadLetters",
      "A scheduled deprovisioning's event is in the schedule dead-letter queue: its schedule could not start it.",
      props.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    );
    alarm(
      "ExecutionEventsDeadLetters",
      "An execution status-change event could not be handled: a run may still be `running` although its execution ended.",
      props.executionEventsDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    );

    for (const [name, fn] of props.watchedFunctions) {
      alarm(`${pascal(name)}Errors`, `The ${name} Lambda failed: see its log group.`, fn.metricErrors(sum));
    }

    // Throttles of any of the service's Lambdas, in alarms of at most 10 metrics each.
    const functions = [...props.serviceFunctions];
    for (let i = 0; i < functions.length; i += MAX_METRICS_PER_ALARM) {
      const chunk = functions.slice(i, i + MAX_METRICS_PER_ALARM);
      const usingMetrics = Object.fromEntries(chunk.map(([, fn], j) => [`t${j}`, fn.metricThrottles(sum)]));
      alarm(
        `LambdaThrottles${i / MAX_METRICS_PER_ALARM + 1}`,
        `Lambda throttled one of: ${chunk.map(([name]) => name).join(", ")} (account concurrency reached; new accounts start low).`,
        new cloudwatch.MathExpression({
          // SUM([...]) adds the series point by point, skipping functions with no data points.
          expression: `SUM([${Object.keys(usingMetrics).join(",")}])`,
          usingMetrics,
          period,
          label: "throttles",
        }),
      );
    }
    this.alarms = alarms;
  }
}
