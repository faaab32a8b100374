/**
 * API key management through HTTP: keys are shown once and stored only as SHA-256 hashes, listed
 * without secrets, revoked keys stop working, tenant_admin keys need an existing tenant, a key's
 * last use is recorded (at most once a minute), and the last admin key cannot be revoked.
 */
import { createHash, randomUUID } from "node:crypto";
import { and, count, eq, isNull, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { apiKeys, auditLogs, tenants } from "../../functions/db/schema.ts";
import { queryRows } from "../../functions/db/sql.ts";
import { revokeApiKey } from "../../functions/domain/auth/api-keys.ts";
import { ConflictError } from "../../functions/shared/errors.ts";
import { expectApiError } from "../support/api-errors.ts";
import type { HttpResult } from "../support/server.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { sleep } from "../support/wait.ts";

const API = "/api/provisioning";
const KEYS = `${API}/keys`;
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

describe("last use of a key", () => {
  let clocked: TestServer;
  let now = new Date("2031-05-01T08:00:00.000Z");

  beforeAll(async () => {
    clocked = await startTestServer({ clock: () => now });
    // Counts writes of last_used_at: a row per UPDATE that changes it.
    const run = (statement: string) => clocked.database.db.execute(sql.raw(statement));
    await run("CREATE TABLE test_last_used_writes (key_id uuid NOT NULL, at timestamptz NOT NULL)");
    await run(`CREATE FUNCTION test_count_last_used() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.last_used_at IS DISTINCT FROM OLD.last_used_at THEN
    INSERT INTO test_last_used_writes VALUES (NEW.id, NEW.last_used_at);
  END IF;
  RETURN NEW;
END
$$`);
    await run(
      "CREATE TRIGGER test_count_last_used AFTER UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION test_count_last_used()",
    );
  });

  afterAll(async () => {
    await clocked?.close();
  });

  const writesOf = async (keyId: string) =>
    queryRows<{ at: Date | string }>(
      clocked.database.db,
      sql`SELECT at FROM test_last_used_writes WHERE key_id = ${keyId}::uuid ORDER BY at`,
    );

  it("is recorded on use and shown by GET /keys (keys list), written at most once a minute", async () => {
    // Prepare
    const created = await clocked.request("POST", KEYS, { body: { name: "used", role: "admin" } });
    const { id, key } = created.body as { id: string; key: string };
    const start = now;

    // Act: 10 requests within the minute, then one a minute later
    for (let i = 0; i < 10; i++) {
      now = new Date(start.getTime() + i * 5_000);
      expect((await clocked.request("GET", `${API}/templates?limit=1`, { key })).status).toBe(200);
    }
    const withinMinute = await writesOf(id);
    now = new Date(start.getTime() + 61_000);
    await clocked.request("GET", `${API}/templates?limit=1`, { key });
    const listed = await clocked.request("GET", KEYS);

    // Assess
    expect(created.body.lastUsedAt).toBeNull();
    expect(withinMinute).toHaveLength(1);
    expect(new Date(withinMinute[0]!.at).toISOString()).toBe(start.toISOString());
    expect(await writesOf(id)).toHaveLength(2);
    const shown = (listed.body.items as any[]).find((k) => k.id === id);
    expect(shown.lastUsedAt).toBe(new Date(start.getTime() + 61_000).toISOString());
  });

  it("is not written for a revoked or unknown key", async () => {
    // Prepare
    const created = await clocked.request("POST", KEYS, { body: { name: "revoked", role: "admin" } });
    await clocked.request("DELETE", `${KEYS}/${created.body.id}`);

    // Act
    const res = await clocked.request("GET", `${API}/templates`, { key: created.body.key });

    // Assess
    expectError(res, 401, "unauthorized");
    expect(await writesOf(created.body.id)).toEqual([]);
  });
});

describe("the last admin key", () => {
  // Each test revokes admin keys, its server's own bootstrap key included: a server per test.
  let own: TestServer;

  beforeEach(async () => {
    own = await startTestServer();
  });

  afterEach(async () => {
    await own?.close();
  });

  it("cannot be revoked (409): someone must still be able to manage keys; with another admin key it can", async () => {
    // Prepare
    const [self] = await own.database.db
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(eq(apiKeys.keyHash, sha256(own.adminKey)));
    const tenantKey = await own.request("POST", KEYS, {
      body: { name: "tenant", role: "tenant_admin", tenantId: await createTenantOn(own) },
    });

    // Act
    const refused = await own.request("DELETE", `${KEYS}/${self!.id}`);
    const stillWorks = await own.request("GET", KEYS);
    const other = await own.request("POST", KEYS, { body: { name: "successor", role: "admin" } });
    const revoked = await own.request("DELETE", `${KEYS}/${self!.id}`);
    const successorAlone = await own.request("DELETE", `${KEYS}/${other.body.id}`, { key: other.body.key });
    const tenantKeyRevoked = await own.request("DELETE", `${KEYS}/${tenantKey.body.id}`, {
      key: other.body.key,
    });

    // Assess
    expectError(refused, 409, "conflict", "id");
    expect(refused.body.error.message).toContain("last active admin key");
    expect(stillWorks.status).toBe(200);
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expectError(successorAlone, 409, "conflict", "id");
    expect(tenantKeyRevoked.status).toBe(200);
    expect((await own.request("GET", KEYS, { key: other.body.key })).status).toBe(200);
  });

  it("two admins revoking each other's keys at once: the second waits for the first and is refused, one admin key is left", async () => {
    // Two transactions interleaving need the PostgreSQL server (PGlite is one connection): this
    // test's server runs on a fresh database of it, whatever this project's driver.
    await own.close();
    own = await startTestServer({ databaseKind: "postgres" });
    // Prepare: exactly two active admin keys
    const db = own.database.db;
    const b = await own.request("POST", KEYS, { body: { name: "b", role: "admin" } });
    const [bootstrap] = await db
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(eq(apiKeys.keyHash, sha256(own.adminKey)));
    let firstRevoked!: () => void;
    const revokedInFirst = new Promise<void>((resolve) => {
      firstRevoked = resolve;
    });

    // Act: the first revokes b and holds its transaction open while the second revokes the bootstrap key
    const first = db.transaction(async (tx) => {
      const revoked = await revokeApiKey(tx, b.body.id, new Date());
      firstRevoked();
      await sleep(300);
      return revoked;
    });
    await revokedInFirst;
    const second = db
      .transaction((tx) => revokeApiKey(tx, bootstrap!.id, new Date()))
      .then(
        (key) => ({ key, error: null }),
        (error: unknown) => ({ key: null, error }),
      );
    const [firstResult, secondResult] = await Promise.all([first, second]);

    // Assess
    expect(firstResult?.revokedAt).not.toBeNull();
    expect(secondResult.error).toBeInstanceOf(ConflictError);
    const active = await db
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(and(eq(apiKeys.role, "admin"), isNull(apiKeys.revokedAt)));
    expect(active.map((k) => k.id)).toEqual([bootstrap!.id]);
  });
});

async function createTenantOn(target: TestServer): Promise<string> {
  const slug = `k-${randomUUID().slice(0, 8)}`;
  const [tenant] = await target.database.db
    .insert(tenants)
    .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active" })
    .returning({ id: tenants.id });
  return tenant!.id;
}
