/**
 * Template management through HTTP against a real database: the seeded defaults, listing,
 * create / update / versions / delete, auth and roles, bad input (each a 4xx naming the problem,
 * with the tables unchanged afterwards), and the audit log.
 */
import { randomUUID } from "node:crypto";
import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apiKeys,
  auditLogs,
  tenants,
  tenantTemplates,
  tenantTemplateVersions,
} from "../../functions/db/schema.ts";
import { hashApiKey } from "../../functions/domain/auth/api-keys.ts";
import { FEATURE_FLAGS } from "../../functions/schemas/templates.ts";
import { expectApiError } from "../support/api-errors.ts";
import type { HttpResult } from "../support/server.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const TEMPLATES = "/api/provisioning/templates";
const BASIC_FEATURES = ["inventory", "contracts", "deliveries", "reports", "mobile"];

let server: TestServer;
let adminKeyId: string;

/** A valid template body with a unique name. */
function templateBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `Test template ${randomUUID().slice(0, 8)}`,
    description: "A template made by the integration tests",
    category: "custom",
    settings: { features: ["inventory", "reports"], locale: "en", currency: "EUR" },
    limits: { maxUsers: 10, maxSchools: 2, maxProducts: 20 },
    initialData: {
      schools: [{ name: "Test School", type: "primary" }],
      products: [{ sku: "SKU-1", name: "Pencil", unitPrice: 0.5 }],
      users: [{ name: "Buyer", email: "buyer@example.org", role: "buyer" }],
    },
    migrations: ["core", "inventory", "reports"],
    postProvisioningSteps: ["send-welcome-notification"],
    ...overrides,
  };
}

