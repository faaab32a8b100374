/**
 * `POST /batches` refuses a batch whole, before anything is written: every invalid item is named
 * with its index and field (`items[7].slug`), whether the schema or the service's checks found it;
 * the batch's own limits (items, concurrency, failure percentage) are named too. Reading an
 * unknown batch is a 404, and no key is a 401.
 */
import { randomUUID } from "node:crypto";
import { count } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisioningProgress, tenants } from "../../functions/db/schema.ts";
import { MAX_BATCH_ITEMS } from "../../functions/schemas/batches.ts";
import { expectApiError } from "../support/api-errors.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const BATCHES = "/api/provisioning/batches";

let server: TestServer;
let templateId: string;

beforeAll(async () => {
  // No INVITATION_BASE_URL: an item without a password cannot invite its admin.
  server = await startTestServer();
  templateId = (await server.request("GET", "/api/provisioning/templates?limit=1")).body.items[0].id;
});

afterAll(async () => {
  await server?.close();
});

function item(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const slug = `bulk-${n}-${randomUUID().slice(0, 6)}`;
  return {
    templateId,
    slug,
    name: `School ${n}`,
    subdomain: slug,
    adminName: "Ada Admin",
    adminEmail: `admin@${slug}.example.org`,
    adminPassword: "correct horse battery staple",
    ...extra,
  };
}

async function rowCounts(): Promise<{ tenants: number; runs: number }> {
  const db = server.database.db;
  const [t] = await db.select({ n: count() }).from(tenants);
  const [p] = await db.select({ n: count() }).from(provisioningProgress);
  return { tenants: Number(t!.n), runs: Number(p!.n) };
}

function fieldsOf(body: any): string[] {
  return (body.error.details.fields as { field: string }[]).map((f) => f.field).sort();
}

describe("POST /batches validation", () => {
  it("refuses a batch of 50 with 3 invalid items whole, naming the 3", async () => {
    const before = await rowCounts();
    const items = Array.from({ length: 50 }, (_, n) => item(n));
    items[7] = { ...items[7], slug: "Not A Label" };
    const { adminEmail: _gone, ...noEmail } = items[20]!;
    items[20] = noEmail;
    items[33] = { ...items[33], template: { name: "x" } };

    const res = await server.request("POST", BATCHES, { body: { items } });

    expectApiError(res, 400, { code: "validation_error" });
    const fields = fieldsOf(res.body);
    expect(new Set(fields.map((f) => /^items\[(\d+)\]/.exec(f)?.[1]))).toEqual(new Set(["7", "20", "33"]));
    expect(fields).toContain("items[7].slug");
    expect(fields).toContain("items[20].adminEmail");
    expect(await rowCounts()).toEqual(before);
  });

  it("names the items the service's own checks refuse (no way to invite an admin here)", async () => {
    const { adminPassword: _none, ...invited } = item(2);
    const res = await server.request("POST", BATCHES, { body: { items: [item(1), invited, item(3)] } });
    expectApiError(res, 400, { code: "validation_error" });
    expect(fieldsOf(res.body)).toEqual(["items[1].adminPassword"]);
    expect(res.body.error.message).toMatch(
      /^1 of 3 items are invalid; nothing was started: items\[1\]\.adminPassword/,
    );
  });

  it.each([
    ["no items", { items: [] }, "items"],
    [
      `more than ${MAX_BATCH_ITEMS} items`,
      { items: Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => ({})) },
      "items",
    ],
    ["maxConcurrency 0", { maxConcurrency: 0 }, "maxConcurrency"],
    ["maxConcurrency 101", { maxConcurrency: 101 }, "maxConcurrency"],
    ["toleratedFailurePercent 101", { toleratedFailurePercent: 101 }, "toleratedFailurePercent"],
    ["an unknown field", { parallel: true }, "parallel"],
  ])("refuses %s, naming it", async (_label, change, field) => {
    const res = await server.request("POST", BATCHES, { body: { items: [item(1)], ...change } });
    expectApiError(res, 400, { code: "validation_error" });
    expect(fieldsOf(res.body)).toContain(field);
  });

  it("refuses an item with both a templateId and an inline template, or neither", async () => {
    const { templateId: _t, ...neither } = item(2);
    const res = await server.request("POST", BATCHES, {
      body: { items: [item(1), neither] },
    });
    expectApiError(res, 400, { code: "validation_error" });
    expect(fieldsOf(res.body)).toEqual(["items[1].templateId"]);
  });

  it("answers 404 for an unknown batch and 401 without a key", async () => {
    expectApiError(await server.request("GET", `${BATCHES}/${randomUUID()}`), 404, { code: "not_found" });
    expectApiError(await server.request("POST", BATCHES, { body: { items: [item(1)] }, key: null }), 401);
  });
});
