/**
 * API key management through HTTP: keys are shown once and stored only as SHA-256 hashes, listed
 * without secrets, revoked keys stop working, and tenant_admin keys need an existing tenant.
 */
import { createHash, randomUUID } from "node:crypto";
import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiKeys, auditLogs, tenants } from "../../functions/db/schema.ts";
import { expectApiError } from "../support/api-errors.ts";
import type { HttpResult } from "../support/server.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const KEYS = "/api/provisioning/keys";
const TEMPLATES = "/api/provisioning/templates";

let server: TestServer;

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

async function createTenant(): Promise<string> {
  const slug = `k-${randomUUID().slice(0, 8)}`;
  const [tenant] = await server.database.db
    .insert(tenants)
    .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active" })
    .returning({ id: tenants.id });
  return tenant!.id;
}

async function keyCount(): Promise<number> {
  const [row] = await server.database.db.select({ n: count() }).from(apiKeys);
  return Number(row!.n);
}

const expectError = (res: HttpResult<any>, status: number, code: string, field?: string) =>
  expectApiError(res, status, { code, field });

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe("creating keys", () => {
  it("creates an admin key, shows it once and stores only its hash", async () => {
    // Act
    const res = await server.request("POST", KEYS, { body: { name: "ops laptop", role: "admin" } });

    // Assess
    expect(res.status).toBe(201);
    const key = res.body.key as string;
    expect(key).toMatch(/^tpk_[A-Za-z0-9_-]{43}$/);
    expect(res.body).toMatchObject({
      name: "ops laptop",
      role: "admin",
      tenantId: null,
      prefix: key.slice(0, 12),
      revokedAt: null,
    });
    const rows = await server.database.db.select().from(apiKeys).where(eq(apiKeys.id, res.body.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.keyHash.trim()).toBe(sha256(key));
    const allColumns = await server.database.db.select().from(apiKeys);
    expect(JSON.stringify(allColumns)).not.toContain(key);
    expect(JSON.stringify(allColumns)).not.toContain(key.slice(12));
  });

  it("a new admin key works at once", async () => {
    // Prepare
    const created = await server.request("POST", KEYS, { body: { name: "second admin", role: "admin" } });

    // Act
    const res = await server.request("GET", TEMPLATES, { key: created.body.key });

    // Assess
    expect(res.status).toBe(200);
    expect(res.body.total).toBeGreaterThanOrEqual(3);
  });

  it("creates a tenant_admin key scoped to an existing tenant", async () => {
    // Prepare
    const tenantId = await createTenant();

    // Act
    const res = await server.request("POST", KEYS, {
      body: { name: "school admin", role: "tenant_admin", tenantId },
    });

    // Assess
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ role: "tenant_admin", tenantId });
    const [row] = await server.database.db.select().from(apiKeys).where(eq(apiKeys.id, res.body.id));
    expect(row!.tenantId).toBe(tenantId);
    expect(row!.keyHash.trim()).toBe(sha256(res.body.key));
    expect(JSON.stringify(row)).not.toContain(res.body.key);
  });

  it.each([
    ["a tenant_admin without tenantId", { name: "k", role: "tenant_admin" }, "tenantId"],
    [
      "a tenant_admin with a tenant that does not exist",
      { name: "k", role: "tenant_admin", tenantId: randomUUID() },
      "tenantId",
    ],
    [
      "a tenant_admin with a tenantId that is no UUID",
      { name: "k", role: "tenant_admin", tenantId: "acme" },
      "tenantId",
    ],
    ["an admin with a tenantId", { name: "k", role: "admin", tenantId: randomUUID() }, "tenantId"],
    ["an unknown role", { name: "k", role: "root" }, "role"],
    ["no name", { role: "admin" }, "name"],
    ["an unknown field", { name: "k", role: "admin", key: "tpk_chosen" }, "key"],
  ])("rejects %s with a 400 naming the field, creating nothing", async (_label, body, field) => {
    // Prepare
    const before = await keyCount();

    // Act
    const res = await server.request("POST", KEYS, { body });

    // Assess
    expectError(res, 400, "validation_error", field);
    expect(await keyCount()).toBe(before);
  });
});

describe("listing keys", () => {
  it("lists keys without their secrets", async () => {
    // Prepare
    const created = await server.request("POST", KEYS, { body: { name: "listed", role: "admin" } });

    // Act
    const res = await server.request("GET", KEYS);

    // Assess
    expect(res.status).toBe(200);
    const listed = (res.body.items as any[]).find((k) => k.id === created.body.id);
    expect(listed).toMatchObject({ name: "listed", role: "admin", prefix: created.body.prefix });
    for (const item of res.body.items) {
      expect(item).not.toHaveProperty("key");
      expect(item).not.toHaveProperty("keyHash");
    }
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(created.body.key);
    expect(text).not.toContain(server.adminKey);
    expect(text).not.toContain(sha256(created.body.key));
  });
});

