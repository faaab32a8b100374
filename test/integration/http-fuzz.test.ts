/**
 * Hostile input against every route of the OpenAPI document, through the local server: malformed
 * percent-encoding and NUL in path parameters; NUL, unpaired surrogates, integer overflow, extreme
 * dates, repeated and unknown query parameters; every string, number and container of a valid body
 * replaced by NUL, an unpaired surrogate, an out-of-range number or JSON nested 100 levels deep;
 * wrong content types and malformed JSON; other methods. Deterministic (no randomness beyond the
 * unique names the server needs) and about a thousand requests.
 *
 * Every answer must be below 500 and, when it is an error, in the one error shape with the request
 * id and the API's headers; nothing may be logged as an error.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { type OperationId, routes } from "../../functions/http/route-table.ts";
import { expectErrorShape } from "../support/api-errors.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

/** The operations that take a JSON body: a new one is a compile error until it has a base body here. */
type BodyOperation = {
  [K in OperationId]: (typeof routes)[K] extends { body: z.ZodType } ? K : never;
}[OperationId];

const NUL = "\u0000";
const LONE_SURROGATE = "\ud800";

/** A valid body per operation; every leaf is then spoiled one at a time. */
function baseBodies(): Record<BodyOperation, unknown> {
  const templateSpec = {
    name: `Fuzz ${randomUUID().slice(0, 8)}`,
    description: "fuzzing",
    category: "custom",
    settings: {
      features: ["inventory"],
      locale: "en",
      timezone: "Europe/Helsinki",
      currency: "EUR",
      orderApprovalThreshold: 100,
      fiscalYearStartMonth: 1,
    },
    limits: { maxUsers: 10, maxSchools: 5, maxProducts: 50, maxStorageMb: 100 },
    initialData: {
      schools: [{ name: "School", code: "S1", type: "primary", address: "Street 1" }],
      products: [{ sku: "P-1", name: "Pen", category: "office", unit: "pcs", unitPrice: 1.5 }],
      users: [{ name: "Buyer", email: "buyer@example.org", role: "buyer" }],
      configurations: [{ key: "orders.note", value: { text: "hello", list: ["a"] } }],
    },
    migrations: ["core", "inventory"],
    postProvisioningSteps: ["send-welcome-notification"],
  };
  const provision = {
    slug: "fuzz-tenant",
    name: "Fuzz tenant",
    subdomain: "fuzz-tenant",
    adminName: "Fuzz Admin",
    adminEmail: "admin@fuzz.example.org",
    adminPassword: "correct horse battery staple",
    initialData: { users: [{ name: "Extra", email: "extra@fuzz.example.org" }] },
  };
  return {
    createTemplate: templateSpec,
    updateTemplate: { description: "updated", limits: { maxUsers: 20 } },
    provisionFromTemplate: provision,
    provisionCustom: { ...provision, template: templateSpec },
    scheduleProvision: { ...provision, at: "2099-01-01T00:00:00Z" },
    // A template that names nothing: a spoiled batch is refused before anything is written.
    createBatch: {
      items: [{ ...provision, templateId: "00000000-0000-4000-8000-000000000000" }],
      maxConcurrency: 2,
      toleratedFailurePercent: 10,
    },
    scheduleBatch: {
      at: "2099-01-01T00:00:00Z",
      items: [{ ...provision, templateId: "00000000-0000-4000-8000-000000000000" }],
      maxConcurrency: 2,
    },
    createApiKey: { name: "fuzz key", role: "admin" },
    deprovisionTenant: { dryRun: true, gracePeriodHours: 1 },
    scheduleDeprovision: { at: "2099-01-01T00:00:00Z", gracePeriodHours: 2 },
    restoreTenant: { backupId: randomUUID() },
    createWebhook: { url: "https://hooks.example.org/tenants", eventTypes: ["*"], description: "fuzz" },
    rotateWebhookSecret: { overlapHours: 1 },
    acceptInvitation: { token: "A".repeat(43), password: "correct horse battery staple" },
    startRollout: {
      templateId: randomUUID(),
      targetVersion: 2,
      canary: ["fuzz-tenant"],
      waveSize: 10,
      maxConcurrency: 2,
      toleratedFailurePercent: 10,
      dryRun: true,
    },
  };
}

