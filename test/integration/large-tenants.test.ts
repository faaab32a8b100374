/**
 * Tenants and templates larger than one RDS Data API row or response (64 KB per row, 1 MiB per
 * response; the data-api project runs this through the strict adapter): a 154 KB template, a
 * custom provisioning whose spec is larger than a row, and tenants with 2,000 users or a 1 MB text
 * value that back up, deprovision and restore with identical data. Big fixtures are seeded with
 * set-based SQL (generate_series), not with thousands of API calls.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeIdentifier } from "../../functions/db/sql.ts";
import { failInserts } from "../support/fault-injection.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, PROGRESS, runHelpers, schemaOf, stepOf } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const PASSWORD = `Heron!Birch-${randomUUID().slice(0, 8)}-Quay`;
const SERVER_ENV = {
  STEP_RETRY_INTERVAL_SECONDS: "1",
  STEP_RETRY_MAX_DELAY_SECONDS: "1",
  OUTBOX_DRAIN_INTERVAL_MS: "200",
};

/** A product list of about `bytes` bytes of JSON, with multibyte names. */
function productsOf(bytes: number, prefix: string): { sku: string; name: string; unitPrice: number }[] {
  const products: { sku: string; name: string; unitPrice: number }[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const p = {
      sku: `${prefix}-${i}`,
      name: `Käsityöpaperi ${i} – ${"ääkkönen ".repeat(10)}loppu`,
      unitPrice: 1.25,
    };
    products.push(p);
    size += Buffer.byteLength(JSON.stringify(p), "utf8") + 1;
  }
  return products;
}

