/**
 * The HTTP surface as a client meets it, through the local server: bad input (malformed
 * percent-encoding, text PostgreSQL cannot store, numbers and dates it cannot hold, JSON nested
 * too deep) is a 4xx naming the field with nothing written and nothing logged as an error; every
 * answer has the one error shape, a request id and the API's headers; HEAD works; repeated query
 * parameters are refused; keys and roles are checked before a body is read; logs hold no request
 * values.
 */
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { count, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiKeys, tenants, tenantTemplates } from "../../functions/db/schema.ts";
import { expectApiError } from "../support/api-errors.ts";
import { failInserts } from "../support/fault-injection.ts";
import { provisionBody } from "../support/provision-body.ts";
import { type HttpResult, startTestServer, type TestServer } from "../support/server.ts";

const API = "/api/provisioning";
const PASSWORD = `Heron!Basalt-${randomUUID().slice(0, 8)}-Meadow`;

let server: TestServer;
let templateId: string;

beforeAll(async () => {
  server = await startTestServer();
  const res = await server.request("GET", `${API}/templates?limit=1`);
  templateId = res.body.items[0].id;
});

afterAll(async () => {
  await server?.close();
});

/** Log entries at level error written since `from` (an index into server.logs). */
const errorLogs = (from: number) =>
  server.logs.slice(from).filter((line) => (JSON.parse(line) as { level: string }).level === "error");

async function rowCounts(): Promise<{ templates: number; tenants: number; keys: number }> {
  const db = server.database.db;
  const [t] = await db.select({ n: count() }).from(tenantTemplates);
  const [n] = await db.select({ n: count() }).from(tenants);
  const [k] = await db.select({ n: count() }).from(apiKeys);
  return { templates: Number(t!.n), tenants: Number(n!.n), keys: Number(k!.n) };
}

async function createTenant(): Promise<string> {
  const slug = `h-${randomUUID().slice(0, 8)}`;
  const [tenant] = await server.database.db
    .insert(tenants)
    .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active" })
    .returning({ id: tenants.id });
  return tenant!.id;
}

