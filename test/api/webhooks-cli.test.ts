/**
 * The `webhooks` commands of the CLI (runCli, in this process) against the real local service and a
 * real receiver: add (the secret shown once), list, test, deliveries, delivery, redeliver,
 * rotate-secret, remove; `--json` answers parsed with the API's schemas; bad flags named, exit 2;
 * an unknown webhook exit 3.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  deliveryDetailSchema,
  deliveryPageSchema,
  deliverySchema,
  webhookListSchema,
  webhookWithSecretSchema,
} from "../../functions/schemas/events.ts";
import { cliAgainst } from "../support/cli-in-process.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";
import {
  startWebhookReceiver,
  verifyStandardWebhook,
  type WebhookReceiver,
} from "../support/webhook-receiver.ts";

let server: TestServer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  server = await startTestServer({ env: { WEBHOOK_POLL_INTERVAL_MS: "50" } });
  receiver = await startWebhookReceiver();
});

afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

const cli = cliAgainst(() => server);

describe("tenant-provisioning webhooks", () => {
  it("adds, tests, lists deliveries and their attempts, redelivers, rotates and removes", async () => {
    // Act: add (human output, then JSON)
    const human = await cli(
      "webhooks",
      "add",
      "--url",
      receiver.url,
      "--events",
      "tenant.deleted, schedule.fired",
    );
    const added = await cli(
      "--json",
      "webhooks",
      "add",
      "--url",
      receiver.url,
      "--events",
      "*",
      "--description",
      "crm",
    );
    const hook = webhookWithSecretSchema.parse(JSON.parse(added.stdout));
    const list = await cli("--json", "webhooks", "list");
    const table = await cli("webhooks", "list");
    const tested = deliverySchema.parse(
      JSON.parse((await cli("--json", "webhooks", "test", hook.id)).stdout),
    );
    await until(
      "the test delivery",
      async () =>
        deliveryDetailSchema.parse(
          JSON.parse((await cli("--json", "webhooks", "delivery", hook.id, tested.id)).stdout),
        ),
      (d) => d.status === "succeeded",
    );
    const deliveries = deliveryPageSchema.parse(
      JSON.parse((await cli("--json", "webhooks", "deliveries", hook.id)).stdout),
    );
    const detail = await cli("webhooks", "delivery", hook.id, tested.id);
    const redelivered = await cli("webhooks", "redeliver", hook.id, tested.id);
    await until(
      "the redelivery",
      async () => receiver.requests.length,
      (n) => n >= 2,
    );
    const rotated = await cli("webhooks", "rotate-secret", hook.id, "--overlap", "2");
    const removed = await cli("webhooks", "remove", hook.id);
    const gone = await cli("webhooks", "show", hook.id);

    // Assess
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/Signing secret: whsec_/);
    expect(human.stdout).toMatch(/only time the secret is shown/);
    expect(hook).toMatchObject({
      url: receiver.url,
      eventTypes: ["*"],
      description: "crm",
      status: "active",
    });
    expect(webhookListSchema.parse(JSON.parse(list.stdout)).items.map((w) => w.id)).toContain(hook.id);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+FAILURES\s+EVENTS\s+URL/m);
    expect(table.stdout).toContain("tenant.deleted,schedule.fired");
    expect(table.stdout).not.toContain("whsec_");
    expect(deliveries.items.map((d) => d.id)).toEqual([tested.id]);
    expect(detail.code).toBe(0);
    expect(detail.stdout).toMatch(/webhook\.test/);
    expect(detail.stdout).toMatch(/^\s*1\s+\S+ \S+\s+succeeded\s+200/m);
    expect(redelivered.code, redelivered.stderr).toBe(0);
    expect(receiver.requests.map((r) => r.headers["webhook-id"])).toEqual([tested.eventId, tested.eventId]);
    for (const r of receiver.requests) expect(verifyStandardWebhook(hook.secret, r)).toBe(true);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/Old secret until:/);
    expect(removed.code).toBe(0);
    expect(gone.code).toBe(3);
  });

  it("documents every webhooks command with --help, and lists them in the top help", async () => {
    const commands = [
      "add",
      "list",
      "show",
      "remove",
      "deliveries",
      "delivery",
      "redeliver",
      "test",
      "rotate-secret",
      "enable",
    ];
    const top = await cli("--help");
    const helps = await Promise.all(commands.map((c) => cli("webhooks", c, "--help")));

    for (const c of commands) expect(top.stdout).toContain(`webhooks ${c}`);
    helps.forEach((help, i) => {
      expect(help.code, commands[i]).toBe(0);
      expect(help.stdout).toContain(`Usage: tenant-provisioning webhooks ${commands[i]}`);
    });
  });

  it("names the bad flag and exits 2 before calling the API", async () => {
    const noEvents = await cli("webhooks", "add", "--url", "https://x.example");
    const badType = await cli("webhooks", "add", "--url", "https://x.example", "--events", "tenant.exploded");
    const badOverlap = await cli(
      "webhooks",
      "rotate-secret",
      "0b6c8f1e-0000-4000-8000-000000000000",
      "--overlap",
      "900",
    );
    const refused = await cli("webhooks", "add", "--url", "https://169.254.169.254/", "--events", "*");

    expect(noEvents.code).toBe(2);
    expect(noEvents.stderr).toMatch(/--events is required/);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toMatch(/--events/);
    expect(badOverlap.code).toBe(2);
    expect(badOverlap.stderr).toMatch(/--overlap/);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/url: must not point to a link-local address/);
  });
});
