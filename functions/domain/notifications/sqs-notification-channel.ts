/**
 * The AWS notification channel: SQS messages, one per notification (`send`) or up to ten per
 * SendMessageBatch call (`sendBatch`, within its 256 KiB). SQS is not part of any database
 * transaction: a batch is recorded as sent only after SQS accepted it, so a retry sends only what
 * was not recorded; should a crash fall between the two, every message carries its `dedupeKey`
 * (and on a FIFO queue uses it as the deduplication id), which the SES sender (ses-sender.ts) puts
 * on the e-mail so a duplicate can be recognised.
 */
import { createHash } from "node:crypto";
import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { awsStepError } from "../../shared/aws-errors.ts";
import { NetworkError, TransientError } from "../../shared/errors.ts";
import { intoBatches, type Notification, type NotificationChannel } from "./notification-channel.ts";
import type { NotificationMessage } from "./notification-message.ts";

type Entry = Omit<SendMessageBatchRequestEntry, "Id">;

function entryOf(n: Notification, fifo: boolean): Entry {
  const body: NotificationMessage = {
    kind: n.kind,
    tenantId: n.tenantId,
    progressId: n.progressId,
    recipient: n.recipient,
    payload: n.payload,
    dedupeKey: n.dedupeKey,
  };
  return {
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
  };
}

/** What SQS counts of a message: its body, and each attribute's name, type and value. */
function entryBytes(e: Entry): number {
  let bytes = Buffer.byteLength(e.MessageBody ?? "", "utf8");
  for (const [name, a] of Object.entries(e.MessageAttributes ?? {})) {
    bytes +=
      Buffer.byteLength(name) + Buffer.byteLength(a.DataType ?? "") + Buffer.byteLength(a.StringValue ?? "");
  }
  return bytes;
}

export function sqsNotificationChannel(client: SQSClient, queueUrl: string): NotificationChannel {
  const fifo = queueUrl.endsWith(".fifo");
  return {
    async send(_tx, n) {
      try {
        await client.send(new SendMessageCommand({ QueueUrl: queueUrl, ...entryOf(n, fifo) }));
      } catch (error) {
        throw awsStepError(error, `SendMessage to ${queueUrl}`);
      }
    },
    async sendBatch(db, notifications, record) {
      const entries = notifications.map((n) => ({ n, entry: entryOf(n, fifo) }));
      for (const batch of intoBatches(entries, (e) => entryBytes(e.entry))) {
        let result: SendMessageBatchCommandOutput;
        try {
          result = await client.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: batch.map((e, i) => ({ Id: `n${i}`, ...e.entry })),
            }),
          );
        } catch (error) {
          throw awsStepError(error, `SendMessageBatch to ${queueUrl}`);
        }
        const sent = new Set((result.Successful ?? []).map((s) => s.Id));
        await record(
          db,
          batch.filter((_, i) => sent.has(`n${i}`)).map((e) => e.n),
        );
        const failed = result.Failed ?? [];
        if (failed.length > 0) {
          const what = `SendMessageBatch to ${queueUrl}: ${failed.length} of ${batch.length} failed (${failed[0]!.Code}: ${failed[0]!.Message ?? ""})`;
          // A sender's fault (a malformed message) will not go better on a retry.
          throw failed.some((f) => f.SenderFault) ? new NetworkError(what) : new TransientError(what);
        }
      }
    },
  };
}