describe("large values through the Data API's limits", () => {
  let server: TestServer;
  const h = runHelpers(() => server);

  beforeAll(async () => {
    server = await startTestServer({ env: SERVER_ENV });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("a 154 KB template can be created, listed, read and provisioned from", async () => {
    // Prepare
    const products = productsOf(154 * 1024, "big");
    const spec = {
      name: `Big catalogue ${randomUUID().slice(0, 8)}`,
      category: "municipality",
      limits: { maxProducts: 5000, maxUsers: 50 },
      initialData: { products },
    };
    expect(Buffer.byteLength(JSON.stringify(spec.initialData))).toBeGreaterThan(154 * 1024);

    // Act
    const created = await server.request("POST", `${API}/templates`, { body: spec });
    expect(created.status, JSON.stringify(created.body).slice(0, 500)).toBe(201);
    const listed = await server.request("GET", `${API}/templates?limit=100`);
    const one = await server.request("GET", `${API}/templates/${created.body.id}`);
    const slug = `big-${randomUUID().slice(0, 8)}`;
    const started = await server.request("POST", `${API}/templates/${created.body.id}/provision`, {
      body: provisionBody(slug, PASSWORD),
    });
    expect(started.status, JSON.stringify(started.body).slice(0, 500)).toBe(202);
    const run = await h.settle(started.body.id);

    // Assess
    expect(created.status, JSON.stringify(created.body).slice(0, 500)).toBe(201);
    expect(listed.status, JSON.stringify(listed.body).slice(0, 500)).toBe(200);
    expect(listed.body.items.map((t: any) => t.id)).toContain(created.body.id);
    expect(one.status, JSON.stringify(one.body).slice(0, 500)).toBe(200);
    expect(one.body.initialData.products).toEqual(products);
    expect(started.status, JSON.stringify(started.body).slice(0, 500)).toBe(202);
    expect(run.status, JSON.stringify(run).slice(0, 2000)).toBe("completed");
    const n = await h.countOf(
      sql.raw(`SELECT count(*) AS n FROM ${safeIdentifier(schemaOf(run.tenantId))}.products`),
    );
    expect(n).toBe(products.length);
  });

  it("a custom provisioning whose spec is larger than a row leaves GET /progress working", async () => {
    // Prepare
    const products = productsOf(100 * 1024, "custom");
    const slug = `cus-${randomUUID().slice(0, 8)}`;
    const body = provisionBody(slug, PASSWORD, {
      template: {
        name: "One-off catalogue",
        limits: { maxProducts: 5000 },
        initialData: { products },
      },
    });

    // Act
    const started = await server.request("POST", `${API}/provision/custom`, { body });
    expect(started.status, JSON.stringify(started.body).slice(0, 500)).toBe(202);
    const run = await h.settle(started.body.id);
    const list = await server.request("GET", `${PROGRESS}?limit=100`);

    // Assess
    expect(started.status, JSON.stringify(started.body).slice(0, 500)).toBe(202);
    expect(run.status, JSON.stringify(run).slice(0, 2000)).toBe("completed");
    expect(list.status, JSON.stringify(list.body).slice(0, 500)).toBe(200);
    expect(list.body.items.map((r: any) => r.id)).toContain(run.id);
  });
});

/**
 * The largest Data API response (bytes of its JSON) seen since the last `reset`, when the test
 * runs through the adapter: the calls must stay well under the 1 MiB the adapter allows.
 */
function watchResponses(server: TestServer): { largest(): number; reset(): void } {
  let largest = 0;
  const client = server.database.dataApi?.client;
  if (client) {
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    (client as unknown as { send: (command: unknown) => Promise<unknown> }).send = async (command) => {
      const out = await send(command);
      largest = Math.max(largest, Buffer.byteLength(JSON.stringify(out ?? null), "utf8"));
      return out;
    };
  }
  return {
    largest: () => largest,
    reset: () => {
      largest = 0;
    },
  };
}

describe("backups of tenants larger than a Data API response", () => {
  let server: TestServer;
  let responses: ReturnType<typeof watchResponses>;
  const h = runHelpers(() => server);

  beforeAll(async () => {
    server = await startTestServer({ env: SERVER_ENV });
    responses = watchResponses(server);
  });

  afterAll(async () => {
    await server?.close();
  });

  async function provisionTenant(): Promise<string> {
    const slug = `l-${randomUUID().slice(0, 8)}`;
    const run = await h.settle((await h.provision("Basic School System", provisionBody(slug, PASSWORD))).id);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    return run.tenantId;
  }

  /**
   * Every row of the tenant, as a count and a digest per table (each computed by the database, so
   * the check itself stays within the Data API's limits). The tenant row without `updated_at` (a
   * restore stamps it), API keys without `revoked_at` (a restore revokes them).
   */
  async function snapshot(tenantId: string): Promise<Record<string, string>> {
    const digest = async (name: string, from: string, row = "t::text") => {
      const [r] = await h.rows<{ n: unknown; d: string }>(
        sql.raw(
          `SELECT count(*) AS n, md5(coalesce(string_agg(${row}, E'\\n' ORDER BY ${row}), '')) AS d FROM ${from}`,
        ),
      );
      return [name, `${r!.n}:${r!.d}`] as const;
    };
    const out: Record<string, string> = {};
    const schema = safeIdentifier(schemaOf(tenantId));
    for (const table of await h.tablesOf(schemaOf(tenantId))) {
      const [k, v] = await digest(table, `${schema}.${safeIdentifier(table)} t`);
      out[k] = v;
    }
    for (const [k, v] of [
      await digest("users", `users t WHERE tenant_id = '${tenantId}'`),
      await digest(
        "api_keys",
        `api_keys t WHERE tenant_id = '${tenantId}'`,
        "(to_jsonb(t) - 'revoked_at')::text",
      ),
      await digest("tenants", `tenants t WHERE id = '${tenantId}'`, "(to_jsonb(t) - 'updated_at')::text"),
    ]) {
      out[k] = v;
    }
    return out;
  }

  /** Dry run, deprovisioning (notices, backup kept, no grace period) and restore, all completed. */
  async function roundTrip(tenantId: string): Promise<{ deprovision: any; restore: any }> {
    const dry = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { dryRun: true },
    });
    expect(dry.status, JSON.stringify(dry.body).slice(0, 500)).toBe(200);
    const started = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { notifyUsers: true, preserveBackups: true, gracePeriodHours: 0 },
    });
    expect(started.status, JSON.stringify(started.body).slice(0, 500)).toBe(202);
    const deprovision = await h.settle(started.body.id);
    expect(deprovision.status, JSON.stringify(deprovision).slice(0, 2000)).toBe("completed");
    expect(await h.schemaExists(tenantId)).toBe(false);
    const [backup] = (await server.request("GET", `${API}/tenants/${tenantId}/backups`)).body.items;
    const requested = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    expect(requested.status, JSON.stringify(requested.body).slice(0, 500)).toBe(202);
    const restore = await h.settle(requested.body.id);
    expect(restore.status, JSON.stringify(restore).slice(0, 2000)).toBe("completed");
    return { deprovision, restore };
  }

  it("a tenant with 2,000 users backs up, is deprovisioned and restored with identical data", async () => {
    // Prepare: 2,000 users with multibyte names, seeded in one statement
    const tenantId = await provisionTenant();
    await h.rows(
      sql`INSERT INTO users (tenant_id, email, name, role, status)
          SELECT ${tenantId}::uuid, 'user' || g || '@example.org', 'Käyttäjä ' || g || ' Ääkkönen-Öberg', 'buyer',
                 CASE WHEN g % 10 = 0 THEN 'invited' ELSE 'active' END
          FROM generate_series(1, 2000) AS g`,
    );
    const users = await h.countOf(sql`SELECT count(*) AS n FROM users WHERE tenant_id = ${tenantId}::uuid`);
    expect(users).toBeGreaterThan(2000);
    const before = await snapshot(tenantId);
    responses.reset();

    // Act
    const { deprovision } = await roundTrip(tenantId);

    // Assess
    expect(await snapshot(tenantId)).toEqual(before);
    expect(stepOf(deprovision, "NotifyUsers").status).toBe("completed");
    const notices = await h.countOf(
      sql`SELECT count(DISTINCT recipient) AS n FROM notifications_outbox
          WHERE progress_id = ${deprovision.id}::uuid AND kind = 'deprovisioning_notice'`,
    );
    expect(notices).toBe(users);
    // The progress records stay readable, one by one and listed.
    expect((await server.request("GET", `${PROGRESS}?tenantId=${tenantId}&limit=100`)).status).toBe(200);
    expect(responses.largest()).toBeLessThan(512 * 1024);
  });

  it("NotifyUsers interrupted mid-way resumes on retry and notifies each user once", async () => {
    // Prepare: 1,200 users; recording one batch fails once with a serialization failure (retried)
    const tenantId = await provisionTenant();
    await h.rows(
      sql`INSERT INTO users (tenant_id, email, name, role)
          SELECT ${tenantId}::uuid, 'n' || g || '@example.org', 'Nimi ' || g, 'buyer' FROM generate_series(1, 1200) AS g`,
    );
    const users = await h.countOf(sql`SELECT count(*) AS n FROM users WHERE tenant_id = ${tenantId}::uuid`);
    const [middle] = await h.rows<{ id: string }>(
      sql`SELECT id FROM users WHERE tenant_id = ${tenantId}::uuid ORDER BY id OFFSET 700 LIMIT 1`,
    );
    const remove = await failInserts((statement) => h.rows(sql.raw(statement)), {
      name: `fail_notified_${tenantId.slice(0, 8)}`,
      table: "deprovision_notified_users",
      when: `NEW.user_id = '${middle!.id}'`,
      sqlstate: "40001",
      message: "'injected failure for %', NEW.user_id",
      times: 1,
    });

    // Act
    const started = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { notifyUsers: true, preserveBackups: true, gracePeriodHours: 0 },
    });
    const run = await h.settle(started.body.id);
    await remove();

    // Assess
    expect(run.status, JSON.stringify(run).slice(0, 2000)).toBe("completed");
    expect(stepOf(run, "NotifyUsers").attempts).toBe(2);
    const [notices] = await h.rows<{ n: unknown; distinct: unknown }>(
      sql`SELECT count(*) AS n, count(DISTINCT recipient) AS distinct FROM notifications_outbox
          WHERE progress_id = ${run.id}::uuid AND kind = 'deprovisioning_notice'`,
    );
    expect([Number(notices!.n), Number(notices!.distinct)]).toEqual([users, users]);
    expect(run.metadata.notified).toBe(users);
  });

  it("a 1 MB text value round-trips through backup, deprovisioning and restore", async () => {
    // Prepare: one school whose address is 1 MB of multibyte text with quotes, backslashes, tabs
    // and line breaks (what JSON escapes), beside ordinary rows
    const tenantId = await provisionTenant();
    const schema = safeIdentifier(schemaOf(tenantId));
    await h.rows(
      sql.raw(`INSERT INTO ${schema}.schools (name, code, address)
               SELECT 'Koulu ' || g, 'K' || g, 'Tie ' || g FROM generate_series(1, 300) AS g`),
    );
    await h.rows(
      sql.raw(`INSERT INTO ${schema}.schools (name, code, address)
               VALUES ('Pitkä koulu', 'LONG', repeat(E'Pääkatu "7" \\ Åbo\t☃\n', 45000))`),
    );
    const [long] = await h.rows<{ b: unknown }>(
      sql.raw(`SELECT octet_length(address) AS b FROM ${schema}.schools WHERE code = 'LONG'`),
    );
    expect(Number(long!.b)).toBeGreaterThan(1_000_000);
    const before = await snapshot(tenantId);
    responses.reset();

    // Act
    await roundTrip(tenantId);

    // Assess
    expect(await snapshot(tenantId)).toEqual(before);
    expect(responses.largest()).toBeLessThan(512 * 1024);
  });
});