async function createTemplate(overrides: Record<string, unknown> = {}): Promise<any> {
  const res = await server.request("POST", TEMPLATES, { body: templateBody(overrides) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function rowCounts(): Promise<{ templates: number; versions: number; audit: number }> {
  const db = server.database.db;
  const [t] = await db.select({ n: count() }).from(tenantTemplates);
  const [v] = await db.select({ n: count() }).from(tenantTemplateVersions);
  const [a] = await db.select({ n: count() }).from(auditLogs);
  return { templates: Number(t!.n), versions: Number(v!.n), audit: Number(a!.n) };
}

/** Asserts the one error shape, and (when given) the field that details.fields names. */
function expectError(res: HttpResult<any>, status: number, code: string, field?: string): void {
  expectApiError(res, status, { code, field });
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.body.error.message.length).toBeGreaterThan(0);
}

async function createTenant(): Promise<string> {
  const slug = `t-${randomUUID().slice(0, 8)}`;
  const [tenant] = await server.database.db
    .insert(tenants)
    .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active" })
    .returning({ id: tenants.id });
  return tenant!.id;
}

async function tenantAdminKey(): Promise<string> {
  const tenantId = await createTenant();
  const res = await server.request("POST", "/api/provisioning/keys", {
    body: { name: "tenant admin", role: "tenant_admin", tenantId },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.key;
}

beforeAll(async () => {
  server = await startTestServer();
  const [row] = await server.database.db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(eq(apiKeys.keyHash, hashApiKey(server.adminKey)));
  adminKeyId = row!.id;
});

afterAll(async () => {
  await server?.close();
});

describe("default templates", () => {
  it("lists the product document's three templates with their limits and features", async () => {
    // Act
    const res = await server.request("GET", `${TEMPLATES}?limit=200`);

    // Assess
    expect(res.status).toBe(200);
    const defaults = (res.body.items as any[]).filter((t) => t.isDefault);
    const byName = Object.fromEntries(defaults.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(["Basic School System", "Municipality", "School District"]);
    expect(byName["Basic School System"].limits).toMatchObject({
      maxUsers: 50,
      maxSchools: 10,
      maxProducts: 500,
    });
    expect(byName["School District"].limits).toMatchObject({
      maxUsers: 200,
      maxSchools: 50,
      maxProducts: 2000,
    });
    expect(byName.Municipality.limits).toMatchObject({ maxUsers: 500, maxSchools: 200, maxProducts: 5000 });
    expect([...byName["Basic School System"].settings.features].sort()).toEqual([...BASIC_FEATURES].sort());
    expect([...byName["School District"].settings.features].sort()).toEqual(
      [...BASIC_FEATURES, "analytics"].sort(),
    );
    expect([...byName.Municipality.settings.features].sort()).toEqual([...FEATURE_FLAGS].sort());
    for (const t of defaults) {
      expect(t.version).toBe(1);
      expect(t.description).toEqual(expect.any(String));
      expect(t.migrations[0]).toBe("core");
      expect(t.deletedAt).toBeNull();
    }
  });
});

describe("listing", () => {
  it("pages with limit and offset and reports the total", async () => {
    // Prepare
    await createTemplate();
    await createTemplate();
    const all = await server.request("GET", `${TEMPLATES}?limit=200`);

    // Act
    const first = await server.request("GET", `${TEMPLATES}?limit=2&offset=0`);
    const second = await server.request("GET", `${TEMPLATES}?limit=2&offset=2`);
    const beyond = await server.request("GET", `${TEMPLATES}?limit=2&offset=1000`);

    // Assess
    expect(all.body.total).toBeGreaterThanOrEqual(5);
    expect(all.body.items).toHaveLength(all.body.total);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ limit: 2, offset: 0, total: all.body.total });
    expect(first.body.items).toHaveLength(2);
    expect(second.body).toMatchObject({ limit: 2, offset: 2, total: all.body.total });
    const ids = [...first.body.items, ...second.body.items].map((t: any) => t.id);
    expect(new Set(ids).size).toBe(4);
    expect(ids).toEqual(all.body.items.slice(0, 4).map((t: any) => t.id));
    expect(beyond.body.items).toEqual([]);
    expect(beyond.body.total).toBe(all.body.total);
  });

  it("uses limit 50 and offset 0 by default", async () => {
    // Act
    const res = await server.request("GET", TEMPLATES);

    // Assess
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ limit: 50, offset: 0 });
  });

  it("filters by category", async () => {
    // Prepare
    const mine = await createTemplate({ category: "enterprise" });

    // Act
    const district = await server.request("GET", `${TEMPLATES}?category=school_district`);
    const enterprise = await server.request("GET", `${TEMPLATES}?category=enterprise`);

    // Assess
    expect(district.status).toBe(200);
    expect(district.body.items.map((t: any) => t.name)).toEqual(["School District"]);
    expect(district.body.total).toBe(1);
    expect(enterprise.body.items.map((t: any) => t.id)).toContain(mine.id);
    for (const t of enterprise.body.items) expect(t.category).toBe("enterprise");
  });

  it.each([
    ["category=galaxy", "category"],
    ["limit=0", "limit"],
    ["limit=abc", "limit"],
    ["offset=-1", "offset"],
    ["sort=name", "sort"],
  ])("rejects the query %s naming %s", async (query, field) => {
    // Act
    const res = await server.request("GET", `${TEMPLATES}?${query}`);

    // Assess
    expectError(res, 400, "validation_error", field);
  });
});

describe("reading one template", () => {
  it("returns a template by id", async () => {
    // Prepare
    const created = await createTemplate();

    // Act
    const res = await server.request("GET", `${TEMPLATES}/${created.id}`);

    // Assess
    expect(res.status).toBe(200);
    expect(res.body).toEqual(created);
  });

  it.each([
    ["an unknown id", randomUUID()],
    ["a malformed id", "not-a-uuid"],
  ])("answers 404 for %s", async (_label, id) => {
    // Act
    const res = await server.request("GET", `${TEMPLATES}/${id}`);

    // Assess
    expectError(res, 404, "not_found");
  });
});

describe("create, update, versions", () => {
  it("creates version 1 with what was sent", async () => {
    // Prepare
    const body = templateBody();
    const before = await rowCounts();

    // Act
    const res = await server.request("POST", TEMPLATES, { body });

    // Assess
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ ...body, version: 1, isDefault: false, deletedAt: null });
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const after = await rowCounts();
    expect(after.templates).toBe(before.templates + 1);
    expect(after.versions).toBe(before.versions + 1);
  });

  it("fills defaults for a minimal template", async () => {
    // Act
    const res = await server.request("POST", TEMPLATES, { body: { name: `Minimal ${randomUUID()}` } });

    // Assess
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      category: "basic",
      settings: {},
      limits: {},
      initialData: {},
      migrations: ["core"],
      postProvisioningSteps: [],
      description: null,
      version: 1,
    });
  });

  it("makes a new version on update and keeps the old one readable", async () => {
    // Prepare
    const created = await createTemplate();

    // Act
    const updated = await server.request("PUT", `${TEMPLATES}/${created.id}`, {
      body: { description: "second edition", limits: { maxUsers: 20, maxSchools: 4, maxProducts: 40 } },
    });
    const current = await server.request("GET", `${TEMPLATES}/${created.id}`);
    const v1 = await server.request("GET", `${TEMPLATES}/${created.id}?version=1`);
    const v2 = await server.request("GET", `${TEMPLATES}/${created.id}?version=2`);
    const v3 = await server.request("GET", `${TEMPLATES}/${created.id}?version=3`);
    const versions = await server.request("GET", `${TEMPLATES}/${created.id}/versions`);

    // Assess
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      id: created.id,
      version: 2,
      description: "second edition",
      limits: { maxUsers: 20, maxSchools: 4, maxProducts: 40 },
      migrations: created.migrations,
      settings: created.settings,
    });
    expect(current.body).toMatchObject({ version: 2, description: "second edition" });
    expect(v1.status).toBe(200);
    expect(v1.body).toMatchObject({
      id: created.id,
      version: 1,
      description: created.description,
      limits: created.limits,
    });
    expect(v2.body).toMatchObject({ version: 2, description: "second edition" });
    expectError(v3, 404, "not_found");
    expect(versions.status).toBe(200);
    expect(versions.body.items.map((v: any) => v.version)).toEqual([2, 1]);
    for (const v of versions.body.items) {
      expect(v).toMatchObject({ name: created.name, category: "custom", createdBy: adminKeyId });
    }
  });

  it("keeps the fields an update leaves out", async () => {
    // Prepare
    const created = await createTemplate({
      migrations: ["core", "inventory", "reports", "analytics"],
      postProvisioningSteps: ["create-default-reports", "record-onboarding-checklist"],
    });

    // Act
    const renamed = await server.request("PUT", `${TEMPLATES}/${created.id}`, {
      body: { name: `${created.name} renamed` },
    });

    // Assess
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({
      name: `${created.name} renamed`,
      version: 2,
      description: created.description,
      category: created.category,
      settings: created.settings,
      limits: created.limits,
      initialData: created.initialData,
      migrations: ["core", "inventory", "reports", "analytics"],
      postProvisioningSteps: ["create-default-reports", "record-onboarding-checklist"],
    });
  });

  it("merges a partial limits, settings or initialData object into the current one (never widens by omission)", async () => {
    // Prepare
    const created = await createTemplate();

    // Act
    const limited = await server.request("PUT", `${TEMPLATES}/${created.id}`, {
      body: { limits: { maxUsers: 25 } },
    });
    const localised = await server.request("PUT", `${TEMPLATES}/${created.id}`, {
      body: { settings: { locale: "fi-FI" } },
    });
    const restocked = await server.request("PUT", `${TEMPLATES}/${created.id}`, {
      body: { initialData: { products: [{ sku: "SKU-2", name: "Eraser", unitPrice: 0.3 }] } },
    });
    const v2 = await server.request("GET", `${TEMPLATES}/${created.id}?version=2`);

    // Assess
    expect(limited.status, JSON.stringify(limited.body)).toBe(200);
    expect(limited.body.limits).toEqual({ maxUsers: 25, maxSchools: 2, maxProducts: 20 });
    expect(v2.body.limits).toEqual({ maxUsers: 25, maxSchools: 2, maxProducts: 20 });
    expect(localised.status, JSON.stringify(localised.body)).toBe(200);
    expect(localised.body.settings).toEqual({ ...created.settings, locale: "fi-FI" });
    expect(localised.body.limits).toEqual({ maxUsers: 25, maxSchools: 2, maxProducts: 20 });
    expect(restocked.status, JSON.stringify(restocked.body)).toBe(200);
    expect(restocked.body.initialData).toEqual({
      ...created.initialData,
      products: [{ sku: "SKU-2", name: "Eraser", unitPrice: 0.3 }],
    });
    expect(restocked.body.version).toBe(4);
  });

  it("removes a limit or setting only when the update names it with null", async () => {
    // Prepare
    const created = await createTemplate();

    // Act
    const res = await server.request("PUT", `${TEMPLATES}/${created.id}`, {
      body: { limits: { maxSchools: null }, settings: { currency: null } },
    });

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.limits).toEqual({ maxUsers: 10, maxProducts: 20 });
    expect(res.body.settings).toEqual({ features: ["inventory", "reports"], locale: "en" });
  });

  it("lists the versions of a template newest first across several updates", async () => {
    // Prepare
    const created = await createTemplate();
    for (const d of ["two", "three"]) {
      const res = await server.request("PUT", `${TEMPLATES}/${created.id}`, { body: { description: d } });
      expect(res.status).toBe(200);
    }

    // Act
    const versions = await server.request("GET", `${TEMPLATES}/${created.id}/versions`);
    const v2 = await server.request("GET", `${TEMPLATES}/${created.id}?version=2`);

    // Assess
    expect(versions.body.items.map((v: any) => v.version)).toEqual([3, 2, 1]);
    expect(v2.body.description).toBe("two");
  });

  it("answers 404 for the versions of an unknown template", async () => {
    // Act
    const res = await server.request("GET", `${TEMPLATES}/${randomUUID()}/versions`);

    // Assess
    expectError(res, 404, "not_found");
  });
});

