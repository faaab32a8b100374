/**
 * Webhook subscriptions and the event catalogue through HTTP (driver-independent, on PGlite):
 * admin only; bad input named field by field; targets resolving to private, link-local or metadata
 * addresses refused (as literals and through DNS), HTTP allowed for loopback only; the signing
 * secret shown once and stored only sealed; the catalogue served at /api/events.json and as
 * OpenAPI `webhooks`, with a JSON Schema per event type and version.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../../functions/db/sql.ts";
import { EVENT_CATALOGUE, EVENT_TYPES, eventEnvelopeSchema } from "../../functions/schemas/events.ts";
import { expectApiError } from "../support/api-errors.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const WEBHOOKS = "/api/provisioning/webhooks";
/** What the made-up names resolve to (the service's resolver in this test). */
const NAMES: Record<string, string[]> = {
  "metadata.example.test": ["169.254.169.254"],
  "internal.example.test": ["10.0.0.1"],
  "mixed.example.test": ["93.184.216.34", "10.0.0.1"],
  "public.example.test": ["93.184.216.34"],
  "v6-private.example.test": ["fd00:ec2::254"],
  localhost: ["127.0.0.1", "::1"],
};

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    resolveHost: async (host) => {
      const found = NAMES[host];
      if (!found) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return found;
    },
  });
});

afterAll(async () => {
  await server?.close();
});

const create = (body: unknown, key?: string | null) =>
  server.request("POST", WEBHOOKS, { body, ...(key === undefined ? {} : { key }) });

async function tenantAdminKey(): Promise<string> {
  const slug = `wh-${randomUUID().slice(0, 8)}`;
  const [tenant] = await queryRows<{ id: string }>(
    server.database.db,
    sql`INSERT INTO tenants (name, slug, subdomain, status) VALUES (${slug}, ${slug}, ${slug}, 'active') RETURNING id::text AS id`,
  );
  const res = await server.request("POST", "/api/provisioning/keys", {
    body: { name: "tenant admin", role: "tenant_admin", tenantId: tenant!.id },
  });
  return res.body.key;
}

