/**
 * CloudWatch alarms to the operators' alerts topic: failed and timed-out executions of every
 * workflow, API 5xx answers, and any message in the notifications dead-letter queue. Locally the
 * same conditions show as warnings on progress records and log lines.
 */
import { Duration } from "aws-cdk-lib";
import type * as apigateway from "aws-cdk-lib/aws-apigateway";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as sns from "aws-cdk-lib/aws-sns";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import type { WorkflowName } from "../../functions/workflows/step-catalog.ts";

export interface AlarmsProps {
  readonly topic: sns.ITopic;
  readonly stateMachines: ReadonlyMap<WorkflowName, sfn.IStateMachine>;
  readonly api: apigateway.RestApi;
  readonly deadLetterQueue: sqs.IQueue;
  /** The window each alarm looks at. */
  readonly period?: Duration;
}

export class Alarms extends Construct {
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);
    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (alarmId: string, description: string, metric: cloudwatch.IMetric): void => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new actions.SnsAction(props.topic));
      created.addOkAction(new actions.SnsAction(props.topic));
      alarms.push(created);
    };

    for (const [kind, stateMachine] of props.stateMachines) {
      const name = kind.charAt(0).toUpperCase() + kind.slice(1);
      alarm(
        `${name}ExecutionsFailed`,
        `A ${kind} execution failed: see the run's progress record and the state machine's execution history.`,
        stateMachine.metricFailed({ period, statistic: cloudwatch.Stats.SUM }),
      );
      alarm(
        `${name}ExecutionsTimedOut`,
        `A ${kind} execution timed out.`,
        stateMachine.metricTimedOut({ period, statistic: cloudwatch.Stats.SUM }),
      );
    }
    alarm(
      "ApiServerErrors",
      "The API answered 5xx: see the handlers' logs.",
      props.api.metricServerError({ period, statistic: cloudwatch.Stats.SUM }),
    );
    alarm(
      "NotificationsDeadLetters",
      "Notifications landed in the dead-letter queue: they could not be delivered.",
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    );
    this.alarms = alarms;
  }
}
