/**
 * The operator surface for cells through HTTP, on one server with cells `main` and `east` (east on
 * its own database): the list with each cell's tenants, closing and opening a cell (audited, and
 * placement follows: a closed cell takes no new tenant, every cell closed is a 409), a template
 * pinned to a cell (its tenants go there even when another cell has fewer; a closed pin is a 409
 * naming templateId; an unknown cell is a 400 naming `cell`), the tenant's cell in the tenant and
 * run responses, and the roles (a tenant_admin key is refused). The CLI's `cells` commands and
 * `template create|update --cell` run in this process against the same server.
 */
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLogs, tenants } from "../../functions/db/schema.ts";
import { cellListSchema, cellSchema } from "../../functions/schemas/cells.ts";
import { tenantDetailSchema } from "../../functions/schemas/deprovisioning.ts";
import { templateSchema } from "../../functions/schemas/templates.ts";
import { expectApiError } from "../support/api-errors.ts";
import { cliAgainst } from "../support/cli-in-process.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const CELLS = "/api/cells";
const PASSWORD = `Pelican!${randomUUID()}`;

let server: TestServer;
const { settle } = runHelpers(() => server);

beforeAll(async () => {
  server = await startTestServer({ cells: ["east"] });
});

afterAll(async () => {
  await server?.close();
});

async function cellsNow(): Promise<Map<string, { acceptsTenants: boolean; tenants: number }>> {
  const res = await server.request("GET", CELLS);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return new Map(cellListSchema.parse(res.body).items.map((c) => [c.name, c]));
}

