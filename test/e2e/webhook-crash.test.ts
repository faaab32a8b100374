/**
 * At least once across a crash: the local server is SIGKILLed while a webhook delivery is in
 * flight (its event committed, the receiver holding the answer); started again on the same data,
 * it delivers the event once the attempt's lease is over — same `webhook-id`, same body, signed —
 * and the attempt the dead process never finished is recorded as interrupted.
 *
 * As in crash-resume.test.ts, the service runs as the start script's command in its own process
 * group, and SIGKILL goes to the whole group.
 */
import { afterEach, describe, expect, it } from "vitest";
import { provisionBody } from "../support/provision-body.ts";
import { killService, serviceHarness, stopService } from "../support/service-process.ts";
import { until } from "../support/wait.ts";
import {
  startWebhookReceiver,
  verifyStandardWebhook,
  type WebhookReceiver,
} from "../support/webhook-receiver.ts";

const API = "/api/provisioning";
const harness = serviceHarness("tp-webhook-crash-");
let receiver: WebhookReceiver | undefined;

/** Fast polling and a short attempt timeout (the lease after a crash is a few timeouts). */
const ENV = {
  LOG_LEVEL: "info",
  WEBHOOK_POLL_INTERVAL_MS: "50",
  WEBHOOK_TIMEOUT_MS: "1500",
  STEP_RETRY_INTERVAL_SECONDS: "1",
  STEP_RETRY_MAX_DELAY_SECONDS: "1",
};

afterEach(async () => {
  await receiver?.close();
  await harness.cleanup();
});

describe("a local server killed while a webhook is in flight", { timeout: 300_000 }, () => {
  it("delivers the event after a restart, with the same webhook-id, and records the interrupted attempt", async () => {
    // Prepare: a receiver that holds its first request (the sender is mid-attempt when killed)
    receiver = await startWebhookReceiver((index) => (index === 0 ? "hold" : 200));
    const dataDir = harness.tempDataDir();
    const { service: first, api: api1 } = await harness.startWithApi(ENV, dataDir);
    const hook = await api1("POST", `${API}/webhooks`, {
      url: receiver.url,
      eventTypes: ["tenant.provisioning.started", "tenant.provisioning.completed"],
    });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    const templates = await api1("GET", `${API}/templates?limit=100`);
    const basic = templates.body.items.find((t: any) => t.name === "Basic School System");

    // Act: provisioning commits tenant.provisioning.started; kill while its delivery is held
    const accepted = await api1(
      "POST",
      `${API}/templates/${basic.id}/provision`,
      provisionBody("crash-hook", "Crash!Hook-Pass-42"),
    );
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    await until(
      "the first attempt to reach the receiver",
      async () => receiver!.requests.length,
      (n) => n >= 1,
      60_000,
      10,
    );
    const held = receiver.requests[0]!;
    const killed = await killService(first);
    receiver.release(503); // the dead sender's socket is gone; nothing reads this answer

    const { service: second, api: api2 } = await harness.startWithApi(ENV, dataDir);
    const eventId = held.headers["webhook-id"]!;
    await until(
      "the event to be delivered again",
      async () => receiver!.requests.filter((r) => r.headers["webhook-id"] === eventId).length,
      (n) => n >= 2,
      120_000,
      50,
    );
    const deliveries = await until(
      "the delivery to be recorded as succeeded",
      async () =>
        (await api2("GET", `${API}/webhooks/${hook.body.id}/deliveries?limit=50`)).body.items as any[],
      (items) => items.some((d) => d.eventId === eventId && d.status === "succeeded"),
      60_000,
    );
    const delivery = deliveries.find((d) => d.eventId === eventId);
    const detail = (await api2("GET", `${API}/webhooks/${hook.body.id}/deliveries/${delivery.id}`)).body;

    // Assess
    expect(killed).toBe("SIGKILL");
    expect(JSON.parse(held.body)).toMatchObject({
      id: eventId,
      type: "tenant.provisioning.started",
      runId: accepted.body.id,
    });
    const again = receiver.requests.filter((r) => r.headers["webhook-id"] === eventId);
    expect(again.length).toBeGreaterThanOrEqual(2);
    for (const r of again) {
      expect(r.body).toBe(held.body);
      expect(verifyStandardWebhook(hook.body.secret, r)).toBe(true);
    }
    expect(detail.status).toBe("succeeded");
    expect(detail.attemptLog[0]).toMatchObject({ attempt: 1, outcome: "interrupted" });
    expect(detail.attemptLog.at(-1)).toMatchObject({ outcome: "succeeded", responseStatus: 200 });
    // The run itself was resumed by the second process and completed; its event arrived too.
    await until(
      "the completed event",
      async () => receiver!.events().map((e) => e.type),
      (types) => types.includes("tenant.provisioning.completed"),
      120_000,
    );
    await stopService(second);
  });
});
