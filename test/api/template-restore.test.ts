/**
 * A deleted template is recoverable: `POST /templates/:id/restore` brings it back (listed and
 * usable for provisioning again, its versions unchanged, audited), deleted templates can be listed
 * (`?state=deleted`), a create with a deleted template's name says how to get it back, and a
 * deleted default template stays deleted across a restart (start-up seeding does not resurrect
 * it) until it is restored.
 */
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLogs } from "../../functions/db/schema.ts";
import { expectApiError } from "../support/api-errors.ts";
import { provisionBody } from "../support/provision-body.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const TEMPLATES = "/api/provisioning/templates";
const PASSWORD = `Kestrel-Fjord-${randomUUID().slice(0, 8)}-Loom`;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

async function createTemplate(): Promise<any> {
  const res = await server.request("POST", TEMPLATES, {
    body: { name: `Restorable ${randomUUID().slice(0, 8)}`, category: "custom", migrations: ["core"] },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const listedIds = async (query = "") =>
  ((await server.request("GET", `${TEMPLATES}?limit=200${query}`)).body.items as any[]).map((t) => t.id);

describe("restoring a deleted template", () => {
  it("brings it back: listed, usable for provisioning, same versions, audited", async () => {
    // Prepare
    const created = await createTemplate();
    await server.request("PUT", `${TEMPLATES}/${created.id}`, { body: { description: "v2" } });
    await server.request("DELETE", `${TEMPLATES}/${created.id}`);
    const whileDeleted = await server.request("POST", `${TEMPLATES}/${created.id}/provision`, {
      body: provisionBody(`tr-${randomUUID().slice(0, 8)}`, PASSWORD),
    });

    // Act
    const restored = await server.request("POST", `${TEMPLATES}/${created.id}/restore`);
    const provision = await server.request("POST", `${TEMPLATES}/${created.id}/provision`, {
      body: provisionBody(`tr-${randomUUID().slice(0, 8)}`, PASSWORD),
    });
    const versions = await server.request("GET", `${TEMPLATES}/${created.id}/versions`);
    await server.app.workflows.idle();

    // Assess
    expectApiError(whileDeleted, 404);
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body).toMatchObject({ id: created.id, deletedAt: null, version: 2, description: "v2" });
    expect(await listedIds()).toContain(created.id);
    expect(provision.status, JSON.stringify(provision.body)).toBe(202);
    expect(versions.body.items.map((v: any) => v.version)).toEqual([2, 1]);
    const audit = await server.database.db
      .select({ actorKeyId: auditLogs.actorKeyId })
      .from(auditLogs)
      .where(and(eq(auditLogs.action, "template.restore"), eq(auditLogs.targetId, created.id)));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actorKeyId).not.toBeNull();
  });

  it("answers 409 for a template that is not deleted, 404 for an unknown one, 401 without a key", async () => {
    // Prepare
    const live = await createTemplate();
    const deleted = await createTemplate();
    await server.request("DELETE", `${TEMPLATES}/${deleted.id}`);

    // Act
    const notDeleted = await server.request("POST", `${TEMPLATES}/${live.id}/restore`);
    const unknown = await server.request("POST", `${TEMPLATES}/${randomUUID()}/restore`);
    const noKey = await server.request("POST", `${TEMPLATES}/${deleted.id}/restore`, { key: null });

    // Assess
    expectApiError(notDeleted, 409);
    expect(notDeleted.body.error.message).toMatch(/not deleted/);
    expectApiError(unknown, 404);
    expectApiError(noKey, 401);
    expect(await listedIds()).not.toContain(deleted.id);
  });

  it("lists deleted templates with state=deleted, and both with state=all", async () => {
    // Prepare
    const live = await createTemplate();
    const deleted = await createTemplate();
    await server.request("DELETE", `${TEMPLATES}/${deleted.id}`);

    // Act
    const active = await listedIds();
    const onlyDeleted = await server.request("GET", `${TEMPLATES}?state=deleted&limit=200`);
    const all = await listedIds("&state=all");
    const bad = await server.request("GET", `${TEMPLATES}?state=gone`);

    // Assess
    expect(active).toContain(live.id);
    expect(active).not.toContain(deleted.id);
    expect(onlyDeleted.body.items.map((t: any) => t.id)).toContain(deleted.id);
    expect(onlyDeleted.body.items.every((t: any) => t.deletedAt !== null)).toBe(true);
    expect(onlyDeleted.body.total).toBe(onlyDeleted.body.items.length);
    expect(all).toEqual(expect.arrayContaining([live.id, deleted.id]));
    expectApiError(bad, 400, { field: "state" });
  });

  it("a create with a deleted template's name names it and says how to restore it", async () => {
    // Prepare
    const deleted = await createTemplate();
    await server.request("DELETE", `${TEMPLATES}/${deleted.id}`);

    // Act
    const res = await server.request("POST", TEMPLATES, {
      body: { name: deleted.name, category: "custom", migrations: ["core"] },
    });

    // Assess
    expectApiError(res, 409, { field: "name" });
    expect(res.body.error.message).toContain(deleted.id);
    expect(res.body.error.message).toMatch(/restore/);
  });
});

describe("a deleted default template", () => {
  it("stays deleted across a restart (seeding does not bring it back) and can be restored", async () => {
    // Prepare
    const first = await startTestServer();
    let second: TestServer | undefined;
    try {
      const defaults = (await first.request("GET", `${TEMPLATES}?limit=200`)).body.items.filter(
        (t: any) => t.isDefault,
      );
      const district = defaults.find((t: any) => t.name === "School District");
      await first.request("DELETE", `${TEMPLATES}/${district.id}`);
      await first.stop();

      // Act
      second = await startTestServer({ restartOf: first });
      const afterRestart = await second.request("GET", `${TEMPLATES}?limit=200&state=all`);
      const restored = await second.request("POST", `${TEMPLATES}/${district.id}/restore`);
      const listed = await second.request("GET", `${TEMPLATES}?limit=200`);

      // Assess: one School District row, still deleted after the restart, then back as the default.
      const districts = afterRestart.body.items.filter((t: any) => t.name === "School District");
      expect(districts).toEqual([
        expect.objectContaining({ id: district.id, deletedAt: expect.any(String) }),
      ]);
      expect(restored.status, JSON.stringify(restored.body)).toBe(200);
      expect(restored.body).toMatchObject({ id: district.id, isDefault: true, deletedAt: null });
      expect(
        listed.body.items
          .filter((t: any) => t.isDefault)
          .map((t: any) => t.name)
          .sort(),
      ).toEqual(defaults.map((t: any) => t.name).sort());
    } finally {
      if (second) await second.close();
      else await first.close();
    }
  });
});
