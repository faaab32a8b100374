/**
 * The notifications queue's consumer: `functions/notification-sender.ts` on an SQS event source
 * with `ReportBatchItemFailures` (only the failed messages of a batch come back,
 * lambda/latest/dg/services-sqs-errorhandling.html), sending through Amazon SES v2 from the
 * verified identity given as `-c notificationSender=...`, with the configuration set of
 * `-c sesConfigurationSet=...` when given. Without a sender address the function is deployed with
 * its event source disabled and a synth warning: messages wait in the queue (for its retention
 * period) and the oldest-message alarm fires, rather than burning through their receives into the
 * dead-letter queue.
 */
import { Annotations, Duration, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sources from "aws-cdk-lib/aws-lambda-event-sources";
import type * as logs from "aws-cdk-lib/aws-logs";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import type { Notifications } from "./notifications.ts";
import { ServiceFunction } from "./service-function.ts";

export interface NotificationSenderProps {
  readonly entry: string;
  readonly notifications: Notifications;
  /** A verified SES identity (address, or an address at a verified domain). */
  readonly senderAddress?: string;
  readonly configurationSet?: string;
  readonly logRetention: logs.RetentionDays;
}

/** Messages per invocation; SES v2 SendEmail is called once per message. */
const BATCH_SIZE = 10;

export class NotificationSender extends Construct {
  readonly function: lambda.Function;
  readonly eventSource: sources.SqsEventSource;

  constructor(scope: Construct, id: string, props: NotificationSenderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.function = new ServiceFunction(this, "Sender", {
      entry: props.entry,
      description: "Tenant provisioning: sends queued notifications through Amazon SES",
      environment: {
        ...(props.senderAddress ? { NOTIFICATION_SENDER: props.senderAddress } : {}),
        ...(props.configurationSet ? { SES_CONFIGURATION_SET: props.configurationSet } : {}),
      },
      // The queue's visibility timeout (5 minutes) is at least six times this, as Lambda advises.
      timeout: Duration.seconds(30),
      memorySize: 256,
      logRetention: props.logRetention,
    }).function;

    this.eventSource = new sources.SqsEventSource(props.notifications.queue, {
      batchSize: BATCH_SIZE,
      reportBatchItemFailures: true,
      // SES's sending rate is per account (1 message/s in the sandbox): a few senders at most.
      maxConcurrency: 2,
      enabled: props.senderAddress !== undefined,
    });
    // Binding grants the function's role the queue's consume actions and kms:Decrypt on its key.
    this.function.addEventSource(this.eventSource);

    if (props.senderAddress) {
      const identities = stack.formatArn({ service: "ses", resource: "identity", resourceName: "*" });
      // The sender identity and, while the account is in the SES sandbox, the (verified) recipients
      // are both authorised as identities; `ses:FromAddress` pins what the function may send as.
      iam.Grant.addToPrincipal({
        grantee: this.function,
        actions: ["ses:SendEmail"],
        resourceArns: [
          identities,
          ...(props.configurationSet
            ? [
                stack.formatArn({
                  service: "ses",
                  resource: "configuration-set",
                  resourceName: props.configurationSet,
                }),
              ]
            : []),
        ],
        conditions: { StringEquals: { "ses:FromAddress": props.senderAddress } },
      });
      NagSuppressions.addResourceSuppressions(
        this.function.role ?? this.function,
        [
          {
            id: "AwsSolutions-IAM5",
            reason:
              "ses:SendEmail is authorised on the sender's and (in the SES sandbox) each recipient's identity, known only at run time; the ses:FromAddress condition limits it to the configured sender address.",
            appliesTo: [{ regex: "/^Resource::arn:<AWS::Partition>:ses:.*:identity\\/\\*$/" }],
          },
        ],
        true,
      );
    } else {
      Annotations.of(this).addWarning(
        "No notificationSender context: notifications stay queued and are not sent until you deploy with -c notificationSender=<verified SES address>.",
      );
    }
  }
}
