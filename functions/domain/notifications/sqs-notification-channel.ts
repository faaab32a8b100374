/**
 * The AWS notification channel: one SQS message per notification. SQS is not part of the step's
 * transaction, so a step retried after its transaction rolled back sends again; every message
 * carries its `dedupeKey` (and on a FIFO queue uses it as the deduplication id) so consumers
 * deliver it once.
 */
import { createHash } from "node:crypto";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { awsStepError } from "../../shared/aws-errors.ts";
import type { Notification, NotificationChannel } from "./notification-channel.ts";

/** The message body consumers read. */
export interface NotificationMessage {
  readonly kind: Notification["kind"];
  readonly tenantId: string;
  readonly progressId: string;
  readonly recipient: string;
  readonly payload: Record<string, unknown>;
  readonly dedupeKey: string;
}

export function sqsNotificationChannel(client: SQSClient, queueUrl: string): NotificationChannel {
  const fifo = queueUrl.endsWith(".fifo");
  return {
    async send(_tx, n) {
      const body: NotificationMessage = {
        kind: n.kind,
        tenantId: n.tenantId,
        progressId: n.progressId,
        recipient: n.recipient,
        payload: n.payload,
        dedupeKey: n.dedupeKey,
      };
      try {
        await client.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: JSON.stringify(body),
            MessageAttributes: {
              kind: { DataType: "String", StringValue: n.kind },
              dedupeKey: { DataType: "String", StringValue: n.dedupeKey },
            },
            ...(fifo
              ? {
                  MessageGroupId: n.tenantId,
                  MessageDeduplicationId: createHash("sha256").update(n.dedupeKey).digest("hex"),
                }
              : {}),
          }),
        );
      } catch (error) {
        throw awsStepError(error, `SendMessage to ${queueUrl}`);
      }
    },
  };
}
