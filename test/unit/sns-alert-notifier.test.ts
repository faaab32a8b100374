/** The SNS alert channel, with the SNS client mocked (aws-sdk-client-mock, reset after each test). */
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { snsAlertNotifier, snsSubject } from "../../functions/domain/operations/sns-alert-notifier.ts";
import type { Alert } from "../../functions/schemas/operations.ts";

const TOPIC = "arn:aws:sns:eu-west-1:123456789012:tenant-provisioning-alerts";
const snsMock = mockClient(SNSClient);

function alert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: "5f0c4a52-3f7e-4a39-9d61-0d3b0d2d7a11",
    kind: "run_failed",
    severity: "critical",
    dedupeKey: "run_failed:0a3c7a0e-4e43-4c57-8f2a-6f3c1f2b9e10:1",
    subjectType: "progress",
    subjectId: "0a3c7a0e-4e43-4c57-8f2a-6f3c1f2b9e10",
    tenantId: "9b2f1e43-0c55-4d0b-a7ea-4f6f5b1c2d3e",
    message: "Provisioning run 0a3c7a0e of tenant north-district failed at RunMigrations: boom",
    details: { step: "RunMigrations", attempt: 1 },
    raisedAt: "2026-03-01T12:00:00.000Z",
    resolvedAt: null,
    notifiedAt: null,
    ...overrides,
  };
}

afterEach(() => {
  snsMock.reset();
});

describe("snsAlertNotifier", () => {
  it("publishes the alert as JSON to the topic, with kind and severity attributes", async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: "m-1" });
    const notifier = snsAlertNotifier({ client: new SNSClient({ region: "eu-west-1" }), topicArn: TOPIC });
    const a = alert();

    // Act
    await notifier.notify(a);

    // Assess
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.TopicArn).toBe(TOPIC);
    expect(JSON.parse(input.Message!)).toEqual(a);
    expect(input.Subject).toBe(`[critical] ${a.message}`);
    expect(input.MessageAttributes).toEqual({
      kind: { DataType: "String", StringValue: "run_failed" },
      severity: { DataType: "String", StringValue: "critical" },
    });
    expect(input.MessageGroupId).toBeUndefined();
    expect(input.MessageDeduplicationId).toBeUndefined();
  });

  it("adds a message group and deduplication id on a FIFO topic", async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: "m-2" });
    const notifier = snsAlertNotifier({
      client: new SNSClient({ region: "eu-west-1" }),
      topicArn: `${TOPIC}.fifo`,
    });

    // Act
    await notifier.notify(alert({ kind: "tenant_over_limit", severity: "warning" }));

    // Assess
    const input = snsMock.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.MessageGroupId).toBe("tenant_over_limit");
    expect(input.MessageDeduplicationId).toBe(alert().id);
  });

  it("rejects when SNS fails, so that the sweep retries the alert", async () => {
    // Prepare
    snsMock.on(PublishCommand).rejects(new Error("Rate exceeded"));
    const notifier = snsAlertNotifier({ client: new SNSClient({ region: "eu-west-1" }), topicArn: TOPIC });

    // Act
    const attempt = notifier.notify(alert());

    // Assess
    await expect(attempt).rejects.toThrow("Rate exceeded");
  });
});

describe("snsSubject", () => {
  it("keeps subjects within SNS's 100 printable ASCII characters", () => {
    // Prepare
    const long = alert({ message: `Tenant “Škola” — ${"x".repeat(200)}\nsecond line` });

    // Act
    const subject = snsSubject(long);

    // Assess
    expect(subject).toHaveLength(100);
    expect(subject).toMatch(/^\[critical\] Tenant \?\?kola\? \? x+\.\.\.$/);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subject.endsWith("...")).toBe(true);
  });
});