function nested(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

type Path = (string | number)[];

/** Every leaf and container of a JSON value with its path. */
function positions(value: unknown, path: Path = []): { path: Path; value: unknown }[] {
  const here = [{ path, value }];
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => positions(v, [...path, i]))];
  if (value !== null && typeof value === "object") {
    return [...here, ...Object.entries(value).flatMap(([k, v]) => positions(v, [...path, k]))];
  }
  return here;
}

function replaced(value: unknown, path: Path, by: unknown): unknown {
  if (path.length === 0) return by;
  const [head, ...rest] = path;
  const copy: any = Array.isArray(value) ? [...value] : { ...(value as object) };
  copy[head!] = replaced(copy[head!], rest, by);
  return copy;
}

/** The spoiled variants of a valid body: one change each. */
function spoiledBodies(base: unknown): { label: string; body: unknown }[] {
  const out: { label: string; body: unknown }[] = [];
  for (const { path, value } of positions(base)) {
    const at = path.join(".") || "(body)";
    if (typeof value === "string") {
      out.push({ label: `${at}=NUL`, body: replaced(base, path, `${value}${NUL}`) });
      out.push({ label: `${at}=surrogate`, body: replaced(base, path, `${LONE_SURROGATE}${value}`) });
    } else if (typeof value === "number") {
      out.push({ label: `${at}=2^31`, body: replaced(base, path, 2_147_483_648) });
      out.push({ label: `${at}=-1`, body: replaced(base, path, -1) });
      out.push({ label: `${at}=1e308`, body: replaced(base, path, 1e308) });
    } else if (value !== null && typeof value === "object") {
      out.push({ label: `${at}=deep`, body: replaced(base, path, nested(100)) });
    }
  }
  // A member name PostgreSQL cannot store, at the top and inside.
  out.push({ label: "NUL member", body: { ...(base as object), [`x${NUL}`]: 1 } });
  return out;
}

const QUERY_VALUES = [
  "%00",
  "%ED%A0%80",
  "%C0%80",
  "%",
  "2147483648",
  "99999999999999999999",
  "-1",
  "1e309",
  "",
  "0000-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999999999Z",
  "-271821-04-20T00:00:00Z",
];
const PATH_VALUES = ["%", "%zz", "%00", "%ED%A0%80", "%C0%80", "..", "%2F", "x".repeat(300)];
const CONTENT_TYPES = [
  null,
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json; charset=iso-8859-1",
  "application/xml",
];
const RAW_BODIES = ["{", "null", "[]", '"text"', "1e400", '{"__proto__":{"admin":true}}', "\u0000"];

interface Operation {
  readonly operationId: OperationId;
  readonly method: string;
  readonly path: string;
  readonly pathParams: string[];
  readonly queryParams: string[];
  readonly hasBody: boolean;
}

let server: TestServer;
let operations: Operation[];
let templateId: string;

beforeAll(async () => {
  server = await startTestServer();
  const doc = await server.request("GET", "/api/openapi.json", { key: null });
  operations = Object.entries(doc.body.paths as Record<string, Record<string, any>>).flatMap(
    ([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        operationId: op.operationId as OperationId,
        method: method.toUpperCase(),
        path,
        pathParams: (op.parameters as any[]).filter((p) => p.in === "path").map((p) => p.name),
        queryParams: (op.parameters as any[]).filter((p) => p.in === "query").map((p) => p.name),
        hasBody: op.requestBody !== undefined,
      })),
  );
  templateId = (await server.request("GET", "/api/provisioning/templates?limit=1")).body.items[0].id;
});