describe("registering a webhook", () => {
  it("returns the subscription with its signing secret once, and never again", async () => {
    // Act
    const res = await create({
      url: "https://public.example.test/hooks",
      eventTypes: ["tenant.provisioning.completed", "tenant.deleted"],
      description: "billing",
    });
    const one = await server.request("GET", `${WEBHOOKS}/${res.body.id}`);
    const list = await server.request("GET", WEBHOOKS);

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      url: "https://public.example.test/hooks",
      eventTypes: ["tenant.provisioning.completed", "tenant.deleted"],
      description: "billing",
      status: "active",
      consecutiveFailures: 0,
    });
    // whsec_ + base64 of 32 random bytes (Standard Webhooks: at least 24)
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(res.body.secret.slice(6), "base64")).toHaveLength(32);
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty("secret");
    expect(JSON.stringify(list.body)).not.toContain(res.body.secret.slice(6));
    expect(list.body.items.map((w: any) => w.id)).toContain(res.body.id);
  });

  it("stores the secret only sealed: not in any table, nor in the data directory, in clear", async () => {
    // Prepare
    const res = await create({ url: "https://public.example.test/sealed", eventTypes: ["*"] });
    const secret: string = res.body.secret;
    const raw = secret.slice(6);

    // Act
    const tables = await queryRows<{ table_name: string }>(
      server.database.db,
      sql`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    );
    const dumps: string[] = [];
    for (const { table_name } of tables) {
      const rows = await queryRows(server.database.db, sql.raw(`SELECT * FROM "${table_name}"`));
      dumps.push(JSON.stringify(rows));
    }
    const files = readdirSync(server.dataDir, { recursive: true, withFileTypes: true })
      .filter((f) => f.isFile())
      .map((f) => readFileSync(join(f.parentPath, f.name)).toString("latin1"));
    const [row] = await queryRows<{ secret_sealed: string }>(
      server.database.db,
      sql`SELECT secret_sealed FROM webhooks WHERE id = ${res.body.id}::uuid`,
    );

    // Assess
    expect(res.status).toBe(201);
    for (const dump of dumps) expect(dump).not.toContain(raw);
    for (const file of files) expect(file).not.toContain(raw);
    expect(row!.secret_sealed).toMatch(/^local:v1:[0-9a-f]{12}:/);
    expect(server.logs.join("\n")).not.toContain(raw);
  });

  it("refuses targets at private, link-local and metadata addresses, literal or through DNS", async () => {
    // Act
    const refused = await Promise.all(
      [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://metadata.example.test/hook",
        "https://internal.example.test/hook",
        "https://mixed.example.test/hook",
        "https://v6-private.example.test/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[fe80::1]/hook",
        "https://2852039166/hook",
        "https://192.168.1.20/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
      ].map((url) => create({ url, eventTypes: ["*"] })),
    );

    // Assess
    for (const res of refused) expectApiError(res, 400, { field: "url" });
    expect(refused[0]!.body.error.message).toMatch(/link-local address.*169\.254\.169\.254/);
    expect(refused[1]!.body.error.message).toMatch(/private address.*10\.0\.0\.1/);
    expect(refused[2]!.body.error.message).toMatch(/metadata\.example\.test resolves to 169\.254\.169\.254/);
    expect(refused[3]!.body.error.message).toMatch(/internal\.example\.test resolves to 10\.0\.0\.1/);
    expect(refused[4]!.body.error.message).toMatch(/10\.0\.0\.1/);
    expect(refused[8]!.body.error.message).toMatch(/169\.254\.169\.254/);
    const [n] = await queryRows<{ n: unknown }>(
      server.database.db,
      sql`SELECT count(*) AS n FROM webhooks WHERE url LIKE '%10.0.0.1%' OR url LIKE '%169.254%' OR url LIKE '%example.test/hook'`,
    );
    expect(Number(n!.n)).toBe(0);
  });

  it("takes https anywhere public, http only for loopback in local mode, and nothing else", async () => {
    // Act
    const loopback = await create({ url: "http://127.0.0.1:9/hook", eventTypes: ["*"] });
    const localhost = await create({ url: "http://localhost:9/hook", eventTypes: ["*"] });
    const plain = await create({ url: "http://public.example.test/hook", eventTypes: ["*"] });
    const ftp = await create({ url: "ftp://public.example.test/hook", eventTypes: ["*"] });
    const credentials = await create({ url: "https://user:pw@public.example.test/hook", eventTypes: ["*"] });
    const unknown = await create({ url: "https://nowhere.example.test/hook", eventTypes: ["*"] });
    const garbage = await create({ url: "not a url", eventTypes: ["*"] });

    // Assess
    expect(loopback.status, JSON.stringify(loopback.body)).toBe(201);
    expect(localhost.status, JSON.stringify(localhost.body)).toBe(201);
    for (const res of [plain, ftp, credentials, unknown, garbage]) expectApiError(res, 400, { field: "url" });
    expect(plain.body.error.message).toMatch(/https/);
    expect(credentials.body.error.message).toMatch(/credentials/);
    expect(unknown.body.error.message).toMatch(/does not resolve/);
  });

  it("names every bad field", async () => {
    // Act
    const noBody = await server.request("POST", WEBHOOKS);
    const empty = await create({});
    const badTypes = await create({ url: "https://public.example.test/x", eventTypes: ["tenant.exploded"] });
    const none = await create({ url: "https://public.example.test/x", eventTypes: [] });
    const twice = await create({ url: "https://public.example.test/x", eventTypes: ["*", "*"] });
    const testType = await create({ url: "https://public.example.test/x", eventTypes: ["webhook.test"] });
    const extra = await create({ url: "https://public.example.test/x", eventTypes: ["*"], secret: "mine" });

    // Assess
    expectApiError(noBody, 400, { field: "(body)" });
    expectApiError(empty, 400, { field: "url" });
    expectApiError(empty, 400, { field: "eventTypes" });
    expectApiError(badTypes, 400, { field: "eventTypes[0]" });
    expectApiError(none, 400, { field: "eventTypes" });
    expectApiError(twice, 400, { field: "eventTypes" });
    expectApiError(testType, 400, { field: "eventTypes[0]" });
    expectApiError(extra, 400, { field: "secret" });
  });

  it("is for admin keys only", async () => {
    // Prepare
    const key = await tenantAdminKey();

    // Act
    const list = await server.request("GET", WEBHOOKS, { key });
    const add = await create({ url: "https://public.example.test/x", eventTypes: ["*"] }, key);
    const anonymous = await server.request("GET", WEBHOOKS, { key: null });

    // Assess
    expectApiError(list, 403, { code: "forbidden" });
    expectApiError(add, 403, { code: "forbidden" });
    expectApiError(anonymous, 401, { code: "unauthorized" });
  });
});

describe("managing a webhook", () => {
  it("rotates the secret with an overlap (bounded), removes the subscription, and answers 404 after", async () => {
    // Prepare
    const created = await create({ url: "https://public.example.test/rotate", eventTypes: ["*"] });
    const id = created.body.id;

    // Act
    const tooLong = await server.request("POST", `${WEBHOOKS}/${id}/rotate-secret`, {
      body: { overlapHours: 1000 },
    });
    const rotated = await server.request("POST", `${WEBHOOKS}/${id}/rotate-secret`, { body: {} });
    const removed = await server.request("DELETE", `${WEBHOOKS}/${id}`);
    const gone = await server.request("GET", `${WEBHOOKS}/${id}`);
    const deliveries = await server.request("GET", `${WEBHOOKS}/${id}/deliveries`);
    const malformed = await server.request("GET", `${WEBHOOKS}/not-a-uuid`);
    const audit = await queryRows<{ action: string }>(
      server.database.db,
      sql`SELECT action FROM audit_logs WHERE target_id = ${id} ORDER BY created_at`,
    );

    // Assess
    expectApiError(tooLong, 400, { field: "overlapHours" });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    // The default overlap: 24 hours
    const overlap = Date.parse(rotated.body.previousSecretExpiresAt) - Date.parse(rotated.body.updatedAt);
    expect(overlap).toBe(24 * 3600_000);
    expect(removed.status).toBe(200);
    expectApiError(gone, 404, { code: "not_found" });
    expectApiError(deliveries, 404, { code: "not_found" });
    expectApiError(malformed, 404, { code: "not_found" });
    expect(audit.map((a) => a.action)).toEqual(["webhook.create", "webhook.rotate_secret", "webhook.delete"]);
  });
});

describe("the event catalogue", () => {
  it("is served at /api/events.json without a key: every type, its version and its JSON Schema", async () => {
    // Act
    const res = await server.request("GET", "/api/events.json", { key: null });

    // Assess
    expect(res.status).toBe(200);
    expect(res.body.source).toBe("tenant-provisioning");
    expect(res.body.events.map((e: any) => e.type)).toEqual(EVENT_TYPES);
    for (const type of [
      "tenant.provisioning.started",
      "tenant.provisioning.completed",
      "tenant.provisioning.failed",
      "tenant.provisioning.cancelled",
      "tenant.step.failed",
      "tenant.deprovisioning.started",
      "tenant.deprovisioning.access_disabled",
      "tenant.deprovisioning.completed",
      "tenant.restored",
      "tenant.deleted",
      "schedule.created",
      "schedule.cancelled",
      "schedule.fired",
      "alert.raised",
      "alert.resolved",
    ]) {
      const entry = res.body.events.find((e: any) => e.type === type);
      expect(entry, type).toBeDefined();
      expect(entry.version).toBe(1);
      expect(entry.schema.$id).toBe(`urn:tenant-provisioning:event:${type}:v1`);
      expect(entry.schema.required).toEqual(
        expect.arrayContaining(["id", "type", "version", "timestamp", "tenantId", "runId", "data"]),
      );
      expect(entry.schema.properties.type.const).toBe(type);
    }
  });

  it("is in the OpenAPI document as webhooks, each referring to its versioned schema", async () => {
    // Act
    const res = await server.request("GET", "/api/openapi.json", { key: null });

    // Assess
    expect(Object.keys(res.body.webhooks)).toEqual(EVENT_TYPES);
    for (const type of EVENT_TYPES) {
      const post = res.body.webhooks[type].post;
      const ref = post.requestBody.content["application/json"].schema.$ref as string;
      expect(ref).toBe(`#/components/schemas/Event.${type}.v${EVENT_CATALOGUE[type].version}`);
      expect(res.body.components.schemas[ref.split("/").at(-1)!]).toBeDefined();
      expect(post.parameters.map((p: any) => p.name)).toEqual([
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
      ]);
    }
  });

  it("describes events that the envelope schema accepts, and rejects one with a mistyped field", () => {
    // Prepare
    const event = {
      id: randomUUID(),
      type: "tenant.deleted",
      version: 1,
      timestamp: new Date().toISOString(),
      source: "tenant-provisioning",
      tenantId: randomUUID(),
      runId: randomUUID(),
      data: { reason: "deprovisioned", backupPreserved: true },
    };
    const schema = eventEnvelopeSchema("tenant.deleted");

    // Act
    const good = schema.safeParse(event);
    const bad = schema.safeParse({ ...event, data: { reason: "vanished", backupPreserved: true } });

    // Assess
    expect(good.success).toBe(true);
    expect(bad.success).toBe(false);
  });
});