describe("delete", () => {
  it("hides a template from the list but keeps it and its versions readable", async () => {
    // Prepare
    const created = await createTemplate();
    await server.request("PUT", `${TEMPLATES}/${created.id}`, { body: { description: "v2" } });

    // Act
    const deleted = await server.request("DELETE", `${TEMPLATES}/${created.id}`);
    const list = await server.request("GET", `${TEMPLATES}?limit=200`);
    const byId = await server.request("GET", `${TEMPLATES}/${created.id}`);
    const v1 = await server.request("GET", `${TEMPLATES}/${created.id}?version=1`);
    const versions = await server.request("GET", `${TEMPLATES}/${created.id}/versions`);
    const again = await server.request("DELETE", `${TEMPLATES}/${created.id}`);
    const update = await server.request("PUT", `${TEMPLATES}/${created.id}`, { body: { description: "v3" } });

    // Assess
    expect(deleted.status).toBe(200);
    expect(deleted.body.deletedAt).toEqual(expect.any(String));
    expect(list.body.items.map((t: any) => t.id)).not.toContain(created.id);
    expect(list.body.total).toBe(list.body.items.length);
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject({ id: created.id, version: 2, description: "v2" });
    expect(Number.isNaN(Date.parse(byId.body.deletedAt))).toBe(false);
    expect(v1.status).toBe(200);
    expect(v1.body.description).toBe(created.description);
    expect(versions.body.items.map((v: any) => v.version)).toEqual([2, 1]);
    expectError(again, 404, "not_found");
    expectError(update, 404, "not_found");
  });

  it("answers 404 for an unknown template", async () => {
    // Act
    const res = await server.request("DELETE", `${TEMPLATES}/${randomUUID()}`);

    // Assess
    expectError(res, 404, "not_found");
  });
});

