/**
 * Lifecycle events and webhooks through HTTP against a real database (PGlite, PostgreSQL, and
 * PostgreSQL through the Data API driver), delivered to real HTTP receivers on this machine:
 * every lifecycle change emits its event exactly once (outbox and delivery); a step retried three
 * times emits one event; a change that rolls back emits none; a receiver that fails five times
 * then succeeds gets the event with six recorded attempts; signatures verify with the Standard
 * Webhooks algorithm (and a rotated-out secret during its overlap) and fail with a wrong secret; a
 * name that resolves to a private address by delivery time is refused then; a subscription that
 * keeps failing, or answers 410, is disabled with an alert.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret } from "../../functions/domain/webhooks/webhook-signature.ts";
import { failInserts, tenantWithSlug } from "../support/fault-injection.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers, schemaOf, stepOf } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";
import {
  startWebhookReceiver,
  verifyStandardWebhook,
  type WebhookReceiver,
} from "../support/webhook-receiver.ts";

const PASSWORD = `Heron!Slate-${randomUUID().slice(0, 8)}-Meadow`;
const SERVER_ENV = {
  STEP_RETRY_INTERVAL_SECONDS: "1",
  STEP_RETRY_MAX_DELAY_SECONDS: "1",
  SCHEDULE_POLL_INTERVAL_MS: "100",
  // The periodic sweep runs only when a test asks (so events appear only where a test expects them).
  SWEEP_INTERVAL_SECONDS: "86400",
  WEBHOOK_POLL_INTERVAL_MS: "50",
  WEBHOOK_TIMEOUT_MS: "3000",
  WEBHOOK_RETRY_BASE_MS: "20",
  WEBHOOK_RETRY_MAX_DELAY_MS: "100",
  WEBHOOK_DISABLE_AFTER_FAILURES: "6",
  WEBHOOK_DISABLE_AFTER_SECONDS: "0",
};

/** Made-up names the service resolves through the test's resolver; one can be re-pointed. */
const names = new Map<string, string[]>([["flip.example.test", ["93.184.216.34"]]]);

let server: TestServer;
let everything: WebhookReceiver;
let everythingSecret: string;
const receivers: WebhookReceiver[] = [];
const h = runHelpers(() => server);

interface OutboxRow extends Record<string, unknown> {
  id: string;
  type: string;
  tenant_id: string | null;
  run_id: string | null;
  body: string;
  dedupe_key: string;
}

async function outbox(where = sql`TRUE`): Promise<OutboxRow[]> {
  return h.rows<OutboxRow>(
    sql`SELECT id::text AS id, type, tenant_id::text AS tenant_id, run_id::text AS run_id, body, dedupe_key
        FROM event_outbox WHERE ${where} ORDER BY occurred_at, created_at, id`,
  );
}

const ofTenants = (ids: readonly string[]) =>
  outbox(sql`tenant_id IN (SELECT jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)`);

async function exec(statement: string): Promise<void> {
  await server.database.db.execute(sql.raw(statement));
}

async function receiver(respond?: Parameters<typeof startWebhookReceiver>[0]): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(respond);
  receivers.push(r);
  return r;
}

