/** The SQS notification channel, with the SQS client mocked (aws-sdk-client-mock, reset after each test). */
import { createHash } from "node:crypto";
import { SendMessageCommand, SQSClient, SQSServiceException } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import type { Database } from "../../functions/db/client.ts";
import type { Notification } from "../../functions/domain/notifications/notification-channel.ts";
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