describe("authentication and roles", () => {
  it.each([
    ["no key", null, undefined],
    ["an unknown key", "tpk_thisKeyDoesNotExistAnywhere0000000000000000", undefined],
    ["a key that is not ours", "sk_live_123", undefined],
    ["a non-bearer scheme", null, { authorization: "Basic YWRtaW46YWRtaW4=" }],
  ])("answers 401 with %s", async (_label, key, headers) => {
    // Prepare
    const before = await rowCounts();

    // Act
    const list = await server.request("GET", TEMPLATES, { key, ...(headers ? { headers } : {}) });
    const create = await server.request("POST", TEMPLATES, {
      key,
      ...(headers ? { headers } : {}),
      body: templateBody(),
    });

    // Assess
    expectError(list, 401, "unauthorized");
    expectError(create, 401, "unauthorized");
    expect(await rowCounts()).toEqual(before);
  });

  it("gives a tenant_admin key 403 on reading and changing templates, and changes nothing", async () => {
    // Prepare
    const key = await tenantAdminKey();
    const existing = await createTemplate();
    const before = await rowCounts();

    // Act
    const results = [
      await server.request("GET", TEMPLATES, { key }),
      await server.request("GET", `${TEMPLATES}/${existing.id}`, { key }),
      await server.request("GET", `${TEMPLATES}/${existing.id}/versions`, { key }),
      await server.request("POST", TEMPLATES, { key, body: templateBody() }),
      await server.request("PUT", `${TEMPLATES}/${existing.id}`, { key, body: { description: "mine now" } }),
      await server.request("DELETE", `${TEMPLATES}/${existing.id}`, { key }),
    ];

    // Assess
    for (const res of results) expectError(res, 403, "forbidden");
    expect(await rowCounts()).toEqual(before);
    const after = await server.request("GET", `${TEMPLATES}/${existing.id}`);
    expect(after.body).toMatchObject({ version: 1, deletedAt: null, description: existing.description });
  });
});