async function subscribe(url: string, eventTypes: string[]): Promise<{ id: string; secret: string }> {
  const res = await server.request("POST", `${API}/webhooks`, { body: { url, eventTypes } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id, secret: res.body.secret };
}

async function provisionTenant(slug: string): Promise<any> {
  return h.settle((await h.provision("Basic School System", provisionBody(slug, PASSWORD))).id);
}

async function deprovision(tenantId: string, body: Record<string, unknown>): Promise<any> {
  const res = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, { body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

/** Waits until `receiver` has every one of `events` (by id). */
async function delivered(r: WebhookReceiver, events: readonly OutboxRow[]): Promise<void> {
  await until(
    `${events.length} events delivered`,
    async () => new Set(r.requests.map((q) => q.headers["webhook-id"])),
    (ids) => events.every((e) => ids.has(e.id)),
    60_000,
  );
}

async function deliveryOf(webhookId: string, deliveryId: string): Promise<any> {
  const res = await server.request("GET", `${API}/webhooks/${webhookId}/deliveries/${deliveryId}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function testDelivery(webhookId: string): Promise<any> {
  const res = await server.request("POST", `${API}/webhooks/${webhookId}/test`);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

beforeAll(async () => {
  server = await startTestServer({
    env: SERVER_ENV,
    resolveHost: async (host) => {
      const found = names.get(host);
      if (!found) throw new Error(`ENOTFOUND ${host}`);
      return found;
    },
  });
  everything = await receiver();
  everythingSecret = (await subscribe(everything.url, ["*"])).secret;
});

afterAll(async () => {
  await server?.close();
  for (const r of receivers) await r.close();
});

describe("lifecycle events", () => {
  it("emits each lifecycle change's event exactly once, in the outbox and to the receiver", async () => {
    // Prepare: A is provisioned, scheduled, unscheduled, scheduled again (fires), restored; B
    // fails at CreateAdminUser, is alerted on, the alert resolved, the run cleaned up; C is cancelled
    // during its deprovisioning's grace period.
    const a = await provisionTenant(`ev-a-${randomUUID().slice(0, 6)}`);
    const slugB = `ev-b-${randomUUID().slice(0, 6)}`;
    const removeTrigger = await failInserts(exec, {
      name: `test_events_fail_${slugB}`,
      table: "users",
      when: `NEW.role = 'tenant_admin' AND ${tenantWithSlug(slugB)}`,
      sqlstate: "23514",
      message: "'injected failure for %', NEW.email",
    });
    const b = await provisionTenant(slugB);
    await removeTrigger();
    const c = await provisionTenant(`ev-c-${randomUUID().slice(0, 6)}`);

    // Act
    const later = await server.request("POST", `${API}/tenants/${a.tenantId}/schedule-deprovision`, {
      body: { at: new Date(Date.now() + 3600_000).toISOString() },
    });
    const cancelled = await server.request("DELETE", `${API}/schedules/${later.body.id}`);
    const soon = await server.request("POST", `${API}/tenants/${a.tenantId}/schedule-deprovision`, {
      body: { at: new Date(Date.now() + 1500).toISOString(), preserveBackups: true, gracePeriodHours: 0 },
    });
    const fired = await until(
      "the schedule to fire",
      async () => (await server.request("GET", `${API}/schedules?tenantId=${a.tenantId}`)).body.items,
      (items: any[]) => items.some((s) => s.id === soon.body.id && s.progressId),
    );
    const aDeprovision = await h.settle(fired.find((s: any) => s.id === soon.body.id).progressId);
    const [backup] = (await server.request("GET", `${API}/tenants/${a.tenantId}/backups`)).body.items;
    const restoreRes = await server.request("POST", `${API}/tenants/${a.tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    const aRestore = await h.settle(restoreRes.body.id);

    const sweep = await server.app.sweeper.runOnce();
    const alert = sweep.raised.find((x) => x.subjectId === b.id);
    const resolved = await server.request("POST", `${API}/alerts/${alert?.id}/resolve`);
    const cleanup = await server.request("POST", `${API}/progress/${b.id}/cleanup`);

    const cDeprovision = await deprovision(c.tenantId, { gracePeriodHours: 1 });
    await until(
      "C's access to be disabled",
      () => h.progressOf(cDeprovision.id),
      (run) => stepOf(run, "DisableAccess").status === "completed",
    );
    const cancel = await server.request("POST", `${API}/progress/${cDeprovision.id}/cancel`);
    await h.settle(cDeprovision.id);

    const events = await ofTenants([a.tenantId, b.tenantId, c.tenantId]);
    await delivered(everything, events);
    await server.app.eventWorker.drain();

    // Assess: the runs did what the events say
    expect([a.status, b.status, c.status]).toEqual(["completed", "failed", "completed"]);
    expect([later.status, cancelled.status, soon.status]).toEqual([201, 200, 201]);
    expect(aDeprovision.status).toBe("completed");
    expect(aRestore.status).toBe("completed");
    expect(alert).toBeDefined();
    expect([resolved.status, cleanup.status, cancel.status]).toEqual([200, 200, 200]);

    // Assess: each change's event, once
    const typesOf = (tenantId: string) =>
      events
        .filter((e) => e.tenant_id === tenantId)
        .map((e) => e.type)
        .sort();
    expect(typesOf(a.tenantId)).toEqual(
      [
        "tenant.provisioning.started",
        "tenant.provisioning.completed",
        "schedule.created",
        "schedule.cancelled",
        "schedule.created",
        "schedule.fired",
        "tenant.deprovisioning.started",
        "tenant.deprovisioning.access_disabled",
        "tenant.deleted",
        "tenant.deprovisioning.completed",
        "tenant.restore.started",
        "tenant.restored",
      ].sort(),
    );
    expect(typesOf(b.tenantId)).toEqual(
      [
        "tenant.provisioning.started",
        "tenant.step.failed",
        "tenant.provisioning.failed",
        "alert.raised",
        "alert.resolved",
        "tenant.deleted",
      ].sort(),
    );
    expect(typesOf(c.tenantId)).toEqual(
      [
        "tenant.provisioning.started",
        "tenant.provisioning.completed",
        "tenant.deprovisioning.started",
        "tenant.deprovisioning.access_disabled",
        "tenant.deprovisioning.cancelled",
      ].sort(),
    );

    // Assess: what the events say
    const body = (type: string, tenantId: string, n = 0) =>
      JSON.parse(events.filter((e) => e.type === type && e.tenant_id === tenantId)[n]!.body);
    expect(body("tenant.provisioning.completed", a.tenantId)).toMatchObject({
      type: "tenant.provisioning.completed",
      version: 1,
      source: "tenant-provisioning",
      tenantId: a.tenantId,
      runId: a.id,
      data: { kind: "provision", attempt: 1, templateId: a.templateId, templateVersion: 1 },
    });
    expect(body("tenant.provisioning.completed", a.tenantId).data.durationMs).toBeGreaterThan(0);
    expect(body("schedule.cancelled", a.tenantId).data).toEqual({
      scheduleId: later.body.id,
      runAt: later.body.runAt,
      reason: "operator",
    });
    expect(body("schedule.fired", a.tenantId)).toMatchObject({
      runId: aDeprovision.id,
      data: { scheduleId: soon.body.id },
    });
    expect(body("tenant.deleted", a.tenantId).data).toEqual({
      reason: "deprovisioned",
      backupPreserved: true,
    });
    expect(body("tenant.restored", a.tenantId)).toMatchObject({
      runId: aRestore.id,
      data: { kind: "restore" },
    });
    expect(body("tenant.step.failed", b.tenantId).data).toMatchObject({
      step: "CreateAdminUser",
      attempts: 1,
      error: { name: "DatabaseError" },
    });
    expect(body("tenant.provisioning.failed", b.tenantId).data).toMatchObject({
      step: "CreateAdminUser",
      error: { name: "DatabaseError" },
    });
    expect(body("alert.raised", b.tenantId).data).toMatchObject({ alertId: alert!.id, kind: "run_failed" });
    expect(body("alert.resolved", b.tenantId).data).toEqual({
      alertId: alert!.id,
      kind: "run_failed",
      resolvedBy: "operator",
    });
    expect(body("tenant.deleted", b.tenantId).data).toEqual({
      reason: "provisioning_cleanup",
      backupPreserved: false,
    });
    // Cancelled in the grace period: the run's current step was the last one it started.
    expect(body("tenant.deprovisioning.cancelled", c.tenantId).data).toMatchObject({
      step: "DisableAccess",
    });
    expect(body("tenant.deprovisioning.access_disabled", c.tenantId).data).toMatchObject({
      apiKeysRevoked: 0,
      usersDisabled: expect.any(Number),
    });
    // No personal data and no secret in any event.
    for (const e of events) {
      expect(e.body).not.toContain(PASSWORD);
      expect(e.body).not.toContain("example.org");
      expect(e.body).not.toContain("Ada Admin");
    }

    // Assess: delivered once each, the exact bytes of the outbox, signed
    for (const e of events) {
      const got = everything.requests.filter((q) => q.headers["webhook-id"] === e.id);
      expect(got, e.type).toHaveLength(1);
      expect(got[0]!.body).toBe(e.body);
      expect(verifyStandardWebhook(everythingSecret, got[0]!), e.type).toBe(true);
    }
  });

  it("emits one event for a step that succeeded on its fourth attempt", async () => {
    // Prepare: the event insert of DisableAccess fails transiently three times for this tenant
    const d = await provisionTenant(`ev-d-${randomUUID().slice(0, 6)}`);
    const remove = await failInserts(exec, {
      name: `test_events_retry_${d.tenantId.slice(0, 8)}`,
      table: "event_outbox",
      when: `NEW.type = 'tenant.deprovisioning.access_disabled' AND NEW.tenant_id = '${d.tenantId}'::uuid`,
      sqlstate: "40001",
      message: "'injected serialization failure'",
      times: 3,
    });

    // Act
    const run = await h.settle(
      (await deprovision(d.tenantId, { gracePeriodHours: 0, preserveBackups: false })).id,
    );
    await remove();
    const events = await ofTenants([d.tenantId]);
    await delivered(everything, events);

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(stepOf(run, "DisableAccess").attempts).toBe(4);
    const disabled = events.filter((e) => e.type === "tenant.deprovisioning.access_disabled");
    expect(disabled).toHaveLength(1);
    expect(events.filter((e) => e.type === "tenant.deprovisioning.completed")).toHaveLength(1);
    expect(everything.requests.filter((q) => q.headers["webhook-id"] === disabled[0]!.id)).toHaveLength(1);
  });

  it("emits nothing for a change that rolled back", async () => {
    // Prepare: a provisioning request whose audit entry cannot be written; a deprovisioning whose
    // CleanupData cannot write its event
    const slug = `ev-e-${randomUUID().slice(0, 6)}`;
    const removeAudit = await failInserts(exec, {
      name: `test_events_audit_${slug.replace(/-/g, "_")}`,
      table: "audit_logs",
      when: `NEW.action = 'provision.start' AND NEW.details->>'slug' = '${slug}'`,
      sqlstate: "23514",
      message: "'injected audit failure'",
    });
    const f = await provisionTenant(`ev-f-${randomUUID().slice(0, 6)}`);
    const removeDeleted = await failInserts(exec, {
      name: `test_events_deleted_${f.tenantId.slice(0, 8)}`,
      table: "event_outbox",
      when: `NEW.type = 'tenant.deleted' AND NEW.tenant_id = '${f.tenantId}'::uuid`,
      sqlstate: "23514",
      message: "'injected event failure'",
    });
    const before = (await outbox()).length;

    // Act
    const rejected = await server.request(
      "POST",
      `${API}/templates/${await h.templateId("Basic School System")}/provision`,
      {
        body: provisionBody(slug, PASSWORD),
      },
    );
    const afterRejected = (await outbox()).length;
    const run = await h.settle(
      (await deprovision(f.tenantId, { gracePeriodHours: 0, preserveBackups: false })).id,
    );
    await removeAudit();
    await removeDeleted();
    const events = await ofTenants([f.tenantId]);

    // Assess: the request changed nothing and emitted nothing
    expect(rejected.status).toBe(500);
    expect(afterRejected).toBe(before);
    expect(await h.countOf(sql`SELECT count(*) AS n FROM tenants WHERE slug = ${slug}`)).toBe(0);
    // Assess: CleanupData rolled back with its event (the data is still there); its failure was emitted
    expect(run.status).toBe("failed");
    expect(stepOf(run, "CleanupData").status).toBe("failed");
    expect(await h.schemaExists(f.tenantId)).toBe(true);
    expect(events.map((e) => e.type)).not.toContain("tenant.deleted");
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        "tenant.deprovisioning.access_disabled",
        "tenant.step.failed",
        "tenant.deprovisioning.failed",
      ]),
    );
    expect(JSON.parse(events.find((e) => e.type === "tenant.step.failed")!.body).data.step).toBe(
      "CleanupData",
    );
    expect(schemaOf(f.tenantId)).toMatch(/^tenant_/);
  });
});

