/**
 * The AWS notification channel: one SQS message per notification. SQS is not part of the step's
 * transaction, so a step retried after its transaction rolled back sends again; every message
 * carries its `dedupeKey` (and on a FIFO queue uses it as the deduplication id), which the SES
 * sender (ses-sender.ts) puts on the e-mail so a duplicate can be recognised.
 */
import { createHash } from "node:crypto";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { awsStepError } from "../../shared/aws-errors.ts";
import type { NotificationChannel } from "./notification-channel.ts";
import type { NotificationMessage } from "./notification-message.ts";

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
