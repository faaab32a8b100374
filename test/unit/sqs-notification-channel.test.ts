/** The SQS notification channel, with the SQS client mocked (aws-sdk-client-mock, reset after each test). */
import { createHash } from "node:crypto";
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  SQSClient,
  SQSServiceException,
} from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import type { Database } from "../../functions/db/client.ts";
import {
  intoBatches,
  MAX_BATCH_BYTES,
  type Notification,
} from "../../functions/domain/notifications/notification-channel.ts";
import { sqsNotificationChannel } from "../../functions/domain/notifications/sqs-notification-channel.ts";
import { NetworkError, TransientError } from "../../functions/shared/errors.ts";

const QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/tenant-notifications";
const sqsMock = mockClient(SQSClient);
const client = new SQSClient({ region: "eu-west-1" });
/** The channel never touches the database: SQS is not part of the step's transaction. */
const noDatabase = {} as Database;

const notice = (overrides: Partial<Notification> = {}): Notification => ({
  tenantId: "9b2f1e43-0c55-4d0b-a7ea-4f6f5b1c2d3e",
  progressId: "0a3c7a0e-4e43-4c57-8f2a-6f3c1f2b9e10",
  recipient: "buyer1@example.school",
  kind: "deprovisioning_notice",
  payload: { tenantName: "North District", gracePeriodHours: 24 },
  dedupeKey: "deprovisioning_notice:0a3c7a0e-4e43-4c57-8f2a-6f3c1f2b9e10:user-1",
  ...overrides,
});

afterEach(() => {
  sqsMock.reset();
});

describe("sqsNotificationChannel", () => {
  it("sends one message per notification, its body and attributes naming kind and dedupe key", async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).resolves({ MessageId: "m-1" });
    const channel = sqsNotificationChannel(client, QUEUE);

    // Act
    await channel.send(noDatabase, notice());
    await channel.send(noDatabase, notice({ recipient: "approver1@example.school", dedupeKey: "k-2" }));

    // Assess
    const calls = sqsMock.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(2);
    const input = calls[0]!.args[0].input;
    expect(input.QueueUrl).toBe(QUEUE);
    expect(JSON.parse(input.MessageBody!)).toEqual({
      kind: "deprovisioning_notice",
      tenantId: notice().tenantId,
      progressId: notice().progressId,
      recipient: "buyer1@example.school",
      payload: { tenantName: "North District", gracePeriodHours: 24 },
      dedupeKey: notice().dedupeKey,
    });
    expect(input.MessageAttributes).toEqual({
      kind: { DataType: "String", StringValue: "deprovisioning_notice" },
      dedupeKey: { DataType: "String", StringValue: notice().dedupeKey },
    });
    expect(input.MessageGroupId).toBeUndefined();
    expect(JSON.parse(calls[1]!.args[0].input.MessageBody!).recipient).toBe("approver1@example.school");
  });

  it("on a FIFO queue groups by tenant and deduplicates by the notification's key", async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).resolves({ MessageId: "m-1" });
    const channel = sqsNotificationChannel(client, `${QUEUE}.fifo`);

    // Act
    await channel.send(noDatabase, notice());

    // Assess
    const input = sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(input.MessageGroupId).toBe(notice().tenantId);
    expect(input.MessageDeduplicationId).toBe(createHash("sha256").update(notice().dedupeKey).digest("hex"));
  });

  it("throws TransientError when SQS throttles, NetworkError when it refuses", async () => {
    // Prepare
    sqsMock
      .on(SendMessageCommand)
      .rejectsOnce(
        new SQSServiceException({
          name: "ThrottlingException",
          $fault: "client",
          $metadata: { httpStatusCode: 400 },
        }),
      )
      .rejectsOnce(
        new SQSServiceException({
          name: "AccessDeniedException",
          $fault: "client",
          $metadata: { httpStatusCode: 403 },
        }),
      );
    const channel = sqsNotificationChannel(client, QUEUE);

    // Act + Assess
    await expect(channel.send(noDatabase, notice())).rejects.toThrow(TransientError);
    await expect(channel.send(noDatabase, notice())).rejects.toThrow(NetworkError);
  });
});