describe("webhook deliveries", () => {
  let flaky: WebhookReceiver;
  let flakyHook: { id: string; secret: string };

  it("gets an event to a receiver that failed five times, with six recorded attempts", async () => {
    // Prepare
    flaky = await receiver((index) => (index < 5 ? 500 : 200));
    flakyHook = await subscribe(flaky.url, ["alert.resolved"]);

    // Act
    const queued = await testDelivery(flakyHook.id);
    const done = await until(
      "the test delivery to succeed",
      () => deliveryOf(flakyHook.id, queued.id),
      (d) => d.status !== "pending",
    );

    // Assess
    expect(done).toMatchObject({
      status: "succeeded",
      attempts: 6,
      lastResponseStatus: 200,
      lastError: null,
    });
    expect(done.attemptLog.map((a: any) => [a.attempt, a.outcome, a.responseStatus])).toEqual([
      [1, "failed", 500],
      [2, "failed", 500],
      [3, "failed", 500],
      [4, "failed", 500],
      [5, "failed", 500],
      [6, "succeeded", 200],
    ]);
    for (const a of done.attemptLog) {
      expect(a.latencyMs).toEqual(expect.any(Number));
      if (a.outcome === "failed") expect(a.error).toMatch(/HTTP 500/);
    }
    expect(done.event).toMatchObject({
      id: queued.eventId,
      type: "webhook.test",
      data: { webhookId: flakyHook.id },
    });
    expect(flaky.requests).toHaveLength(6);
    expect(new Set(flaky.requests.map((q) => q.headers["webhook-id"]))).toEqual(new Set([queued.eventId]));
    const list = await server.request("GET", `${API}/webhooks/${flakyHook.id}/deliveries?status=succeeded`);
    expect(list.body.items.map((d: any) => d.id)).toEqual([queued.id]);
    const hook = await server.request("GET", `${API}/webhooks/${flakyHook.id}`);
    expect(hook.body).toMatchObject({
      status: "active",
      consecutiveFailures: 0,
      lastSuccessAt: expect.any(String),
    });
  });

  it("signs so that the documented algorithm verifies with the secret, fails with a wrong one, and overlaps on rotation", async () => {
    // Prepare: the six requests of the flaky receiver
    const request = flaky.requests.at(-1)!;

    // Act: rotate with an overlap, send; rotate without one, send
    const overlapping = await server.request("POST", `${API}/webhooks/${flakyHook.id}/rotate-secret`, {
      body: { overlapHours: 1 },
    });
    const first = await testDelivery(flakyHook.id);
    await until(
      "the first test after rotation",
      () => deliveryOf(flakyHook.id, first.id),
      (d) => d.status === "succeeded",
    );
    const immediate = await server.request("POST", `${API}/webhooks/${flakyHook.id}/rotate-secret`, {
      body: { overlapHours: 0 },
    });
    const second = await testDelivery(flakyHook.id);
    await until(
      "the second test after rotation",
      () => deliveryOf(flakyHook.id, second.id),
      (d) => d.status === "succeeded",
    );
    const during = flaky.requests.find((q) => q.headers["webhook-id"] === first.eventId)!;
    const after = flaky.requests.find((q) => q.headers["webhook-id"] === second.eventId)!;

    // Assess: every attempt verifies; a wrong secret or a changed body does not
    for (const q of flaky.requests.slice(0, 6)) expect(verifyStandardWebhook(flakyHook.secret, q)).toBe(true);
    expect(request.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verifyStandardWebhook(generateSecret(), request)).toBe(false);
    expect(verifyStandardWebhook(flakyHook.secret, { ...request, body: `${request.body} ` })).toBe(false);
    expect(
      verifyStandardWebhook(flakyHook.secret, {
        ...request,
        headers: { ...request.headers, "webhook-timestamp": "1600000000" },
      }),
    ).toBe(false);
    // Assess: during the overlap both secrets verify (two signatures), after it only the newest
    expect(overlapping.status).toBe(200);
    expect(overlapping.body.secret).not.toBe(flakyHook.secret);
    expect(overlapping.body.previousSecretExpiresAt).toEqual(expect.any(String));
    expect(during.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(verifyStandardWebhook(overlapping.body.secret, during)).toBe(true);
    expect(verifyStandardWebhook(flakyHook.secret, during)).toBe(true);
    expect(after.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    expect(verifyStandardWebhook(immediate.body.secret, after)).toBe(true);
    expect(verifyStandardWebhook(overlapping.body.secret, after)).toBe(false);
  });

  it("redelivers a delivered event with the same webhook-id", async () => {
    // Prepare
    const [delivery] = (await server.request("GET", `${API}/webhooks/${flakyHook.id}/deliveries?limit=1`))
      .body.items;
    const before = flaky.requests.length;

    // Act
    const res = await server.request(
      "POST",
      `${API}/webhooks/${flakyHook.id}/deliveries/${delivery.id}/redeliver`,
    );
    const done = await until(
      "the redelivery",
      () => deliveryOf(flakyHook.id, delivery.id),
      (d) => d.status === "succeeded" && d.attempts === delivery.attempts + 1,
    );

    // Assess
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: delivery.id, status: "pending" });
    expect(done.attemptLog.at(-1)).toMatchObject({ outcome: "succeeded", responseStatus: 200 });
    expect(flaky.requests.slice(before).map((q) => q.headers["webhook-id"])).toEqual([delivery.eventId]);
  });

  it("refuses to deliver to a name that resolves to a private address by delivery time", async () => {
    // Prepare: registered while the name pointed to a public address
    const hook = await subscribe("https://flip.example.test/hook", ["alert.resolved"]);
    names.set("flip.example.test", ["10.0.0.1"]);

    // Act
    const queued = await testDelivery(hook.id);
    const tried = await until(
      "the refused attempt",
      () => deliveryOf(hook.id, queued.id),
      (d) => d.attemptLog.some((a: any) => a.outcome === "failed"),
    );
    await server.request("DELETE", `${API}/webhooks/${hook.id}`);

    // Assess
    const attempt = tried.attemptLog.find((a: any) => a.outcome === "failed");
    expect(attempt.responseStatus).toBeNull();
    expect(attempt.error).toMatch(/refused.*private address.*10\.0\.0\.1/);
  });

  it("disables a subscription that keeps failing, or answers 410, with an alert; enabling it resumes delivery", async () => {
    // Prepare
    const failing = await receiver(() => 503);
    const gone = await receiver(() => 410);
    const failingHook = await subscribe(failing.url, ["alert.resolved"]);
    const goneHook = await subscribe(gone.url, ["alert.resolved"]);

    // Act
    const queued = await testDelivery(failingHook.id);
    await testDelivery(goneHook.id);
    const disabled = await until(
      "both subscriptions to be disabled",
      async () => (await server.request("GET", `${API}/webhooks`)).body.items,
      (items: any[]) =>
        items.filter((w) => [failingHook.id, goneHook.id].includes(w.id) && w.status === "disabled")
          .length === 2,
    );
    const attemptsWhileDisabled = failing.requests.length;
    const alerts = (await server.request("GET", `${API}/alerts?kind=webhook_failing`)).body.items;
    failing.respond(() => 200);
    const enabled = await server.request("POST", `${API}/webhooks/${failingHook.id}/enable`);
    const done = await until(
      "the delivery to resume",
      () => deliveryOf(failingHook.id, queued.id),
      (d) => d.status === "succeeded",
    );
    const raised = await outbox(sql`type = 'alert.raised'`);

    // Assess
    const byId = new Map(disabled.map((w: any) => [w.id, w]));
    expect(byId.get(failingHook.id)).toMatchObject({ status: "disabled", consecutiveFailures: 6 });
    expect(byId.get(failingHook.id).disabledReason).toMatch(/6 failed attempts in a row/);
    expect(byId.get(goneHook.id).disabledReason).toMatch(/410 Gone/);
    expect(gone.requests).toHaveLength(1);
    expect(attemptsWhileDisabled).toBe(6);
    expect(alerts.map((a: any) => a.subjectId).sort()).toEqual([failingHook.id, goneHook.id].sort());
    expect(alerts.every((a: any) => a.kind === "webhook_failing" && a.subjectType === "webhook")).toBe(true);
    const raisedFor = raised.map((e) => JSON.parse(e.body).data.subjectId);
    expect(raisedFor).toEqual(expect.arrayContaining([failingHook.id, goneHook.id]));
    expect(enabled.body).toMatchObject({ status: "active", consecutiveFailures: 0, disabledReason: null });
    expect(done.attempts).toBe(7);
  });
});