describe("bad input", () => {
  const over = (n: number, make: (i: number) => unknown) => Array.from({ length: n }, (_, i) => make(i));

  const createCases: [label: string, body: unknown, field: string][] = [
    ["a number for the name", templateBody({ name: 5 }), "name"],
    ["a string for limits", templateBody({ limits: "lots" }), "limits"],
    ["a string for a limit", templateBody({ limits: { maxUsers: "10" } }), "limits.maxUsers"],
    ["an array for settings", templateBody({ settings: [] }), "settings"],
    ["a string for migrations", templateBody({ migrations: "core" }), "migrations"],
    ["an unknown category", templateBody({ category: "galaxy" }), "category"],
    ["an empty name", templateBody({ name: "   " }), "name"],
    ["a missing name", { description: "no name" }, "name"],
    ["an unknown top-level field", templateBody({ colour: "blue" }), "colour"],
    ["an unknown limit", templateBody({ limits: { maxUsers: 5, maxCats: 2 } }), "limits.maxCats"],
    [
      "an unknown field in initial data",
      templateBody({ initialData: { schools: [{ name: "S", principal: "P" }] } }),
      "initialData.schools[0].principal",
    ],
    ["a negative limit", templateBody({ limits: { maxUsers: -1 } }), "limits.maxUsers"],
    ["a zero limit", templateBody({ limits: { maxSchools: 0 } }), "limits.maxSchools"],
    ["a non-integer limit", templateBody({ limits: { maxProducts: 10.5 } }), "limits.maxProducts"],
    [
      "an unknown feature",
      templateBody({ settings: { features: ["inventory", "teleport"] } }),
      "settings.features[1]",
    ],
    ["an unknown migration", templateBody({ migrations: ["core", "nope"] }), "migrations[1]"],
    ["migrations not starting with core", templateBody({ migrations: ["inventory", "core"] }), "migrations"],
    ["no migrations at all", templateBody({ migrations: [] }), "migrations"],
    [
      "an unknown post-provisioning step",
      templateBody({ postProvisioningSteps: ["send-welcome-notification", "launch-rockets"] }),
      "postProvisioningSteps[1]",
    ],
    [
      "a post-provisioning step whose tenant migration is missing",
      templateBody({ migrations: ["core"], postProvisioningSteps: ["create-default-reports"] }),
      "postProvisioningSteps[0]",
    ],
    [
      "more initial users than maxUsers allows with the admin",
      templateBody({
        limits: { maxUsers: 2 },
        initialData: { users: over(2, (i) => ({ name: `U${i}`, email: `u${i}@example.org` })) },
      }),
      "initialData.users",
    ],
    [
      "more initial schools than maxSchools",
      templateBody({
        limits: { maxSchools: 1 },
        initialData: { schools: over(2, (i) => ({ name: `S${i}` })) },
      }),
      "initialData.schools",
    ],
    [
      "more initial products than maxProducts",
      templateBody({
        limits: { maxProducts: 1 },
        initialData: { products: over(2, (i) => ({ sku: `P${i}`, name: `P${i}`, unitPrice: 1 })) },
      }),
      "initialData.products",
    ],
    [
      "a duplicate SKU",
      templateBody({
        initialData: {
          products: [
            { sku: "DUP", name: "one", unitPrice: 1 },
            { sku: "DUP", name: "two", unitPrice: 2 },
          ],
        },
      }),
      "initialData.products[1].sku",
    ],
    ["a JSON array as the body", [templateBody()], "(body)"],
  ];

  it.each(createCases)(
    "POST with %s is a 400 naming the field and changes nothing",
    async (_label, body, field) => {
      // Prepare
      const before = await rowCounts();

      // Act
      const res = await server.request("POST", TEMPLATES, { body });

      // Assess
      expectError(res, 400, "validation_error", field);
      expect(await rowCounts()).toEqual(before);
    },
  );

  it("POST with a name that is taken is a 409 naming the field and changes nothing", async () => {
    // Prepare
    const before = await rowCounts();

    // Act
    const res = await server.request("POST", TEMPLATES, {
      body: templateBody({ name: "Basic School System" }),
    });

    // Assess
    expectError(res, 409, "conflict", "name");
    expect(await rowCounts()).toEqual(before);
  });

  it("malformed JSON is a 400 invalid_json and changes nothing", async () => {
    // Prepare
    const before = await rowCounts();

    // Act
    const res = await server.request("POST", TEMPLATES, { rawBody: '{"name": "Broken",' });

    // Assess
    expectError(res, 400, "invalid_json", "(body)");
    expect(await rowCounts()).toEqual(before);
  });

  it("a POST without a body is a 400", async () => {
    // Prepare
    const before = await rowCounts();

    // Act
    const res = await server.request("POST", TEMPLATES);

    // Assess
    expectError(res, 400, "validation_error", "(body)");
    expect(await rowCounts()).toEqual(before);
  });

  it("a 2 MB body is a 413 and changes nothing", async () => {
    // Prepare
    const before = await rowCounts();
    const body = templateBody({ description: "x".repeat(2 * 1024 * 1024) });

    // Act
    const res = await server.request("POST", TEMPLATES, { body });

    // Assess
    expectError(res, 413, "payload_too_large");
    expect(await rowCounts()).toEqual(before);
  });

  describe("on update", () => {
    let target: any;
    beforeAll(async () => {
      target = await createTemplate({
        limits: { maxUsers: 10 },
        initialData: {
          users: [
            { name: "A", email: "a@example.org" },
            { name: "B", email: "b@example.org" },
          ],
        },
      });
    });

    const updateCases: [label: string, body: () => unknown, status: number, code: string, field: string][] = [
      ["an empty object", () => ({}), 400, "validation_error", "(body)"],
      ["an unknown field", () => ({ version: 7 }), 400, "validation_error", "version"],
      ["a wrong type", () => ({ description: 42 }), 400, "validation_error", "description"],
      ["a null name", () => ({ name: null }), 400, "validation_error", "name"],
      ["a null limits object", () => ({ limits: null }), 400, "validation_error", "limits"],
      [
        "an unknown limit in the patch",
        () => ({ limits: { maxRooms: 3 } }),
        400,
        "validation_error",
        "limits.maxRooms",
      ],
      ["a negative limit", () => ({ limits: { maxUsers: -3 } }), 400, "validation_error", "limits.maxUsers"],
      [
        "a non-integer limit",
        () => ({ limits: { maxUsers: 3.5 } }),
        400,
        "validation_error",
        "limits.maxUsers",
      ],
      [
        "an unknown feature",
        () => ({ settings: { features: ["warp"] } }),
        400,
        "validation_error",
        "settings.features[0]",
      ],
      [
        "an unknown migration",
        () => ({ migrations: ["core", "nope"] }),
        400,
        "validation_error",
        "migrations[1]",
      ],
      [
        "migrations without core first",
        () => ({ migrations: ["reports"] }),
        400,
        "validation_error",
        "migrations",
      ],
      [
        "an unknown post-provisioning step",
        () => ({ postProvisioningSteps: ["nope"] }),
        400,
        "validation_error",
        "postProvisioningSteps[0]",
      ],
      [
        "limits that the existing initial data no longer fits",
        () => ({ limits: { maxUsers: 2 } }),
        400,
        "validation_error",
        "initialData.users",
      ],
      ["the name of another template", () => ({ name: "Municipality" }), 409, "conflict", "name"],
    ];

    it.each(updateCases)(
      "PUT with %s is a 4xx naming the field and changes nothing",
      async (_l, body, status, code, field) => {
        // Prepare
        const before = await rowCounts();

        // Act
        const res = await server.request("PUT", `${TEMPLATES}/${target.id}`, { body: body() });

        // Assess
        expectError(res, status, code, field);
        expect(await rowCounts()).toEqual(before);
        const current = await server.request("GET", `${TEMPLATES}/${target.id}`);
        expect(current.body).toEqual(target);
      },
    );

    it("PUT with malformed JSON is a 400 invalid_json", async () => {
      // Prepare
      const before = await rowCounts();

      // Act
      const res = await server.request("PUT", `${TEMPLATES}/${target.id}`, {
        rawBody: "{description: nope}",
      });

      // Assess
      expectError(res, 400, "invalid_json");
      expect(await rowCounts()).toEqual(before);
    });
  });
});