/** A SendMessageBatch answer as SQS gives it: every entry successful but those named `failing`. */
function batchAnswer(entries: readonly SendMessageBatchRequestEntry[], failing: ReadonlySet<string>) {
  return {
    Successful: entries
      .filter((e) => !failing.has(e.Id!))
      .map((e) => ({ Id: e.Id!, MessageId: `m-${e.Id}`, MD5OfMessageBody: "x" })),
    Failed: entries
      .filter((e) => failing.has(e.Id!))
      .map((e) => ({ Id: e.Id!, SenderFault: false, Code: "InternalError", Message: "try again" })),
  };
}

describe("sqsNotificationChannel.sendBatch", () => {
  const many = (n: number, payload: Record<string, unknown> = {}) =>
    Array.from({ length: n }, (_, i) =>
      notice({ recipient: `user${i}@example.school`, dedupeKey: `k-${i}`, payload }),
    );

  it("sends at most 10 messages and 256 KiB per SendMessageBatch, and records every one that went", async () => {
    // Prepare: 10 small notices, then 6 of 60 KB (four fit in 256 KiB, not five)
    sqsMock.on(SendMessageBatchCommand).callsFake((input) => batchAnswer(input.Entries, new Set()));
    const channel = sqsNotificationChannel(client, QUEUE);
    const recorded: string[][] = [];
    const record = async (_db: Database, sent: readonly Notification[]) => {
      recorded.push(sent.map((n) => n.dedupeKey));
    };
    const large = many(6, { note: "ä".repeat(30_000) });

    // Act
    await channel.sendBatch(noDatabase, many(10), record);
    await channel.sendBatch(noDatabase, large, record);

    // Assess
    const calls = sqsMock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Entries!.length)).toEqual([10, 4, 2]);
    for (const c of calls) {
      const bytes = c.Entries!.reduce((n, e) => n + Buffer.byteLength(e.MessageBody!, "utf8"), 0);
      expect(bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      expect(new Set(c.Entries!.map((e) => e.Id)).size).toBe(c.Entries!.length);
    }
    expect(JSON.parse(calls[0]!.Entries![3]!.MessageBody!).recipient).toBe("user3@example.school");
    expect(recorded.flat()).toEqual([...many(10), ...large].map((n) => n.dedupeKey));
  });

  it("records the entries SQS accepted and throws TransientError for the ones it did not", async () => {
    // Prepare
    sqsMock
      .on(SendMessageBatchCommand)
      .callsFake((input) => batchAnswer(input.Entries, new Set(["n2", "n5"])));
    const channel = sqsNotificationChannel(client, QUEUE);
    const recorded: string[] = [];

    // Act
    const sending = channel.sendBatch(noDatabase, many(8), async (_db, sent) => {
      recorded.push(...sent.map((n) => n.dedupeKey));
    });

    // Assess
    await expect(sending).rejects.toThrow(TransientError);
    expect(recorded).toEqual(["k-0", "k-1", "k-3", "k-4", "k-6", "k-7"]);
  });

  it("records nothing when the call itself fails", async () => {
    // Prepare
    sqsMock.on(SendMessageBatchCommand).rejects(
      new SQSServiceException({
        name: "ServiceUnavailable",
        $fault: "server",
        $metadata: { httpStatusCode: 503 },
      }),
    );
    const channel = sqsNotificationChannel(client, QUEUE);
    let recorded = 0;

    // Act
    const sending = channel.sendBatch(noDatabase, many(3), async (_db, sent) => {
      recorded += sent.length;
    });

    // Assess
    await expect(sending).rejects.toThrow(TransientError);
    expect(recorded).toBe(0);
  });
});

describe("intoBatches", () => {
  it("never puts more than 10 items or 256 KiB in a batch, and refuses an item larger than a batch", () => {
    // Act
    const sizes = [100, 100_000, 100_000, 100_000, ...Array.from({ length: 25 }, () => 10)];
    const batches = intoBatches(sizes, (b) => b);

    // Assess
    expect(batches.map((b) => b.length)).toEqual([3, 10, 10, 6]);
    expect(batches.flat()).toEqual(sizes);
    expect(() => intoBatches([MAX_BATCH_BYTES + 1], (b) => b)).toThrow(/exceeds/);
  });
});