async function tenantAdminKey(): Promise<string> {
  const res = await server.request("POST", `${API}/keys`, {
    body: { name: "tenant admin", role: "tenant_admin", tenantId: await createTenant() },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.key;
}

function nested(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe("bad input is a 4xx naming the field, never a 500", () => {
  it("malformed percent-encoding in a path parameter, with or without a key, logs no error", async () => {
    // Prepare
    const logsBefore = server.logs.length;
    const paths = [
      `${API}/tenants/%`,
      `${API}/tenants/%zz`,
      `${API}/templates/%E0%A4%A/versions`,
      // an encoded unpaired surrogate is not UTF-8
      `${API}/progress/%ED%A0%80`,
    ];

    // Act
    const answers = [];
    for (const path of paths) {
      answers.push(await server.request("GET", path, { key: null }));
      answers.push(await server.request("GET", path));
    }

    // Assess
    for (const res of answers) expectApiError(res, 400, { field: "id" });
    expect(errorLogs(logsBefore)).toEqual([]);
  });

  it("NUL and unpaired surrogates in any string of a body (templates, provisioning, keys) are a 400, nothing written", async () => {
    // Prepare
    const before = await rowCounts();
    const logsBefore = server.logs.length;
    const template = { name: `Fine ${randomUUID().slice(0, 8)}` };
    const slug = `nul-${randomUUID().slice(0, 8)}`;

    // Act
    const answers: [HttpResult<any>, string][] = [
      [await server.request("POST", `${API}/templates`, { body: { name: "a\u0000b" } }), "name"],
      [
        await server.request("POST", `${API}/templates`, {
          rawBody: JSON.stringify({ ...template, description: "x" }).replace('"x"', '"\\ud800"'),
        }),
        "description",
      ],
      [
        await server.request("PUT", `${API}/templates/${templateId}`, {
          rawBody: '{"description":"lone low \\udc00 surrogate"}',
        }),
        "description",
      ],
      [
        await server.request("POST", `${API}/templates/${templateId}/provision`, {
          body: provisionBody(slug, PASSWORD, { adminName: "Jane\u0000Doe" }),
        }),
        "adminName",
      ],
      [
        await server.request("POST", `${API}/provision/custom`, {
          body: provisionBody(slug, PASSWORD, {
            template: {
              ...template,
              initialData: { configurations: [{ key: "x.y", value: { "na\u0000me": 1 } }] },
            },
          }),
        }),
        "template.initialData.configurations[0].value.na\ufffdme",
      ],
      [await server.request("POST", `${API}/keys`, { body: { name: "ops\u0000", role: "admin" } }), "name"],
    ];

    // Assess
    for (const [res, field] of answers) expectApiError(res, 400, { field });
    expect(answers[0]![0].body.error.message).toContain("NUL");
    expect(await rowCounts()).toEqual(before);
    expect(errorLogs(logsBefore)).toEqual([]);
  });

  it("numbers and dates outside what the database holds are a 400; the extremes it holds are answered", async () => {
    // Prepare
    const logsBefore = server.logs.length;
    const tenantId = await createTenant();

    // Act
    const overflow = await server.request("GET", `${API}/templates/${templateId}?version=2147483648`);
    const largest = await server.request("GET", `${API}/templates/${templateId}?version=2147483647`);
    const yearZero = await server.request("GET", `${API}/stats?from=0000-01-01T00:00:00Z`);
    const lastNanosecond = await server.request("GET", `${API}/stats?from=9999-12-31T23:59:59.999999999Z`);
    const beforeYearOne = await server.request("GET", `${API}/stats?to=0001-01-01T00:00:00%2B01:00`);
    const widest = await server.request(
      "GET",
      `${API}/stats?from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z`,
    );
    const farFuture = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: "9999-12-31T23:59:59.999Z" },
    });

    // Assess
    expectApiError(overflow, 400, { field: "version" });
    expectApiError(largest, 404, { code: "not_found" });
    expectApiError(yearZero, 400, { field: "from" });
    expectApiError(lastNanosecond, 400, { field: "from" });
    expectApiError(beforeYearOne, 400, { field: "to" });
    expect(widest.status, JSON.stringify(widest.body)).toBe(200);
    expectApiError(farFuture, 400, { field: "at" });
    expect(errorLogs(logsBefore)).toEqual([]);
  });

  it("JSON nested deeper than 64 levels is a 400 (2,000 levels in a configuration value); 50 levels are stored as sent", async () => {
    // Prepare
    const logsBefore = server.logs.length;
    const configured = (value: unknown) => ({
      name: `Nested ${randomUUID().slice(0, 8)}`,
      initialData: { configurations: [{ key: "deep.value", value }] },
    });

    // Act
    const deep = await server.request("POST", `${API}/templates`, { body: configured(nested(2000)) });
    // A body that is nothing but nesting, 200,000 levels: no recursion may overflow on it.
    const abyss = await server.request("POST", `${API}/keys`, {
      rawBody: `${"[".repeat(200_000)}${"]".repeat(200_000)}`,
    });
    const fine = await server.request("POST", `${API}/templates`, { body: configured(nested(50)) });

    // Assess
    expectApiError(deep, 400);
    expect(deep.body.error.details.fields[0].field).toMatch(
      /^initialData\.configurations\[0\]\.value(\[0\])+$/,
    );
    expect(deep.body.error.details.fields[0].message).toContain("64");
    expectApiError(abyss, 400);
    expect(fine.status, JSON.stringify(fine.body).slice(0, 500)).toBe(201);
    expect(fine.body.initialData.configurations[0].value).toEqual(nested(50));
    expect(errorLogs(logsBefore)).toEqual([]);
  });
});

