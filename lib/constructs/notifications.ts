/**
 * Messages leaving the service: the notifications queue for tenant users (welcome messages,
 * deprovisioning notices; locally the `notifications_outbox` table) with its dead-letter queue,
 * and the operators' alerts topic (CloudWatch alarms and the periodic sweep publish there).
 * Everything is encrypted with one customer-managed key and refuses non-TLS requests.
 */
import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";

export interface NotificationsProps {
  /** Receives after this many failed attempts go to the dead-letter queue. */
  readonly maxReceiveCount?: number;
  /** An e-mail address subscribed to the alerts topic (confirmed by the recipient). */
  readonly alertEmail?: string;
}

export class Notifications extends Construct {
  readonly key: kms.Key;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly alertsTopic: sns.Topic;

  constructor(scope: Construct, id: string, props: NotificationsProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, "Key", {
      description: "Tenant provisioning: notifications queue and alerts topic",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted topic; SNS needs a data key on their behalf.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
        conditions: { StringEquals: { "aws:SourceAccount": Stack.of(this).account } },
      }),
    );

    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    NagSuppressions.addResourceSuppressions(this.deadLetterQueue, [
      { id: "AwsSolutions-SQS3", reason: "This queue is the dead-letter queue of the notifications queue." },
    ]);
    this.queue = new sqs.Queue(this, "Queue", {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      dataKeyReuse: Duration.minutes(5),
      enforceSSL: true,
      visibilityTimeout: Duration.minutes(5),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });

    this.alertsTopic = new sns.Topic(this, "AlertsTopic", {
      displayName: "Tenant provisioning alerts",
      masterKey: this.key,
      enforceSSL: true,
    });
    if (props.alertEmail) {
      this.alertsTopic.addSubscription(new subscriptions.EmailSubscription(props.alertEmail));
    }
  }

  /**
   * Lets `grantee` send to the notifications queue: sqs:SendMessage and the two KMS actions
   * SSE-KMS needs (CDK's grantSendMessages would add wildcard actions such as kms:ReEncrypt*).
   */
  grantSend(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: ["sqs:SendMessage"], resourceArns: [this.queue.queueArn] });
    this.key.grant(grantee, "kms:GenerateDataKey", "kms:Decrypt");
  }

  /** Lets `grantee` publish to the alerts topic (and use its key for that). */
  grantPublishAlerts(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["sns:Publish"],
      resourceArns: [this.alertsTopic.topicArn],
    });
    this.key.grant(grantee, "kms:GenerateDataKey", "kms:Decrypt");
  }
}