describe("revoking keys", () => {
  it("revokes a key: it then gets 401 and drops out of the default list", async () => {
    // Prepare
    const created = await server.request("POST", KEYS, { body: { name: "short-lived", role: "admin" } });
    const key = created.body.key as string;
    expect((await server.request("GET", TEMPLATES, { key })).status).toBe(200);

    // Act
    const revoked = await server.request("DELETE", `${KEYS}/${created.body.id}`);

    // Assess
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: created.body.id });
    expect(Number.isNaN(Date.parse(revoked.body.revokedAt))).toBe(false);
    expectError(await server.request("GET", TEMPLATES, { key }), 401, "unauthorized");
    expectError(await server.request("GET", KEYS, { key }), 401, "unauthorized");
    const active = await server.request("GET", KEYS);
    expect(active.body.items.map((k: any) => k.id)).not.toContain(created.body.id);
    const all = await server.request("GET", `${KEYS}?includeRevoked=true`);
    expect(all.body.items.map((k: any) => k.id)).toContain(created.body.id);
  });

  it("revokes a tenant_admin key", async () => {
    // Prepare
    const tenantId = await createTenant();
    const created = await server.request("POST", KEYS, {
      body: { name: "tenant key", role: "tenant_admin", tenantId },
    });
    const key = created.body.key as string;
    expectError(await server.request("GET", TEMPLATES, { key }), 403, "forbidden");

    // Act
    await server.request("DELETE", `${KEYS}/${created.body.id}`);

    // Assess
    expectError(await server.request("GET", TEMPLATES, { key }), 401, "unauthorized");
  });

  it("revoking twice is harmless and keeps the first revocation time", async () => {
    // Prepare
    const created = await server.request("POST", KEYS, { body: { name: "twice", role: "admin" } });
    const first = await server.request("DELETE", `${KEYS}/${created.body.id}`);

    // Act
    const second = await server.request("DELETE", `${KEYS}/${created.body.id}`);

    // Assess
    expect(second.status).toBe(200);
    expect(second.body.revokedAt).toBe(first.body.revokedAt);
  });

  it("answers 404 for an unknown key", async () => {
    // Act
    const res = await server.request("DELETE", `${KEYS}/${randomUUID()}`);

    // Assess
    expectError(res, 404, "not_found");
  });

  it("writes audit entries for create and revoke without the key", async () => {
    // Prepare
    const created = await server.request("POST", KEYS, { body: { name: "audited", role: "admin" } });
    const revoked = await server.request("DELETE", `${KEYS}/${created.body.id}`);

    // Act
    const rows = await server.database.db
      .select()
      .from(auditLogs)
      .where(eq(auditLogs.targetId, created.body.id));

    // Assess
    expect(rows.map((r) => r.action).sort()).toEqual(["api_key.create", "api_key.revoke"]);
    const revokeRow = rows.find((r) => r.action === "api_key.revoke")!;
    expect(revokeRow.requestId).toBe(revoked.headers.get("x-request-id"));
    expect(revokeRow.actorKeyId).toEqual(expect.any(String));
    expect(JSON.stringify(rows)).not.toContain(created.body.key);
  });
});

describe("who may manage keys", () => {
  it("gives a tenant_admin key 403 on listing, creating and revoking keys", async () => {
    // Prepare
    const tenantId = await createTenant();
    const created = await server.request("POST", KEYS, {
      body: { name: "tenant key", role: "tenant_admin", tenantId },
    });
    const key = created.body.key as string;
    const before = await keyCount();

    // Act
    const list = await server.request("GET", KEYS, { key });
    const create = await server.request("POST", KEYS, { key, body: { name: "escalate", role: "admin" } });
    const revoke = await server.request("DELETE", `${KEYS}/${created.body.id}`, { key });

    // Assess
    expectError(list, 403, "forbidden");
    expectError(create, 403, "forbidden");
    expectError(revoke, 403, "forbidden");
    expect(await keyCount()).toBe(before);
  });

  it("answers 401 without a key", async () => {
    // Act
    const res = await server.request("POST", KEYS, { key: null, body: { name: "anon", role: "admin" } });

    // Assess
    expectError(res, 401, "unauthorized");
  });
});