async function setCell(name: string, verb: "close" | "open"): Promise<void> {
  const res = await server.request("POST", `${CELLS}/${name}/${verb}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(cellSchema.parse(res.body)).toMatchObject({ name, acceptsTenants: verb === "open" });
}

async function createTemplate(extra: Record<string, unknown> = {}): Promise<any> {
  const res = await server.request("POST", `${API}/templates`, {
    body: { name: `Cells ${randomUUID().slice(0, 8)}`, ...extra },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return templateSchema.parse(res.body);
}

/** POST .../provision for a new tenant; the raw answer (202, or the refusal). */
function requestTenant(templateId: string) {
  return server.request("POST", `${API}/templates/${templateId}/provision`, {
    body: provisionBody(`cell-${randomUUID().slice(0, 8)}`, PASSWORD),
  });
}

/** Provisions a tenant to the end; returns its cell as `GET /tenants/:id` and the run show it. */
async function provisionedCell(templateId: string): Promise<{ tenantId: string; cell: string }> {
  const started = await requestTenant(templateId);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const run = await settle(started.body.id);
  expect(run.status, JSON.stringify(run)).toBe("completed");
  const tenant = await server.request("GET", `${API}/tenants/${run.tenantId}`);
  expect(tenant.status).toBe(200);
  expect(run.tenant.cell).toBe(tenant.body.cell);
  return { tenantId: run.tenantId, cell: tenant.body.cell };
}

let unpinned: string;
let firstTenant: string;

describe("listing, closing and opening cells", () => {
  it("lists main first, then east, both configured and open with no tenants", async () => {
    // Act
    const res = await server.request("GET", CELLS);

    // Assess
    expect(res.status).toBe(200);
    expect(cellListSchema.parse(res.body).items).toEqual([
      expect.objectContaining({ name: "main", acceptsTenants: true, configured: true, tenants: 0 }),
      expect.objectContaining({ name: "east", acceptsTenants: true, configured: true, tenants: 0 }),
    ]);
  });

  it("places by the fewest tenants, and a closed cell takes none (audited)", async () => {
    // Prepare
    unpinned = (await createTemplate()).id;

    // Act: both empty, so the tie goes to the first by name; then east closed.
    const first = await provisionedCell(unpinned);
    await setCell("east", "close");
    const second = await provisionedCell(unpinned);

    // Assess
    firstTenant = first.tenantId;
    expect(first.cell).toBe("east");
    expect(second.cell).toBe("main");
    const cells = await cellsNow();
    expect(cells.get("east")).toMatchObject({ acceptsTenants: false, tenants: 1 });
    expect(cells.get("main")).toMatchObject({ acceptsTenants: true, tenants: 1 });
    const audit = await server.database.db
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.action, "cell.close"), eq(auditLogs.targetId, "east")));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ targetType: "cell", details: { acceptsTenants: false } });
    const list = await server.request("GET", `${API}/tenants?limit=200`);
    expect(list.body.items.find((t: any) => t.id === first.tenantId)?.cell).toBe("east");
  });

  it("refuses provisioning with a 409 while every cell is closed, and takes tenants again once one opens", async () => {
    // Prepare: east is closed since the test before.
    await setCell("main", "close");

    // Act
    const refused = await requestTenant(unpinned);
    await setCell("main", "open");
    await setCell("east", "open");

    // Assess
    expectApiError(refused, 409, { code: "conflict" });
    expect(refused.body.error.message).toMatch(/no cell takes new tenants/);
    expect([...(await cellsNow()).values()].every((c) => c.acceptsTenants)).toBe(true);
    const opened = await server.database.db.select().from(auditLogs).where(eq(auditLogs.action, "cell.open"));
    expect(opened.map((a) => a.targetId).sort()).toEqual(["east", "main"]);
  });

  it("answers 404 naming an unknown cell, and 403 to a tenant_admin key", async () => {
    // Prepare
    const key = await server.request("POST", `${API}/keys`, {
      body: { name: "cells tenant admin", role: "tenant_admin", tenantId: firstTenant },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);

    // Act
    const unknown = await server.request("POST", `${CELLS}/west/close`);
    const listed = await server.request("GET", CELLS, { key: key.body.key });
    const closed = await server.request("POST", `${CELLS}/main/close`, { key: key.body.key });

    // Assess
    expectApiError(unknown, 404, { code: "not_found" });
    expect(unknown.body.error.message).toContain("west");
    expectApiError(listed, 403);
    expectApiError(closed, 403);
    expect((await cellsNow()).get("main")?.acceptsTenants).toBe(true);
  });
});

describe("templates pinned to a cell", () => {
  it("places every tenant of a pinned template on its cell, even when another cell has fewer", async () => {
    // Prepare: a tenant row on east (no schema needed: placement only counts), so main has fewer.
    await server.database.db
      .insert(tenants)
      .values({ name: "Counted", slug: `cnt-${randomUUID().slice(0, 8)}`, status: "active", cell: "east" });
    const pinned = await createTemplate({ cell: "east" });

    // Act
    const placed = await provisionedCell(pinned.id);

    // Assess
    expect(pinned.cell).toBe("east");
    expect(placed.cell).toBe("east");
    const cells = await cellsNow();
    expect(cells.get("east")?.tenants).toBe(3);
    expect(cells.get("main")?.tenants).toBe(1);
  });

  it("refuses a tenant of a template pinned to a closed cell with a 409 naming templateId", async () => {
    // Prepare
    const pinned = await createTemplate({ cell: "east" });
    await setCell("east", "close");

    // Act
    const refused = await requestTenant(pinned.id);
    await setCell("east", "open");

    // Assess
    expectApiError(refused, 409, { field: "templateId" });
    expect(refused.body.error.message).toMatch(/pinned to cell east/);
  });

  it("pins and unpins by update without a new version", async () => {
    // Prepare
    const template = await createTemplate();

    // Act
    const pinned = await server.request("PUT", `${API}/templates/${template.id}`, { body: { cell: "main" } });
    const unpinned = await server.request("PUT", `${API}/templates/${template.id}`, {
      body: { cell: null, description: "unpinned" },
    });

    // Assess
    expect(pinned.status, JSON.stringify(pinned.body)).toBe(200);
    expect(pinned.body).toMatchObject({ cell: "main", version: 1 });
    expect(unpinned.status, JSON.stringify(unpinned.body)).toBe(200);
    expect(unpinned.body).toMatchObject({ cell: null, version: 2, description: "unpinned" });
    const read = await server.request("GET", `${API}/templates/${template.id}`);
    expect(read.body.cell).toBeNull();
  });

  it("refuses a cell this deployment does not configure with a 400 naming cell", async () => {
    // Prepare
    const template = await createTemplate();

    // Act
    const created = await server.request("POST", `${API}/templates`, {
      body: { name: `Cells ${randomUUID().slice(0, 8)}`, cell: "west" },
    });
    const updated = await server.request("PUT", `${API}/templates/${template.id}`, {
      body: { cell: "west" },
    });
    const malformed = await server.request("PUT", `${API}/templates/${template.id}`, {
      body: { cell: "West Wing" },
    });

    // Assess
    expectApiError(created, 400, { field: "cell" });
    expect(created.body.error.message).toContain("west");
    expectApiError(updated, 400, { field: "cell" });
    expectApiError(malformed, 400, { field: "cell" });
    expect((await server.request("GET", `${API}/templates/${template.id}`)).body.cell).toBeNull();
  });
});

const cli = cliAgainst(() => server);

describe("the CLI", () => {
  it("lists, closes and opens cells, as a table and as the API's JSON", async () => {
    // Act
    const table = await cli("cells", "list");
    const closed = await cli("--json", "cells", "close", "east");
    const listed = await cli("--json", "cells", "list");
    const opened = await cli("cells", "open", "east");
    const unknown = await cli("cells", "close", "west");

    // Assess
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+STATE\s+CONFIGURED\s+TENANTS/);
    expect(table.stdout).toMatch(/\nmain\s+open\s+yes\s+1\s/);
    expect(closed.code, closed.stderr).toBe(0);
    expect(cellSchema.parse(JSON.parse(closed.stdout))).toMatchObject({
      name: "east",
      acceptsTenants: false,
    });
    expect(cellListSchema.parse(JSON.parse(listed.stdout)).items.map((c) => c.name)).toEqual([
      "main",
      "east",
    ]);
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.stdout).toMatch(/State:?\s+open/);
    // An unknown cell: the API's 404, exit 3 (not found) as for every other resource.
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain("west");
  });

  it("pins a template with --cell, unpins it with --no-cell, and shows a tenant's cell", async () => {
    // Prepare
    const name = `Cells CLI ${randomUUID().slice(0, 8)}`;

    // Act
    const created = await cli("--json", "template", "create", name, "--cell", "east");
    const id = templateSchema.parse(JSON.parse(created.stdout)).id;
    const unpinned = await cli("--json", "template", "update", id, "--no-cell");
    const refused = await cli("template", "update", id, "--cell", "west");
    const tenant = await cli("--json", "tenants", "show", firstTenant);
    const tenants = await cli("tenants", "list");

    // Assess
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).cell).toBe("east");
    expect(unpinned.code, unpinned.stderr).toBe(0);
    expect(JSON.parse(unpinned.stdout)).toMatchObject({ cell: null, version: 1 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("cell");
    expect(tenantDetailSchema.parse(JSON.parse(tenant.stdout)).cell).toBe("east");
    expect(tenants.stdout).toMatch(/\bCELL\b/);
    expect(tenants.stdout).toMatch(new RegExp(`${firstTenant}.*\\beast\\b`));
  });
});
