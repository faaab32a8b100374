/**
 * Lifecycle events in AWS (issue 16). The outbox table is drained onto a custom EventBridge bus
 * (source `tenant-provisioning`, detail-type = the event type, detail = the event) by the
 * publisher Lambda, every minute; webhooks registered through the API are delivered, signed the
 * Standard Webhooks way, by the sender Lambda, every minute, with the secrets sealed under this
 * construct's KMS key. Both rules retry a failed invocation and then hand it to the dead-letter
 * queue, where the publisher also puts events the bus kept refusing; an alarm watches the queue
 * and each function's errors.
 *
 * Optionally, static webhooks are delivered by EventBridge itself through API destinations (one
 * connection, destination and rule each): authenticated by an API-key header, retried by
 * EventBridge for 24 hours (185 attempts at most) then dead-lettered. API destinations cannot
 * compute an HMAC over each body, so these are not signed; the signed kind is the API's.
 */
import { Duration, RemovalPolicy, SecretValue } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { z } from "zod";
import { ALL_EVENTS, EVENT_SOURCE, EVENT_TYPES } from "../../functions/schemas/events.ts";
import type { Database } from "./database.ts";
import { ServiceFunction } from "./service-function.ts";

/** A webhook EventBridge delivers through an API destination (CDK context `webhookDestinations`). */
const destinationSchema = z.strictObject({
  /** Names its connection, destination and rule. */
  name: z.string().regex(/^[A-Za-z0-9-]{1,40}$/, "must be 1-40 letters, digits or hyphens"),
  /** HTTPS only (API destinations accept nothing else). */
  url: z.string().regex(/^https:\/\/\S+$/, "must be an https:// URL"),
  /** Event types it receives, or `["*"]`. */
  eventTypes: z.array(z.enum([ALL_EVENTS, ...EVENT_TYPES])).min(1),
  /** A Secrets Manager secret whose value is the API key EventBridge sends. */
  apiKeySecretArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:/, "must be a Secrets Manager secret ARN"),
  /** The header the key goes in (default `x-api-key`). */
  apiKeyHeader: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/)
    .optional(),
  /** Invocations per second at most (EventBridge's default is 300). */
  rateLimitPerSecond: z.number().int().min(1).max(300).optional(),
});
export type WebhookDestination = z.output<typeof destinationSchema>;