describe("audit log", () => {
  it("records create, update and delete with the actor key, action and request id", async () => {
    // Prepare
    const create = await server.request("POST", TEMPLATES, { body: templateBody() });
    const id = create.body.id as string;
    const update = await server.request("PUT", `${TEMPLATES}/${id}`, { body: { description: "audited" } });
    const del = await server.request("DELETE", `${TEMPLATES}/${id}`);

    // Act
    const rows = await server.database.db.select().from(auditLogs).where(eq(auditLogs.targetId, id));

    // Assess
    const byAction = Object.fromEntries(rows.map((r) => [r.action, r]));
    expect(Object.keys(byAction).sort()).toEqual(["template.create", "template.delete", "template.update"]);
    for (const [action, res] of [
      ["template.create", create],
      ["template.update", update],
      ["template.delete", del],
    ] as const) {
      const row = byAction[action]!;
      expect(row.actorKeyId).toBe(adminKeyId);
      expect(row.targetType).toBe("template");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      expect(row.requestId).toBe(res.headers.get("x-request-id"));
      expect(row.createdAt).toBeInstanceOf(Date);
    }
    expect(byAction["template.update"]!.details).toMatchObject({ version: 2, fields: ["description"] });
  });

  it("records API key creation, and no audit entry ever contains a key", async () => {
    // Prepare
    const tenantId = await createTenant();
    const created = await server.request("POST", "/api/provisioning/keys", {
      body: { name: "audited key", role: "tenant_admin", tenantId },
    });

    // Act
    const rows = await server.database.db.select().from(auditLogs);

    // Assess
    const entry = rows.find((r) => r.action === "api_key.create" && r.targetId === created.body.id);
    expect(entry).toBeDefined();
    expect(entry!.actorKeyId).toBe(adminKeyId);
    expect(entry!.tenantId).toBe(tenantId);
    expect(entry!.requestId).toBe(created.headers.get("x-request-id"));
    const everything = JSON.stringify(rows);
    expect(everything).not.toContain(created.body.key);
    expect(everything).not.toContain(server.adminKey);
    expect(everything).not.toContain(hashApiKey(created.body.key));
  });
});