describe("one error shape, a request id and the API's headers on every answer", () => {
  it("401, 403, 404, 405, 409, 413, 415 and 400 each carry details.requestId = x-request-id, no-store, nosniff; a 401 says Bearer", async () => {
    // Prepare
    const tenantKey = await tenantAdminKey();
    const name = `Dup ${randomUUID().slice(0, 8)}`;
    await server.request("POST", `${API}/templates`, { body: { name } });

    // Act
    const answers: [HttpResult<any>, number][] = [
      [await server.request("GET", `${API}/templates`, { key: null }), 401],
      [await server.request("GET", `${API}/templates`, { key: "tpk_not-a-key" }), 401],
      [await server.request("GET", `${API}/templates`, { key: tenantKey }), 403],
      [await server.request("GET", `${API}/nothing-here`), 404],
      [await server.request("GET", "/not-the-api"), 404],
      [await server.request("GET", `${API}/templates/${randomUUID()}`), 404],
      [await server.request("PATCH", `${API}/templates`), 405],
      [await server.request("POST", `${API}/templates`, { body: { name } }), 409],
      [await server.request("POST", `${API}/templates`, { rawBody: `"${"x".repeat(1024 * 1024)}"` }), 413],
      [
        await server.request("POST", `${API}/templates`, {
          rawBody: JSON.stringify({ name: "plain" }),
          headers: { "content-type": "text/plain" },
        }),
        415,
      ],
      [await server.request("POST", `${API}/templates`, { rawBody: "{not json" }), 400],
    ];

    // Assess
    for (const [res, status] of answers) expectApiError(res, status);
    const ids = answers.map(([res]) => res.headers.get("x-request-id"));
    expect(new Set(ids).size).toBe(ids.length);
    expect(answers[6]![0].headers.get("allow")).toBe("GET, POST, HEAD");
  });

  it("successful answers carry the request id and the API's headers too (POST /keys returns a secret)", async () => {
    // Act
    const list = await server.request("GET", `${API}/templates?limit=1`);
    const created = await server.request("POST", `${API}/keys`, { body: { name: "ci", role: "admin" } });
    const openapi = await server.request("GET", "/api/openapi.json", { key: null });

    // Assess
    for (const res of [list, created, openapi]) {
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect(created.body.key).toMatch(/^tpk_/);
  });
});

describe("HEAD and query parameters", () => {
  it("HEAD on a GET route answers its status and headers without a body; without a key it is a 401", async () => {
    // Act
    const get = await fetch(`${server.url}${API}/templates/${templateId}`, {
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    const head = await fetch(`${server.url}${API}/templates/${templateId}`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    const headMissing = await fetch(`${server.url}${API}/templates/${randomUUID()}`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    const headAnonymous = await fetch(`${server.url}${API}/templates`, { method: "HEAD" });
    const headOnPostOnly = await fetch(`${server.url}${API}/provision/custom`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${server.adminKey}` },
    });

    // Assess
    expect(get.status).toBe(200);
    expect((await get.json()).id).toBe(templateId);
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
    expect(head.headers.get("cache-control")).toBe("no-store");
    expect(head.headers.get("x-request-id")).toMatch(/\S/);
    expect(headMissing.status).toBe(404);
    expect(await headMissing.text()).toBe("");
    expect(headAnonymous.status).toBe(401);
    expect(headAnonymous.headers.get("www-authenticate")).toBe("Bearer");
    expect(headOnPostOnly.status).toBe(405);
    expect(headOnPostOnly.headers.get("allow")).toBe("POST");
  });

  it("a repeated query parameter is a 400 naming it, not the last one winning", async () => {
    // Act
    const limit = await server.request("GET", `${API}/templates?limit=1&limit=2`);
    const status = await server.request("GET", `${API}/progress?status=failed&status=completed`);
    const unscheduled = await server.request("GET", `${API}/keys?includeRevoked=true&includeRevoked=false`);
    const once = await server.request("GET", `${API}/templates?limit=1`);

    // Assess
    expectApiError(limit, 400, { field: "limit" });
    expectApiError(status, 400, { field: "status" });
    expectApiError(unscheduled, 400, { field: "includeRevoked" });
    expect(once.status).toBe(200);
    expect(once.body.items).toHaveLength(1);
  });
});

/**
 * Sends headers announcing a body of `declaredBytes` and only its first 64 KB, then waits: the
 * answer must come while most of the body was never sent, and the server must close the
 * connection rather than wait for (or read) the rest.
 */
function sendPartialBody(
  path: string,
  headers: Record<string, string>,
  declaredBytes: number,
): Promise<{ status: number; body: string; closed: boolean; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, server.url);
    const timer = setTimeout(() => reject(new Error("no answer before the body was sent")), 10_000);
    const req = httpRequest(url, {
      method: "POST",
      headers: { ...headers, "content-length": String(declaredBytes) },
    });
    req.on("error", () => {
      // Writing after the server closed the connection: expected.
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        const socket = req.socket;
        const done = (closed: boolean) =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            closed,
            headers: res.headers,
          });
        if (!socket || socket.destroyed) return done(true);
        const wait = setTimeout(() => done(false), 2_000);
        socket.once("close", () => {
          clearTimeout(wait);
          done(true);
        });
      });
    });
    req.write(Buffer.alloc(64 * 1024, "x"));
  });
}

describe("keys and roles are checked before the body is read", () => {
  const TWENTY_MB = 20 * 1024 * 1024;

  it("a bad key with a 20 MB body is a 401 before the body is sent, and the connection is closed", async () => {
    // Act
    const res = await sendPartialBody(
      `${API}/templates`,
      { authorization: "Bearer tpk_wrong", "content-type": "application/json" },
      TWENTY_MB,
    );

    // Assess
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe("Bearer");
    expect(JSON.parse(res.body).error.code).toBe("unauthorized");
    expect(res.closed).toBe(true);
  });

  it("a tenant_admin key on an admin route with a 20 MB body is a 403, unread", async () => {
    // Act
    const res = await sendPartialBody(
      `${API}/provision/custom`,
      { authorization: `Bearer ${await tenantAdminKey()}`, "content-type": "application/json" },
      TWENTY_MB,
    );

    // Assess
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.code).toBe("forbidden");
    expect(res.closed).toBe(true);
  });

  it("an admin key declaring 20 MB is a 413, unread; a non-JSON type is a 415, unread", async () => {
    // Act
    const tooLarge = await sendPartialBody(
      `${API}/templates`,
      { authorization: `Bearer ${server.adminKey}`, "content-type": "application/json" },
      TWENTY_MB,
    );
    const wrongType = await sendPartialBody(
      `${API}/templates`,
      { authorization: `Bearer ${server.adminKey}`, "content-type": "application/x-www-form-urlencoded" },
      TWENTY_MB,
    );

    // Assess
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.closed).toBe(true);
    expect(wrongType.status).toBe(415);
    expect(wrongType.closed).toBe(true);
  });

  it("a JSON route takes application/json (UTF-8) only: other types and charsets are a 415, nothing written", async () => {
    // Prepare
    const before = await rowCounts();
    const body = JSON.stringify({ name: `Typed ${randomUUID().slice(0, 8)}` });
    const send = (contentType: string | null) =>
      fetch(`${server.url}${API}/templates`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${server.adminKey}`,
          ...(contentType === null ? {} : { "content-type": contentType }),
        },
        body: new TextEncoder().encode(body),
      });

    // Act
    const refused = [
      await send(null),
      await send("text/plain"),
      await send("application/x-www-form-urlencoded"),
      await send("application/json; charset=iso-8859-1"),
    ];
    const afterRefused = await rowCounts();
    const accepted = await send("Application/JSON; charset=UTF-8");

    // Assess
    for (const res of refused) {
      expect(res.status).toBe(415);
      expect((await res.json()).error.code).toBe("unsupported_media_type");
    }
    expect(afterRefused).toEqual(before);
    expect(accepted.status).toBe(201);
  });
});

describe("logs hold no request values", () => {
  it("a database error during a request is a 500 whose log names the query but not its parameters", async () => {
    // Prepare
    const slug = `log-${randomUUID().slice(0, 8)}`;
    const body = provisionBody(slug, PASSWORD, {
      adminName: `Personal Person ${randomUUID().slice(0, 8)}`,
      adminEmail: `personal.${randomUUID().slice(0, 8)}@example.org`,
    });
    const logsBefore = server.logs.length;
    const remove = await failInserts((s) => server.database.db.execute(sql.raw(s)), {
      name: `test_fail_audit_${slug}`,
      table: "audit_logs",
      when: `NEW.details->>'slug' = '${slug}'`,
      sqlstate: "P0001",
      message: "'audit refused'",
    });

    // Act
    let res: HttpResult<any>;
    try {
      res = await server.request("POST", `${API}/templates/${templateId}/provision`, { body });
    } finally {
      await remove();
    }

    // Assess
    expectApiError(res, 500, { code: "internal_error" });
    expect(res.body.error.message).toBe("internal error");
    const logged = errorLogs(logsBefore);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("audit refused");
    expect(logged[0]).toContain(res.body.error.details.requestId);
    for (const value of [body.adminName, body.adminEmail, slug, PASSWORD] as string[]) {
      expect(server.logs.slice(logsBefore).join("\n")).not.toContain(value);
    }
  });
});