/** Reads `-c webhookDestinations='[...]'` (JSON) or the same list in cdk.json; none by default. */
export function webhookDestinationsFromContext(value: unknown): WebhookDestination[] {
  if (value === undefined) return [];
  let parsed: unknown = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new Error("Invalid CDK context:\n  -c webhookDestinations: is not JSON");
    }
  }
  const result = z.array(destinationSchema).safeParse(parsed);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  -c webhookDestinations.${i.path.join(".")}: ${i.message}`,
    );
    throw new Error(`Invalid CDK context:\n${lines.join("\n")}`);
  }
  return result.data;
}

export interface EventsProps {
  readonly database: Database;
  /** Where the alarms go. */
  readonly alarmTopic: sns.ITopic;
  readonly publisherEntry: string;
  readonly senderEntry: string;
  /** The webhooks API handler: it seals new secrets with the key (encrypt only). */
  readonly webhooksApiHandler?: lambda.Function;
  readonly webhookDestinations?: readonly WebhookDestination[];
  readonly logRetention: logs.RetentionDays;
  /** How often the publisher and the sender run. */
  readonly interval?: Duration;
}

export class Events extends Construct {
  readonly bus: events.EventBus;
  /** Seals webhook signing secrets (encryption context: the subscription id). */
  readonly secretsKey: kms.Key;
  readonly deadLetterQueue: sqs.Queue;
  readonly publisher: lambda.Function;
  readonly sender: lambda.Function;
  readonly publishRule: events.Rule;
  readonly sendRule: events.Rule;
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly destinationRules: readonly events.Rule[];

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id);
    const interval = props.interval ?? Duration.minutes(1);
    this.bus = new events.EventBus(this, "Bus", { description: "Tenant provisioning lifecycle events" });

    this.secretsKey = new kms.Key(this, "WebhookSecretsKey", {
      description: "Tenant provisioning: webhook signing secrets",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // SQS-managed encryption: EventBridge can write to it as a rule target's dead-letter queue
    // without a key policy of its own.
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    NagSuppressions.addResourceSuppressions(this.deadLetterQueue, [
      {
        id: "AwsSolutions-SQS3",
        reason:
          "This queue is the dead-letter queue of the event rules and of the events the bus kept refusing.",
      },
    ]);

    this.publisher = new ServiceFunction(this, "Publisher", {
      entry: props.publisherEntry,
      description: "Tenant provisioning: publish lifecycle events from the outbox to the event bus",
      environment: {
        ...props.database.dataApiEnvironment,
        EVENT_BUS_NAME: this.bus.eventBusName,
        EVENT_DLQ_URL: this.deadLetterQueue.queueUrl,
      },
      timeout: Duration.seconds(90),
      memorySize: 256,
      logRetention: props.logRetention,
    }).function;
    props.database.grantDataApiAccess(this.publisher);
    iam.Grant.addToPrincipal({
      grantee: this.publisher,
      actions: ["events:PutEvents"],
      resourceArns: [this.bus.eventBusArn],
    });
    iam.Grant.addToPrincipal({
      grantee: this.publisher,
      actions: ["sqs:SendMessage"],
      resourceArns: [this.deadLetterQueue.queueArn],
    });

    this.sender = new ServiceFunction(this, "Sender", {
      entry: props.senderEntry,
      description: "Tenant provisioning: deliver signed webhooks (Standard Webhooks) that are due",
      environment: {
        ...props.database.dataApiEnvironment,
        WEBHOOK_SECRETS_KMS_KEY_ID: this.secretsKey.keyArn,
      },
      timeout: Duration.minutes(2),
      memorySize: 256,
      logRetention: props.logRetention,
    }).function;
    props.database.grantDataApiAccess(this.sender);
    this.secretsKey.grant(this.sender, "kms:Decrypt");

    if (props.webhooksApiHandler) {
      props.webhooksApiHandler.addEnvironment("WEBHOOK_SECRETS_KMS_KEY_ID", this.secretsKey.keyArn);
      this.secretsKey.grant(props.webhooksApiHandler, "kms:Encrypt");
    }

    const every = events.Schedule.rate(interval);
    const target = (fn: lambda.IFunction) =>
      new targets.LambdaFunction(fn, {
        retryAttempts: 2,
        maxEventAge: Duration.minutes(10),
        deadLetterQueue: this.deadLetterQueue,
      });
    this.publishRule = new events.Rule(this, "PublishRule", {
      description: "Tenant provisioning: publish the outbox's events",
      schedule: every,
      targets: [target(this.publisher)],
    });
    this.sendRule = new events.Rule(this, "SendRule", {
      description: "Tenant provisioning: deliver due webhooks",
      schedule: every,
      targets: [target(this.sender)],
    });

    this.destinationRules = (props.webhookDestinations ?? []).map((d) => this.apiDestination(d));

    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (alarmId: string, description: string, metric: cloudwatch.IMetric) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new actions.SnsAction(props.alarmTopic));
      created.addOkAction(new actions.SnsAction(props.alarmTopic));
      alarms.push(created);
    };
    const period = Duration.minutes(5);
    alarm(
      "DeadLetters",
      "Lifecycle events or webhook deliveries reached the events dead-letter queue: see its messages.",
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    );
    alarm(
      "PublisherErrors",
      "The event publisher failed: events wait in the outbox (nothing is lost); see its logs.",
      this.publisher.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
    );
    alarm(
      "SenderErrors",
      "The webhook sender failed: deliveries wait (nothing is lost); see its logs.",
      this.sender.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
    );
    this.alarms = alarms;
  }

  /** A connection (API-key header), an API destination and a rule on the bus for one webhook. */
  private apiDestination(d: WebhookDestination): events.Rule {
    const connection = new events.Connection(this, `${d.name}Connection`, {
      description: `Tenant provisioning webhook ${d.name}: API key header`,
      authorization: events.Authorization.apiKey(
        d.apiKeyHeader ?? "x-api-key",
        SecretValue.secretsManager(d.apiKeySecretArn),
      ),
    });
    const destination = new events.ApiDestination(this, `${d.name}Destination`, {
      description: `Tenant provisioning webhook ${d.name}`,
      connection,
      endpoint: d.url,
      httpMethod: events.HttpMethod.POST,
      ...(d.rateLimitPerSecond ? { rateLimitPerSecond: d.rateLimitPerSecond } : {}),
    });
    const all = d.eventTypes.includes(ALL_EVENTS);
    return new events.Rule(this, `${d.name}Rule`, {
      description: `Tenant provisioning: events to webhook ${d.name}`,
      eventBus: this.bus,
      eventPattern: {
        source: [EVENT_SOURCE],
        // Test events are never published, so "*" means every lifecycle event.
        ...(all ? {} : { detailType: [...d.eventTypes] }),
      },
      targets: [
        // CDK's own ApiDestination does not type-check as its interface under exactOptionalPropertyTypes.
        new targets.ApiDestination(destination as events.IApiDestination, {
          // The body is the event itself, as a signed webhook's; its id is the webhook-id header.
          event: events.RuleTargetInput.fromEventPath("$.detail"),
          headerParameters: { "webhook-id": "$.detail.id" },
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}
