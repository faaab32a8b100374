/**
 * Delivers a batch of queued notifications (an SQS event) through Amazon SES v2 `SendEmail`, one
 * e-mail per message, rendered by message-rendering.ts as the local outbox worker renders them.
 *
 * Partial batch response: the answer lists the messages that failed (`batchItemFailures`, with
 * `ReportBatchItemFailures` on the event source mapping), so only those return to the queue and
 * one bad message does not resend the whole batch (lambda/latest/dg/services-sqs-errorhandling.html).
 * A message that keeps failing moves to the dead-letter queue after the queue's maxReceiveCount.
 * Delivery is at least once (an SQS message can arrive twice); each e-mail carries the
 * notification's dedupe key in a header so a duplicate can be recognised.
 */
import { type SESv2Client, SendEmailCommand } from "@aws-sdk/client-sesv2";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { Logger } from "../../shared/logger.ts";
import { DEDUPE_HEADER, renderNotification } from "./message-rendering.ts";
import { type NotificationMessage, notificationMessageSchema } from "./notification-message.ts";

export interface SesSenderOptions {
  readonly client: SESv2Client;
  /** A verified SES identity (address, or an address of a verified domain). */
  readonly from: string;
  /** SES configuration set (event publishing, suppression), when the stack names one. */
  readonly configurationSet: string | null;
  readonly logger: Logger;
}

function parseMessage(record: SQSRecord): NotificationMessage {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new Error("the message body is not JSON");
  }
  const parsed = notificationMessageSchema.safeParse(body);
  if (!parsed.success) {
    throw new Error(
      `not a notification: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

async function deliver(options: SesSenderOptions, message: NotificationMessage): Promise<void> {
  const rendered = renderNotification(message);
  await options.client.send(
    new SendEmailCommand({
      FromEmailAddress: options.from,
      Destination: { ToAddresses: [message.recipient] },
      Content: {
        Simple: {
          Subject: { Data: rendered.subject, Charset: "UTF-8" },
          Body: {
            Text: { Data: rendered.text, Charset: "UTF-8" },
            Html: { Data: rendered.html, Charset: "UTF-8" },
          },
          Headers: [{ Name: DEDUPE_HEADER, Value: message.dedupeKey }],
        },
      },
      // Tags name the kind only: recipients and tenants stay out of SES event data.
      EmailTags: [{ Name: "kind", Value: message.kind }],
      ...(options.configurationSet ? { ConfigurationSetName: options.configurationSet } : {}),
    }),
  );
}

/** Sends every message of the batch; the answer names the ones to deliver again. */
export async function sendNotificationBatch(
  options: SesSenderOptions,
  event: SQSEvent,
): Promise<SQSBatchResponse> {
  const failures: SQSBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    try {
      const message = parseMessage(record);
      await deliver(options, message);
      options.logger.info("notification sent", {
        messageId: record.messageId,
        kind: message.kind,
        tenantId: message.tenantId,
        progressId: message.progressId,
      });
    } catch (error) {
      failures.push({ itemIdentifier: record.messageId });
      options.logger.warn("notification not sent; SQS delivers it again", {
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error,
      });
    }
  }
  return { batchItemFailures: failures };
}
