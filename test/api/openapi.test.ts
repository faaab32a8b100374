/**
 * The public endpoints: the OpenAPI document generated from the route table, and the health check.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routeList } from "../../functions/http/route-table.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe("GET /api/openapi.json", () => {
  it("is served without a key as an OpenAPI 3 document", async () => {
    // Act
    const res = await server.request("GET", "/api/openapi.json", { key: null });

    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(res.body.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(res.body.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    // Every error names its request: details (with requestId) is required.
    const error = res.body.components.schemas.Error.properties.error;
    expect(error.required).toEqual(expect.arrayContaining(["code", "message", "details"]));
    expect(error.properties.details.required).toEqual(["requestId"]);
  });

  it("lists every route of the route table with its method", async () => {
    // Prepare
    const routes = routeList();

    // Act
    const res = await server.request("GET", "/api/openapi.json", { key: null });

    // Assess
    expect(routes.length).toBeGreaterThan(5);
    for (const route of routes) {
      const operation = res.body.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation.operationId).toBe(route.operationId);
      if (route.body) expect(operation.requestBody?.content?.["application/json"]?.schema).toBeDefined();
      if (route.body)
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["413", "415"]));
      expect(operation.responses["500"]).toBeDefined();
      if (route.access === "public") expect(operation.security).toEqual([]);
      else expect(operation.responses["401"]).toBeDefined();
    }
    const documented = Object.values(res.body.paths as Record<string, object>).flatMap((p) => Object.keys(p));
    expect(documented).toHaveLength(routes.length);
  });

  it("describes the template body with the same rules the API enforces", async () => {
    // Act
    const res = await server.request("GET", "/api/openapi.json", { key: null });

    // Assess
    const schema =
      res.body.paths["/api/provisioning/templates"].post.requestBody.content["application/json"].schema;
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toContain("name");
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        "name",
        "category",
        "settings",
        "limits",
        "initialData",
        "migrations",
        "postProvisioningSteps",
      ]),
    );
    expect(schema.properties.category.enum).toEqual([
      "basic",
      "school_district",
      "municipality",
      "enterprise",
      "custom",
    ]);
  });
});

describe("GET /api/health", () => {
  it("answers ok without a key", async () => {
    // Act
    const res = await server.request("GET", "/api/health", { key: null });

    // Assess
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });
});

describe("unknown routes", () => {
  it("answers 404 for an unknown path and 405 for a wrong method, in the error shape", async () => {
    // Act
    const missing = await server.request("GET", "/api/provisioning/nothing-here");
    const wrongMethod = await server.request("PATCH", "/api/provisioning/templates");

    // Assess
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: "not_found", message: expect.any(String) } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body).toMatchObject({ error: { code: "method_not_allowed" } });
  });
});