afterAll(async () => {
  await server?.close();
});

/**
 * Fills path parameters: the given raw value for `param`; for the others a UUID that names nothing,
 * or — for reads and for bodies, which are all spoiled — the real template, so that the request gets
 * as far as the database. A DELETE or body-less POST never names a real target.
 */
function pathOf(op: Operation, param?: string, raw?: string): string {
  const realTarget = op.method === "GET" || op.hasBody;
  return op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (name === param) return raw!;
    if (realTarget && name === "id" && op.path.startsWith("/api/provisioning/templates/")) return templateId;
    if (name === "kind") return "provisioning";
    if (name === "stepId") return "create-tenant";
    return "00000000-0000-4000-8000-000000000000";
  });
}

interface Sent {
  readonly method: string;
  readonly label: string;
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

async function send(
  label: string,
  method: string,
  path: string,
  options: { body?: string; contentType?: string | null; key?: string | null | undefined } = {},
): Promise<Sent> {
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? server.adminKey : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (options.body !== undefined && contentType !== null) headers["content-type"] = contentType;
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: new TextEncoder().encode(options.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the shape check reports it
  }
  return {
    method,
    label: `${method} ${path.slice(0, 160)} ${label}`,
    status: res.status,
    body,
    headers: res.headers,
  };
}

/** Collects what is wrong with an answer instead of stopping at the first. */
function problems(sent: Sent): string[] {
  if (sent.status >= 500) return [`${sent.label}: ${sent.status} ${JSON.stringify(sent.body).slice(0, 300)}`];
  if (sent.status < 400) return [];
  if (sent.method === "HEAD") {
    // No body to check: the headers are the same as the GET's.
    const ok = sent.headers.get("x-request-id") && sent.headers.get("cache-control") === "no-store";
    return ok ? [] : [`${sent.label}: ${sent.status} without the API's headers`];
  }
  try {
    expectErrorShape({ status: sent.status, body: sent.body, headers: sent.headers });
    return [];
  } catch (error) {
    return [
      `${sent.label}: ${sent.status} not in the error shape: ${(error as Error).message.slice(0, 300)}`,
    ];
  }
}

const errorLogs = (from: number) =>
  server.logs.slice(from).filter((line) => (JSON.parse(line) as { level: string }).level === "error");

describe("every route of the OpenAPI document under hostile input", () => {
  it("covers every route of the route table", () => {
    // Assess
    expect(operations.map((o) => o.operationId).sort()).toEqual(
      (Object.keys(routes) as OperationId[]).sort(),
    );
  });

  it("path parameters: malformed percent-encoding, NUL, unpaired surrogates, traversal, length — with and without a key", async () => {
    // Prepare
    const logsBefore = server.logs.length;
    const found: string[] = [];
    let sent = 0;

    // Act
    for (const op of operations) {
      for (const param of op.pathParams) {
        for (const raw of PATH_VALUES) {
          for (const key of [undefined, null]) {
            const res = await send(
              `${param}=${raw.slice(0, 20)} key=${key === null ? "none" : "admin"}`,
              op.method,
              pathOf(op, param, raw),
              {
                key,
                ...(op.hasBody ? { body: "{}" } : {}),
              },
            );
            sent++;
            found.push(...problems(res));
          }
        }
      }
    }

    // Assess
    expect(sent).toBeGreaterThan(100);
    expect(found).toEqual([]);
    expect(errorLogs(logsBefore)).toEqual([]);
  });

  it("query parameters: NUL, unpaired surrogates, overflow, extreme dates, repeated and unknown parameters", async () => {
    // Prepare
    const logsBefore = server.logs.length;
    const found: string[] = [];
    let sent = 0;

    // Act
    for (const op of operations.filter((o) => !o.hasBody)) {
      const base = pathOf(op);
      const variants = [
        ...op.queryParams.flatMap((name) => QUERY_VALUES.map((v) => `${name}=${v}`)),
        ...op.queryParams.map((name) => `${name}=1&${name}=2`),
        "unknownParameter=1",
        "%00=1",
        "a=1&a=2",
      ];
      for (const query of variants) {
        for (const method of op.method === "GET" ? ["GET", "HEAD"] : [op.method]) {
          const res = await send(query, method, `${base}?${query}`);
          sent++;
          found.push(...problems(res));
        }
      }
    }

    // Assess
    expect(sent).toBeGreaterThan(100);
    expect(found).toEqual([]);
    expect(errorLogs(logsBefore)).toEqual([]);
  });

  it("bodies: every string, number and container of a valid body spoiled in turn; nothing is written", async () => {
    // Prepare
    const logsBefore = server.logs.length;
    const bases = baseBodies();
    const found: string[] = [];
    let sent = 0;
    for (const [operationId, base] of Object.entries(bases) as [BodyOperation, unknown][]) {
      const parsed = (routes[operationId] as { body: z.ZodType }).body.safeParse(base);
      expect(parsed.success, `${operationId}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
    const tenantsBefore = await server.request("GET", "/api/provisioning/tenants?limit=1");
    const templatesBefore = await server.request("GET", "/api/provisioning/templates?limit=1");

    // Act
    for (const op of operations.filter((o) => o.hasBody)) {
      const base = bases[op.operationId as BodyOperation];
      for (const { label, body } of spoiledBodies(base)) {
        const res = await send(label, op.method, pathOf(op), { body: JSON.stringify(body) });
        sent++;
        found.push(...problems(res));
        if (res.status < 300) found.push(`${res.label}: accepted (${res.status}) a spoiled body`);
      }
    }

    // Assess
    expect(sent).toBeGreaterThan(200);
    expect(found).toEqual([]);
    expect(errorLogs(logsBefore)).toEqual([]);
    expect((await server.request("GET", "/api/provisioning/tenants?limit=1")).body.total).toBe(
      tenantsBefore.body.total,
    );
    expect((await server.request("GET", "/api/provisioning/templates?limit=1")).body.total).toBe(
      templatesBefore.body.total,
    );
  });

  it("content types, malformed and unexpected JSON, a body nested 100,000 levels; other methods on every path", async () => {
    // Prepare
    const logsBefore = server.logs.length;
    const bases = baseBodies();
    const found: string[] = [];
    let sent = 0;

    // Act
    for (const op of operations.filter((o) => o.hasBody)) {
      const valid = JSON.stringify(bases[op.operationId as BodyOperation]);
      for (const contentType of CONTENT_TYPES) {
        const res = await send(`content-type=${contentType}`, op.method, pathOf(op), {
          body: valid,
          contentType,
        });
        sent++;
        found.push(...problems(res));
        if (res.status !== 415) found.push(`${res.label}: ${res.status}, expected 415`);
      }
      for (const raw of [...RAW_BODIES, `${"[".repeat(100_000)}${"]".repeat(100_000)}`]) {
        const res = await send(`body=${raw.slice(0, 20)}`, op.method, pathOf(op), { body: raw });
        sent++;
        found.push(...problems(res));
        if (res.status !== 400) found.push(`${res.label}: ${res.status}, expected 400`);
      }
      const empty = await send("no body", op.method, pathOf(op));
      sent++;
      found.push(...problems(empty));
    }
    for (const path of new Set(operations.map((o) => o.path))) {
      const defined = operations.filter((o) => o.path === path).map((o) => o.method);
      const others = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].filter((m) => !defined.includes(m));
      for (const method of others) {
        const res = await send("other method", method, pathOf(operations.find((o) => o.path === path)!));
        sent++;
        found.push(...problems(res));
        if (res.status !== 405) found.push(`${res.label}: ${res.status}, expected 405`);
      }
    }

    // Assess
    expect(sent).toBeGreaterThan(100);
    expect(found).toEqual([]);
    expect(errorLogs(logsBefore)).toEqual([]);
  });
});
