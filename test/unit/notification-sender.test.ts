/**
 * The SES sender (functions/notification-sender.ts → domain/notifications/ses-sender.ts) with the
 * SES v2 client mocked (aws-sdk-client-mock, reset after each test), on SQS events of the shape
 * Lambda delivers, and the message renderer it shares with the local outbox worker.
 */
import { MessageRejected, SESv2Client, SendEmailCommand } from "@aws-sdk/client-sesv2";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEDUPE_HEADER,
  escapeHtml,
  renderNotification,
} from "../../functions/domain/notifications/message-rendering.ts";
import type { NotificationMessage } from "../../functions/domain/notifications/notification-message.ts";
import { createNotificationSenderHandler } from "../../functions/notification-sender.ts";
import { silentLogger } from "../../functions/shared/logger.ts";

const sesMock = mockClient(SESv2Client);
afterEach(() => sesMock.reset());

const message = (overrides: Partial<NotificationMessage> = {}): NotificationMessage => ({
  kind: "welcome",
  tenantId: "9b2f1e43-0c55-4d0b-a7ea-4f6f5b1c2d3e",
  progressId: "0a3c7a0e-4e43-4c57-8f2a-6f3c1f2b9e10",
  recipient: "admin@north.example",
  payload: { adminName: "Ada Admin", tenantName: "North District", subdomain: "north" },
  dedupeKey: "welcome:0a3c7a0e-4e43-4c57-8f2a-6f3c1f2b9e10",
  ...overrides,
});

/** An SQS record as Lambda's event source mapping delivers it. */
function record(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "1767225600000",
      SenderId: "AROAEXAMPLE",
      ApproximateFirstReceiveTimestamp: "1767225600100",
    },
    messageAttributes: {},
    md5OfBody: "0",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:tenant-notifications",
    awsRegion: "eu-west-1",
  };
}

const eventOf = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

const handler = (configurationSet: string | null = "tenant-mail") =>
  createNotificationSenderHandler({
    client: new SESv2Client({ region: "eu-west-1" }),
    from: "no-reply@schools.example",
    configurationSet,
    logger: silentLogger,
  });

describe("notification sender", () => {
  it("sends each queued notification as one e-mail from the configured sender", async () => {
    // Prepare
    sesMock.on(SendEmailCommand).resolves({ MessageId: "ses-1" });
    const welcome = message();

    // Act
    const result = await handler()(eventOf(record("m-1", JSON.stringify(welcome))));

    // Assess
    expect(result).toEqual({ batchItemFailures: [] });
    const calls = sesMock.commandCalls(SendEmailCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    const rendered = renderNotification(welcome);
    expect(input).toMatchObject({
      FromEmailAddress: "no-reply@schools.example",
      Destination: { ToAddresses: ["admin@north.example"] },
      ConfigurationSetName: "tenant-mail",
      EmailTags: [{ Name: "kind", Value: "welcome" }],
      Content: {
        Simple: {
          Subject: { Data: rendered.subject, Charset: "UTF-8" },
          Body: { Text: { Data: rendered.text }, Html: { Data: rendered.html } },
          Headers: [{ Name: DEDUPE_HEADER, Value: welcome.dedupeKey }],
        },
      },
    });
  });

  it("reports only the failed messages, so the rest of the batch is not delivered again", async () => {
    // Prepare
    sesMock
      .on(SendEmailCommand, { Destination: { ToAddresses: ["rejected@north.example"] } })
      .rejects(new MessageRejected({ message: "Email address is not verified.", $metadata: {} }))
      .on(SendEmailCommand, { Destination: { ToAddresses: ["admin@north.example"] } })
      .resolves({ MessageId: "ses-ok" });
    const event = eventOf(
      record("ok-1", JSON.stringify(message())),
      record("bad-ses", JSON.stringify(message({ recipient: "rejected@north.example" }))),
      record("bad-json", "{not json"),
      record("bad-shape", JSON.stringify({ kind: "welcome", recipient: "not an address" })),
      record(
        "ok-2",
        JSON.stringify(message({ kind: "deprovisioning_notice", payload: { tenantName: "North" } })),
      ),
    );

    // Act
    const result = await handler(null)(event);

    // Assess
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      "bad-ses",
      "bad-json",
      "bad-shape",
    ]);
    const sent = sesMock.commandCalls(SendEmailCommand).map((c) => c.args[0].input);
    expect(sent.map((s) => s.Destination?.ToAddresses?.[0])).toEqual([
      "admin@north.example",
      "rejected@north.example",
      "admin@north.example",
    ]);
    // No configuration set configured: none sent.
    expect(sent.every((s) => s.ConfigurationSetName === undefined)).toBe(true);
  });
});

describe("renderNotification", () => {
  it("renders a welcome message in text and HTML, escaping what the tenant named", () => {
    // Act
    const rendered = renderNotification(
      message({ payload: { adminName: "Ada <script>", tenantName: "North & South", subdomain: "north" } }),
    );

    // Assess
    expect(rendered.subject).toBe("Welcome to North & South");
    expect(rendered.text).toContain("Hello Ada <script>,");
    expect(rendered.html).toContain("Hello Ada &lt;script&gt;,");
    expect(rendered.html).not.toContain("<script>");
    expect(rendered.html).toContain("North &amp; South is ready at north.");
  });

  it("renders a deprovisioning notice with its grace period, and without one", () => {
    const withGrace = renderNotification({
      kind: "deprovisioning_notice",
      recipient: "buyer@north.example",
      payload: {
        userName: "Bo",
        tenantName: "North",
        gracePeriodHours: 24,
        dataDeletedAfter: "2031-01-02T00:00:00Z",
      },
    });
    const none = renderNotification({ kind: "deprovisioning_notice", recipient: "b@x.example", payload: {} });

    expect(withGrace.subject).toBe("North is being shut down");
    expect(withGrace.text).toContain("after a grace period of 24 hours (after 2031-01-02T00:00:00Z UTC)");
    expect(none.subject).toBe("your organization is being shut down");
    expect(none.text).toContain("Hello there,");
  });

  it("refuses a kind it has no renderer for", () => {
    expect(() =>
      renderNotification({ kind: "invoice" as never, recipient: "a@b.example", payload: {} }),
    ).toThrow(/no renderer for notification kind "invoice"/);
  });

  it("escapes the five HTML-significant characters", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });
});
