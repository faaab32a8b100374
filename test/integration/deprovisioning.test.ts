/**
 * Deprovisioning through HTTP against a real database (PGlite, PostgreSQL, and PostgreSQL through
 * the RDS Data API driver): the deprovisioning ASL run in-process, its backup (encrypted on disk,
 * checksum verified), notices, access cut before the data goes, nothing of the tenant left behind,
 * the grace period and cancel, restore from the backup, schedules (once when due, across a restart,
 * never when cancelled), dry runs, the tenant directory, bad input and audit.
 */
import { createDecipheriv, createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeIdentifier } from "../../functions/db/sql.ts";
import { scheduledExecutionInput } from "../../functions/domain/scheduling/scheduler.ts";
import { DEPROVISIONING_STEPS } from "../../functions/workflows/step-catalog.ts";
import { expectApiError } from "../support/api-errors.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers, schemaOf, stepOf } from "../support/runs.ts";
import type { HttpResult, TestServer } from "../support/server.ts";
import { startTestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const PASSWORD = `Otter!Maple-${randomUUID().slice(0, 8)}-Harbour`;
const SERVER_ENV = {
  STEP_RETRY_INTERVAL_SECONDS: "1",
  STEP_RETRY_MAX_DELAY_SECONDS: "1",
  SCHEDULE_POLL_INTERVAL_MS: "200",
  OUTBOX_DRAIN_INTERVAL_MS: "200",
};

/** The error shape; a named field is also named in the message. */
function expectError(res: HttpResult<any>, status: number, field?: string): void {
  expectApiError(res, status, { field });
  if (field !== undefined) expect(res.body.error.message).toContain(field);
}

/** Helpers bound to one server: the shared run helpers and deprovisioning's own. */
function harness(server: () => TestServer) {
  const runs = runHelpers(server);
  const { rows, countOf } = runs;

  return {
    ...runs,
    schemaOf,
    async provisionTenant(
      template = "Basic School System",
    ): Promise<{ tenantId: string; adminEmail: string }> {
      const slug = `d-${randomUUID().slice(0, 8)}`;
      const body = provisionBody(slug, PASSWORD);
      const adminEmail = body.adminEmail as string;
      const run = await runs.settle((await runs.provision(template, body)).id);
      expect(run.status, JSON.stringify(run)).toBe("completed");
      return { tenantId: run.tenantId, adminEmail };
    },
    async tenantAdminKey(tenantId: string): Promise<string> {
      const res = await server().request("POST", `${API}/keys`, {
        body: { name: "tenant admin", role: "tenant_admin", tenantId },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.key;
    },
    async deprovision(tenantId: string, body: Record<string, unknown>): Promise<any> {
      const res = await server().request("POST", `${API}/tenants/${tenantId}/deprovision`, { body });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body;
    },
    /** Every table of the tenant's schema as the exact JSON of its rows (a stable order). */
    async schemaContent(tenantId: string): Promise<Record<string, string>> {
      const schema = schemaOf(tenantId);
      const tables = await rows<{ table_name: string }>(
        sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} AND table_type = 'BASE TABLE' ORDER BY table_name`,
      );
      const out: Record<string, string> = {};
      for (const { table_name } of tables) {
        const [r] = await rows<{ rows: string }>(
          sql.raw(
            `SELECT coalesce(json_agg(t ORDER BY t::text), '[]'::json)::text AS rows FROM ${safeIdentifier(schema)}.${safeIdentifier(table_name)} t`,
          ),
        );
        out[table_name] = r!.rows;
      }
      return out;
    },
    /** Rows of every control-plane table with a tenant_id column that name the tenant (non-zero only). */
    async rowsNamingTenant(tenantId: string): Promise<Record<string, number>> {
      const tables = await rows<{ table_name: string }>(
        sql`SELECT table_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
      );
      const out: Record<string, number> = {};
      for (const { table_name } of tables) {
        const n = await countOf(
          sql.raw(`SELECT count(*) AS n FROM ${safeIdentifier(table_name)} WHERE tenant_id = '${tenantId}'`),
        );
        if (n > 0) out[table_name] = n;
      }
      return out;
    },
  };
}

/** Decrypts a local backup file independently of the service's code (the documented format). */
function decryptBackupFile(dataDir: string, location: string): Buffer {
  const key = Buffer.from(readFileSync(join(dataDir, "backup.key"), "utf8").trim(), "base64");
  const file = readFileSync(join(dataDir, "backups", location));
  expect(file.subarray(0, 4).toString("ascii")).toBe("TPB1");
  const decipher = createDecipheriv("aes-256-gcm", key, file.subarray(4, 16));
  decipher.setAAD(Buffer.from(location, "utf8"));
  decipher.setAuthTag(file.subarray(16, 32));
  return Buffer.concat([decipher.update(file.subarray(32)), decipher.final()]);
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

// ---------------------------------------------------------------------------------------------

describe("deprovisioning", () => {
  let server: TestServer;
  const h = harness(() => server);

  beforeAll(async () => {
    server = await startTestServer({ env: SERVER_ENV });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("with gracePeriodHours 0 completes: backup verifies, users notified, access cut before the data goes, nothing left", async () => {
    // Prepare
    const { tenantId, adminEmail } = await h.provisionTenant();
    const key = await h.tenantAdminKey(tenantId);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key })).status).toBe(200);
    const emails = (
      await h.rows<{ email: string }>(
        sql`SELECT email FROM users WHERE tenant_id = ${tenantId}::uuid ORDER BY email`,
      )
    ).map((r) => r.email);
    expect(emails.length).toBeGreaterThan(1);
    const tablesBefore = Object.keys(await h.schemaContent(tenantId));

    // Act
    const started = await h.deprovision(tenantId, {
      notifyUsers: true,
      preserveBackups: true,
      gracePeriodHours: 0,
    });
    const run = await h.settle(started.id);

    // Assess: the run
    expect(started).toMatchObject({ kind: "deprovision", tenantId, totalSteps: DEPROVISIONING_STEPS.length });
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(run.steps.map((s: any) => [s.name, s.status])).toEqual(
      DEPROVISIONING_STEPS.map((s) => [s.name, "completed"]),
    );
    // Access was cut before the data went.
    expect(Date.parse(stepOf(run, "DisableAccess").completedAt)).toBeLessThanOrEqual(
      Date.parse(stepOf(run, "CleanupData").startedAt),
    );
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key })).status).toBe(401);

    // Assess: the backup exists, is encrypted on disk and its checksum verifies
    const backups = await server.request("GET", `${API}/tenants/${tenantId}/backups`);
    expect(backups.status).toBe(200);
    expect(backups.body.items).toHaveLength(1);
    const backup = backups.body.items[0];
    expect(backup).toMatchObject({ kind: "full", store: "local", preserved: true, deletedAt: null });
    expect(backup.encryption).toMatchObject({ algorithm: "AES-256-GCM" });
    const raw = readFileSync(join(server.dataDir, "backups", backup.location));
    expect(raw.includes(Buffer.from(adminEmail))).toBe(false);
    expect(() => gunzipSync(raw)).toThrow();
    const plain = decryptBackupFile(server.dataDir, backup.location);
    expect(sha256(plain)).toBe(backup.sha256);
    // A paged backup: the manifest (whose checksum is the backup's) lists every page with its own.
    const header = JSON.parse(gunzipSync(plain).toString("utf8"));
    expect(header).toMatchObject({ format: "tenant-backup", version: 3, tenantId, kind: "full" });
    expect(header.pages.length).toBeGreaterThan(5);
    let pageBytes = 0;
    for (const page of header.pages) {
      const rawPage = readFileSync(join(server.dataDir, "backups", page.location));
      expect(rawPage.includes(Buffer.from(adminEmail))).toBe(false);
      const plainPage = decryptBackupFile(server.dataDir, page.location);
      expect(sha256(plainPage)).toBe(page.sha256);
      pageBytes += plainPage.length;
    }
    expect(plain.length + pageBytes).toBe(backup.sizeBytes);
    expect(
      header.tables
        .filter((t: any) => t.section === "tenantSchema")
        .map((t: any) => t.table)
        .sort(),
    ).toEqual([...tablesBefore].sort());
    expect(statSync(join(server.dataDir, "backup.key")).mode & 0o777).toBe(0o600);

    // Assess: one notice per user
    const notices = await h.rows<{ recipient: string }>(
      sql`SELECT recipient FROM notifications_outbox WHERE progress_id = ${run.id}::uuid AND kind = 'deprovisioning_notice' ORDER BY recipient`,
    );
    expect(notices.map((n) => n.recipient)).toEqual(emails);

    // Assess: no schema, no row naming the tenant beyond its runs and the preserved backup, a tombstone
    expect(await h.schemaExists(tenantId)).toBe(false);
    // The lifecycle events stay: ids and statuses, the record of what happened (started and
    // completed twice, access disabled, deleted).
    expect(await h.rowsNamingTenant(tenantId)).toEqual({
      tenant_provisioning_progress: 2,
      tenant_backups: 1,
      event_outbox: 6,
    });
    const [tombstone] = await h.rows<Record<string, unknown>>(
      sql`SELECT slug, subdomain, name, status, settings::text AS settings FROM tenants WHERE id = ${tenantId}::uuid`,
    );
    expect(tombstone).toEqual({
      slug: null,
      subdomain: null,
      name: "(removed)",
      status: "deprovisioned",
      settings: "{}",
    });
    const runsText = await h.rows<{ m: string }>(
      sql`SELECT metadata::text AS m FROM tenant_provisioning_progress WHERE tenant_id = ${tenantId}::uuid`,
    );
    expect(runsText.some((r) => r.m.includes(adminEmail))).toBe(false);
  });

  it("preserveAuditLogs keeps and archives the audit logs; without preserveBackups the backup goes once the data is gone", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();

    // Act
    const started = await h.deprovision(tenantId, {
      preserveAuditLogs: true,
      preserveBackups: false,
      gracePeriodHours: 0,
    });
    const run = await h.settle(started.id);

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(stepOf(run, "NotifyUsers").status).toBe("skipped");
    const backups = (await server.request("GET", `${API}/tenants/${tenantId}/backups`)).body.items;
    const full = backups.find((b: any) => b.kind === "full");
    const archive = backups.find((b: any) => b.kind === "audit_logs");
    expect(full.deletedAt).not.toBeNull();
    expect(existsSync(join(server.dataDir, "backups", full.location))).toBe(false);
    expect(archive).toMatchObject({ preserved: true, deletedAt: null });
    const kept = await h.rows<{ action: string }>(
      sql`SELECT action FROM audit_logs WHERE tenant_id = ${tenantId}::uuid ORDER BY created_at`,
    );
    expect(kept.map((a) => a.action)).toEqual(
      expect.arrayContaining(["provision.start", "deprovision.start"]),
    );
    const archived = gunzipSync(decryptBackupFile(server.dataDir, archive.location))
      .toString("utf8")
      .split("\n");
    expect(sha256(decryptBackupFile(server.dataDir, archive.location))).toBe(archive.sha256);
    expect(JSON.parse(archived[0]!).tables).toEqual([
      expect.objectContaining({ table: "audit_logs", rows: kept.length }),
    ]);
    expect(await h.rowsNamingTenant(tenantId)).toEqual({
      audit_logs: kept.length,
      tenant_backups: 2,
      tenant_provisioning_progress: 2,
      event_outbox: 6,
    });
    // The deprovisioning was audited with its options.
    const [start] = await h.rows<{ details: unknown }>(
      sql`SELECT details FROM audit_logs WHERE tenant_id = ${tenantId}::uuid AND action = 'deprovision.start'`,
    );
    expect(JSON.stringify(start!.details)).toContain("preserveAuditLogs");
    // Neither the deleted backup nor the audit-log archive can restore the tenant.
    for (const backupId of [full.id, archive.id]) {
      const res = await server.request("POST", `${API}/tenants/${tenantId}/restore`, { body: { backupId } });
      expectError(res, 409);
    }
  });

  it("restoring from the backup gives back the tenant with identical row counts and content", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant("School District");
    const key = await h.tenantAdminKey(tenantId);
    const content = await h.schemaContent(tenantId);
    const snapshot = async () => ({
      tenant: (
        await h.rows<{ t: string }>(
          sql`SELECT (to_jsonb(t) - 'updated_at')::text AS t FROM tenants t WHERE id = ${tenantId}::uuid`,
        )
      )[0]!.t,
      users: (
        await h.rows<{ u: string }>(
          sql`SELECT json_agg(u ORDER BY u.id)::text AS u FROM users u WHERE tenant_id = ${tenantId}::uuid`,
        )
      )[0]!.u,
      // Keys come back revoked (the next test): compared without revoked_at.
      keys: (
        await h.rows<{ k: string }>(
          sql`SELECT json_agg(to_jsonb(k) - 'revoked_at' ORDER BY k.id)::text AS k FROM api_keys k WHERE tenant_id = ${tenantId}::uuid`,
        )
      )[0]!.k,
    });
    const before = await snapshot();
    expect(Object.keys(content).length).toBeGreaterThan(5);
    const run = await h.settle((await h.deprovision(tenantId, { gracePeriodHours: 0 })).id);
    expect(run.status).toBe("completed");
    const [backup] = (await server.request("GET", `${API}/tenants/${tenantId}/backups`)).body.items;

    // Act
    const res = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    const restore = await h.settle(res.body.id);

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ kind: "restore", tenantId });
    expect(restore.status, JSON.stringify(restore)).toBe("completed");
    expect(restore.steps.map((s: any) => s.status)).toEqual(["completed", "completed"]);
    expect(await h.schemaContent(tenantId)).toEqual(content);
    expect(await snapshot()).toEqual(before);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`)).status).toBe(200);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key })).status).toBe(401);
    const again = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    expectError(again, 409);
    const audited = await h.countOf(
      sql`SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ${tenantId}::uuid AND action = 'tenant.restore'`,
    );
    expect(audited).toBe(1);
  });

  it("a restored tenant's API keys stay revoked, and the restore run lists them", async () => {
    // Prepare: two tenant_admin keys, one already revoked before the deprovisioning
    const { tenantId } = await h.provisionTenant();
    const active = await h.tenantAdminKey(tenantId);
    const retired = await server.request("POST", `${API}/keys`, {
      body: { name: "retired", role: "tenant_admin", tenantId },
    });
    await server.request("DELETE", `${API}/keys/${retired.body.id}`);
    const activeId = (await server.request("GET", `${API}/keys`)).body.items.find(
      (k: any) => k.tenantId === tenantId,
    ).id;
    await h.settle((await h.deprovision(tenantId, { preserveBackups: true, gracePeriodHours: 0 })).id);
    const [backup] = (await server.request("GET", `${API}/tenants/${tenantId}/backups`)).body.items;

    // Act
    const res = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    const restore = await h.settle(res.body.id);

    // Assess
    expect(restore.status, JSON.stringify(restore)).toBe("completed");
    expect(restore.metadata.revokedApiKeys).toEqual([activeId]);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key: active })).status).toBe(401);
    const keys = (await server.request("GET", `${API}/keys?includeRevoked=true`)).body.items.filter(
      (k: any) => k.tenantId === tenantId,
    );
    expect(keys).toHaveLength(2);
    for (const k of keys) expect(k.revokedAt, k.name).not.toBeNull();
    const fresh = await h.tenantAdminKey(tenantId);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key: fresh })).status).toBe(200);
  });

  it("a restore whose slug or subdomain another tenant has taken since is a 409 when requested, changing nothing", async () => {
    // Prepare: tenants A and D deprovisioned (their names freed); then a new tenant takes A's slug
    // and subdomain, and another one only D's subdomain
    const a = await h.provisionTenant();
    const d = await h.provisionTenant();
    const names = async (tenantId: string) =>
      (await server.request("GET", `${API}/tenants/${tenantId}`)).body as { slug: string; subdomain: string };
    const aNames = await names(a.tenantId);
    const dNames = await names(d.tenantId);
    await h.settle((await h.deprovision(a.tenantId, { preserveBackups: true, gracePeriodHours: 0 })).id);
    await h.settle((await h.deprovision(d.tenantId, { preserveBackups: true, gracePeriodHours: 0 })).id);
    const templates = await server.request("GET", `${API}/templates?limit=50`);
    const templateId = templates.body.items.find((t: any) => t.name === "Basic School System").id;
    const reuse = async (body: Record<string, unknown>) => {
      const started = await server.request("POST", `${API}/templates/${templateId}/provision`, { body });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      expect((await h.settle(started.body.id)).status).toBe("completed");
    };
    await reuse(provisionBody(aNames.slug, PASSWORD));
    const otherSlug = `r-${randomUUID().slice(0, 8)}`;
    await reuse(provisionBody(otherSlug, PASSWORD, { subdomain: dNames.subdomain }));
    const backupOf = async (tenantId: string) =>
      (await server.request("GET", `${API}/tenants/${tenantId}/backups`)).body.items[0];
    const runsBefore = await h.countOf(sql`SELECT count(*) AS n FROM tenant_provisioning_progress`);

    // Act
    const slugTaken = await server.request("POST", `${API}/tenants/${a.tenantId}/restore`, {
      body: { backupId: (await backupOf(a.tenantId)).id },
    });
    const subdomainTaken = await server.request("POST", `${API}/tenants/${d.tenantId}/restore`, {
      body: { backupId: (await backupOf(d.tenantId)).id },
    });

    // Assess
    expectError(slugTaken, 409, "slug");
    expect(slugTaken.body.error.details.fields.map((f: any) => f.field)).toEqual(["slug", "subdomain"]);
    expectError(subdomainTaken, 409, "subdomain");
    expect(subdomainTaken.body.error.details.fields.map((f: any) => f.field)).toEqual(["subdomain"]);
    expect(await h.countOf(sql`SELECT count(*) AS n FROM tenant_provisioning_progress`)).toBe(runsBefore);
    for (const tenantId of [a.tenantId, d.tenantId]) {
      const [tenant] = await h.rows<{ status: string }>(
        sql`SELECT status FROM tenants WHERE id = ${tenantId}::uuid`,
      );
      expect(tenant!.status).toBe("deprovisioned");
      expect(await h.schemaExists(tenantId)).toBe(false);
    }
  });

  it("a restore fails without changing anything when the backup file was tampered with", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    await h.settle((await h.deprovision(tenantId, { gracePeriodHours: 0 })).id);
    const [backup] = (await server.request("GET", `${API}/tenants/${tenantId}/backups`)).body.items;
    const path = join(server.dataDir, "backups", backup.location);
    const bytes = readFileSync(path);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    const { writeFileSync } = await import("node:fs");
    writeFileSync(path, bytes);

    // Act
    const res = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    const run = await h.settle(res.body.id);

    // Assess
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/VerifyBackup failed: .*failed to decrypt/);
    expect(await h.schemaExists(tenantId)).toBe(false);
    const [tenant] = await h.rows<{ status: string }>(
      sql`SELECT status FROM tenants WHERE id = ${tenantId}::uuid`,
    );
    expect(tenant!.status).toBe("deprovisioned");
  });

  it("a dry run reports row counts and the backup size, and changes nothing", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    const content = await h.schemaContent(tenantId);
    const users = await h.countOf(sql`SELECT count(*) AS n FROM users WHERE tenant_id = ${tenantId}::uuid`);
    const totals = async () =>
      h.rows(
        sql`SELECT (SELECT count(*) FROM tenant_provisioning_progress) AS runs, (SELECT count(*) FROM audit_logs) AS audit,
                   (SELECT count(*) FROM tenant_backups) AS backups, (SELECT count(*) FROM scheduled_operations) AS schedules,
                   (SELECT status FROM tenants WHERE id = ${tenantId}::uuid) AS status,
                   (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL) AS keys`,
      );
    const before = await totals();

    // Act
    const res = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { dryRun: true, preserveAuditLogs: true },
    });

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ dryRun: true, tenantId, schemaExists: true });
    expect(res.body.wouldRemove.controlPlane).toMatchObject({ users, tenants: 1 });
    expect(res.body.wouldKeep.audit_logs).toBeGreaterThan(0);
    for (const [table, json] of Object.entries(content)) {
      expect(res.body.wouldRemove.tenantSchema[table], table).toBe(JSON.parse(json).length);
    }
    expect(res.body.backupEstimate.compressedBytes).toBeGreaterThan(0);
    expect(res.body.backupEstimate.uncompressedBytes).toBeGreaterThan(
      res.body.backupEstimate.compressedBytes,
    );
    expect(await totals()).toEqual(before);
    expect(await h.schemaContent(tenantId)).toEqual(content);
    expect(existsSync(join(server.dataDir, "backups", tenantId))).toBe(false);
  });

  it("a dry run's counts are exactly what the run then removes", async () => {
    // Prepare: a tenant with rows in every table its removal touches
    const { tenantId } = await h.provisionTenant("Municipality");
    await h.tenantAdminKey(tenantId);
    await server.database.db.execute(
      sql`INSERT INTO alerts (kind, severity, dedupe_key, subject_type, subject_id, tenant_id, message)
          VALUES ('tenant_over_limit', 'warning', ${`test:${tenantId}`}, 'tenant', ${tenantId}, ${tenantId}::uuid, 'test')`,
    );
    const options = {
      notifyUsers: true,
      preserveBackups: true,
      preserveAuditLogs: true,
      gracePeriodHours: 0,
    };
    const dry = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { ...options, dryRun: true },
    });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);

    // Act
    const run = await h.settle((await h.deprovision(tenantId, options)).id);

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    const removed = run.metadata.removed;
    expect(removed.controlPlane).toEqual(dry.body.wouldRemove.controlPlane);
    expect(removed.tenantSchema).toEqual(dry.body.wouldRemove.tenantSchema);
    expect(removed.schema).toBe(dry.body.schema);
    // Not a comparison of zeros: the tenant had rows in these tables.
    expect(removed.controlPlane).toMatchObject({
      users: expect.any(Number),
      api_keys: 1,
      alerts: 1,
      tenants: 1,
    });
    expect(removed.controlPlane.users).toBeGreaterThan(1);
    expect(removed.controlPlane.notifications_outbox).toBeGreaterThan(0);
    expect(Object.values(removed.tenantSchema as Record<string, number>).some((n) => n > 0)).toBe(true);
    expect(dry.body.wouldKeep.audit_logs).toBeGreaterThan(0);
  });

  it("rejects bad input with a 4xx naming the problem, changing nothing", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    const runs = () => h.countOf(sql`SELECT count(*) AS n FROM tenant_provisioning_progress`);
    const schedules = () => h.countOf(sql`SELECT count(*) AS n FROM scheduled_operations`);
    const [runsBefore, schedulesBefore] = [await runs(), await schedules()];
    const deprovision = (body: unknown, id = tenantId, key?: string) =>
      server.request("POST", `${API}/tenants/${id}/deprovision`, { body, ...(key ? { key } : {}) });
    const schedule = (body: unknown, id = tenantId) =>
      server.request("POST", `${API}/tenants/${id}/schedule-deprovision`, { body });
    const soon = new Date(Date.now() + 3600_000).toISOString();

    // Act + Assess
    expectError(await deprovision({ gracePeriodHours: -1 }), 400, "gracePeriodHours");
    expectError(await deprovision({ gracePeriodHours: 8761 }), 400, "gracePeriodHours");
    expectError(await deprovision({ gracePeriodHours: "24" }), 400, "gracePeriodHours");
    expectError(await deprovision({ preserveBackups: true, keepEverything: true }), 400, "keepEverything");
    expectError(await deprovision({ notifyUsers: "yes" }), 400, "notifyUsers");
    expectError(await deprovision(undefined), 400);
    expectError(await deprovision({}, randomUUID()), 404);
    expectError(await deprovision({}, "not-a-uuid"), 404);
    expectError(await deprovision({}, tenantId, await h.tenantAdminKey(tenantId)), 403);
    expectError(await schedule({ at: new Date(Date.now() - 60_000).toISOString() }), 400, "at");
    expectError(await schedule({ at: "tomorrow" }), 400, "at");
    expectError(await schedule({ gracePeriodHours: 1 }), 400, "at");
    expectError(await schedule({ at: soon, gracePeriodHours: 9000 }), 400, "gracePeriodHours");
    expectError(await schedule({ at: soon, extra: 1 }), 400, "extra");
    expectError(await schedule({ at: soon }, randomUUID()), 404);
    expectError(
      await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
        body: { backupId: randomUUID() },
      }),
      404,
    );
    expectError(
      await server.request("POST", `${API}/tenants/${tenantId}/restore`, { body: { backupId: "x" } }),
      400,
      "backupId",
    );
    expectError(await server.request("DELETE", `${API}/schedules/${randomUUID()}`), 404);
    expect(await runs()).toBe(runsBefore);
    expect(await schedules()).toBe(schedulesBefore);
    const [tenant] = await h.rows<{ status: string }>(
      sql`SELECT status FROM tenants WHERE id = ${tenantId}::uuid`,
    );
    expect(tenant!.status).toBe("active");
  });

  it("409s for a tenant that is provisioning, already deprovisioning or deprovisioned", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    const templates = await server.request("GET", `${API}/templates?limit=50`);
    const basic = templates.body.items.find((t: any) => t.name === "Basic School System").id;
    const slug = `p-${randomUUID().slice(0, 8)}`;
    const provisioning = await server.request("POST", `${API}/templates/${basic}/provision`, {
      body: {
        slug,
        name: slug,
        subdomain: slug,
        adminName: "A",
        adminEmail: `a@${slug}.example.org`,
        adminPassword: PASSWORD,
      },
    });

    // Act
    const whileProvisioning = await server.request(
      "POST",
      `${API}/tenants/${provisioning.body.tenantId}/deprovision`,
      { body: {} },
    );
    const first = await h.deprovision(tenantId, { gracePeriodHours: 0 });
    const second = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, { body: {} });
    await h.settle(first.id);
    await h.settle(provisioning.body.id);
    const third = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, { body: {} });
    const scheduled = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: new Date(Date.now() + 3600_000).toISOString() },
    });

    // Assess
    expectError(whileProvisioning, 409);
    expect(whileProvisioning.body.error.message).toMatch(/provision/);
    expectError(second, 409);
    expect(second.body.error.message).toMatch(/already being deprovisioned/);
    expectError(third, 409);
    expect(third.body.error.message).toMatch(/already deprovisioned/);
    expectError(scheduled, 409);
  });

  it("lists tenants with a status filter and pagination, and shows one with its template and last run", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant("School District");
    const other = await h.provisionTenant();
    const key = await h.tenantAdminKey(tenantId);

    // Act
    const active = await server.request("GET", `${API}/tenants?status=active&limit=1`);
    const page2 = await server.request("GET", `${API}/tenants?status=active&limit=1&offset=1`);
    const one = await server.request("GET", `${API}/tenants/${tenantId}`);
    const own = await server.request("GET", `${API}/tenants/${tenantId}`, { key });
    const others = await server.request("GET", `${API}/tenants/${other.tenantId}`, { key });
    const scoped = await server.request("GET", `${API}/tenants`, { key });
    const bad = await server.request("GET", `${API}/tenants?status=sleeping`);

    // Assess
    expect(active.status).toBe(200);
    expect(active.body.items).toHaveLength(1);
    expect(active.body.total).toBeGreaterThanOrEqual(2);
    expect(page2.body.items[0].id).not.toBe(active.body.items[0].id);
    expect(one.body).toMatchObject({
      id: tenantId,
      status: "active",
      template: { name: "School District", version: 1 },
      lastRun: { kind: "provision", status: "completed" },
    });
    expect(one.body.limits.maxUsers).toBeGreaterThan(0);
    expect(one.body.users).toBeGreaterThan(1);
    expect(own.status).toBe(200);
    expectError(others, 404);
    expect(scoped.body.items.map((t: any) => t.id)).toEqual([tenantId]);
    expectError(bad, 400, "status");
  });
});

describe("deprovisioning with a grace period", () => {
  let server: TestServer;
  const h = harness(() => server);

  beforeAll(async () => {
    // Every Wait lasts ten minutes: the grace period is still running whenever the test looks.
    server = await startTestServer({ env: SERVER_ENV, waitTimeOverrideMs: 600_000 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("keeps the data while access is cut; cancelling then gives access back as it was", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    const key = await h.tenantAdminKey(tenantId);
    const revokedKey = await h.tenantAdminKey(tenantId);
    await server.request(
      "DELETE",
      `${API}/keys/${(await server.request("GET", `${API}/keys`)).body.items.find((k: any) => revokedKey.startsWith(k.prefix)).id}`,
    );
    const content = await h.schemaContent(tenantId);
    const users = await h.rows<{ id: string; status: string }>(
      sql`SELECT id, status FROM users WHERE tenant_id = ${tenantId}::uuid ORDER BY id`,
    );

    // Act: deprovision with a grace period, wait until access is disabled
    const started = await h.deprovision(tenantId, { gracePeriodHours: 48, preserveBackups: true });
    const waiting = await until(
      "access to be disabled",
      () => h.progressOf(started.id),
      (p) => stepOf(p, "DisableAccess").status === "completed",
    );

    // Assess: during the grace period
    expect(waiting.status).toBe("running");
    expect(stepOf(waiting, "CleanupData").status).toBe("pending");
    const access = waiting.metadata.access;
    expect(Date.parse(access.deleteAfter) - Date.parse(access.disabledAt)).toBeGreaterThanOrEqual(
      48 * 3600_000,
    );
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key })).status).toBe(401);
    expect(await h.schemaContent(tenantId)).toEqual(content);
    const [suspended] = await h.rows<{ status: string }>(
      sql`SELECT status FROM tenants WHERE id = ${tenantId}::uuid`,
    );
    expect(suspended!.status).toBe("suspended");
    expect(
      await h.countOf(
        sql`SELECT count(*) AS n FROM users WHERE tenant_id = ${tenantId}::uuid AND status <> 'disabled'`,
      ),
    ).toBe(0);
    expectError(await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, { body: {} }), 409);

    // Act: cancel
    const cancelled = await server.request("POST", `${API}/progress/${started.id}/cancel`);
    await server.app.workflows.idle();

    // Assess: access is back as it was; the data never went
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect(cancelled.body.warnings.map((w: any) => w.code)).toContain("access_restored");
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key })).status).toBe(200);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`, { key: revokedKey })).status).toBe(401);
    const [tenant] = await h.rows<{ status: string }>(
      sql`SELECT status FROM tenants WHERE id = ${tenantId}::uuid`,
    );
    expect(tenant!.status).toBe("active");
    expect(
      await h.rows<{ id: string; status: string }>(
        sql`SELECT id, status FROM users WHERE tenant_id = ${tenantId}::uuid ORDER BY id`,
      ),
    ).toEqual(users);
    expect(await h.schemaContent(tenantId)).toEqual(content);
    expect((await h.progressOf(started.id)).status).toBe("cancelled");
    expectError(await server.request("POST", `${API}/progress/${started.id}/recover`), 409);
    expectError(await server.request("POST", `${API}/progress/${started.id}/steps/cleanup-data/retry`), 409);
  });

  it("a deprovisioning requested now cancels the tenant's pending schedule", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    const scheduled = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: new Date(Date.now() + 3600_000).toISOString() },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);

    // Act
    const started = await h.deprovision(tenantId, { gracePeriodHours: 1 });
    const schedules = await server.request("GET", `${API}/schedules?tenantId=${tenantId}`);
    await server.request("POST", `${API}/progress/${started.id}/cancel`);
    await server.app.workflows.idle();

    // Assess
    expect(schedules.body.items).toEqual([
      expect.objectContaining({
        id: scheduled.body.id,
        status: "cancelled",
        error: `superseded by deprovisioning run ${started.id}`,
      }),
    ]);
  });
});

describe("scheduled deprovisioning", () => {
  let server: TestServer;
  const h = harness(() => server);
  /** How far the service's clock runs ahead of real time (the poller reads the same clock). */
  let clockAheadMs = 0;

  beforeAll(async () => {
    server = await startTestServer({ env: SERVER_ENV, clock: () => new Date(Date.now() + clockAheadMs) });
  });

  afterAll(async () => {
    await server?.close();
  });

  const scheduleAt = async (tenantId: string, at: Date, body: Record<string, unknown> = {}) => {
    const res = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: at.toISOString(), ...body },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const scheduleOf = async (id: string) =>
    (await server.request("GET", `${API}/schedules?limit=200`)).body.items.find((s: any) => s.id === id);
  const deprovisionRuns = async (tenantId: string) =>
    (await server.request("GET", `${API}/progress?tenantId=${tenantId}&kind=deprovision`)).body;

  it("runs once when due, even when started again", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    const schedule = await scheduleAt(tenantId, new Date(Date.now() + 2000), {
      notifyUsers: true,
      gracePeriodHours: 0,
    });
    expect(schedule).toMatchObject({ status: "scheduled", tenantId, externalRef: `local:${schedule.id}` });
    expect(schedule.options).toEqual({
      notifyUsers: true,
      preserveAuditLogs: false,
      preserveBackups: true,
      gracePeriodHours: 0,
    });

    // Act
    const started = await until(
      "the schedule to start",
      () => scheduleOf(schedule.id),
      (s) => s.status !== "scheduled",
    );
    const run = await h.settle(started.progressId);
    // A second start of the same schedule (another poller, EventBridge redelivering) starts nothing.
    await server.app.workflows.start("deprovisioning", "again", scheduledExecutionInput(schedule.id));
    await server.app.workflows.idle();
    await server.app.schedulePoller.poll();
    await server.app.workflows.idle();

    // Assess
    expect(started.status).toBe("started");
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(run.metadata.scheduledOperationId).toBe(schedule.id);
    // The schedule is still listed once it has run, naming its run.
    expect(await scheduleOf(schedule.id)).toMatchObject({ status: "started", progressId: run.id, tenantId });
    expect(stepOf(run, "NotifyUsers").status).toBe("completed");
    expect((await deprovisionRuns(tenantId)).total).toBe(1);
    const [tenant] = await h.rows<{ status: string }>(
      sql`SELECT status FROM tenants WHERE id = ${tenantId}::uuid`,
    );
    expect(tenant!.status).toBe("deprovisioned");
  });

  it("a cancelled schedule never runs", async () => {
    // Prepare: due in an hour, so no poll can start it before it is cancelled, however slow the machine.
    const { tenantId } = await h.provisionTenant();
    const schedule = await scheduleAt(tenantId, new Date(Date.now() + 3600_000));
    const duplicate = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: new Date(Date.now() + 7200_000).toISOString() },
    });

    // Act: cancel it, then move the service's clock past its due time and poll.
    const cancelled = await server.request("DELETE", `${API}/schedules/${schedule.id}`);
    clockAheadMs = 2 * 3600_000;
    try {
      expect(await server.app.schedulePoller.poll()).not.toContain(schedule.id);
    } finally {
      clockAheadMs = 0;
    }
    await server.app.workflows.start("deprovisioning", "forced", scheduledExecutionInput(schedule.id));
    await server.app.workflows.idle();

    // Assess
    expectError(duplicate, 409);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect((await scheduleOf(schedule.id)).status).toBe("cancelled");
    expect((await deprovisionRuns(tenantId)).total).toBe(0);
    const [tenant] = await h.rows<{ status: string }>(
      sql`SELECT status FROM tenants WHERE id = ${tenantId}::uuid`,
    );
    expect(tenant!.status).toBe("active");
    expectError(await server.request("DELETE", `${API}/schedules/${schedule.id}`), 409);
    const audit = await h.rows<{ action: string }>(
      sql`SELECT action FROM audit_logs WHERE target_id = ${schedule.id} ORDER BY created_at`,
    );
    expect(audit.map((a) => a.action)).toEqual(["deprovision.schedule", "schedule.cancel"]);
  });

  it("lists schedules newest first with filters", async () => {
    // Prepare
    const { tenantId } = await h.provisionTenant();
    const schedule = await scheduleAt(tenantId, new Date(Date.now() + 3600_000));

    // Act
    const all = await server.request("GET", `${API}/schedules?tenantId=${tenantId}`);
    const waiting = await server.request("GET", `${API}/schedules?status=scheduled&tenantId=${tenantId}`);
    const none = await server.request("GET", `${API}/schedules?status=failed&tenantId=${tenantId}`);
    const bad = await server.request("GET", `${API}/schedules?status=later`);
    await server.request("DELETE", `${API}/schedules/${schedule.id}`);

    // Assess
    expect(all.body).toMatchObject({ total: 1, items: [{ id: schedule.id }] });
    expect(waiting.body.total).toBe(1);
    expect(none.body.total).toBe(0);
    expectError(bad, 400, "status");
  });
});

describe("scheduled deprovisioning across a restart", () => {
  let first: TestServer | undefined;
  let second: TestServer | undefined;

  afterAll(async () => {
    await second?.close();
    if (!second) await first?.close();
  });

  it("runs a schedule that fell due while the server was down, once", async () => {
    // Prepare
    first = await startTestServer({ env: SERVER_ENV });
    const h1 = harness(() => first!);
    const { tenantId } = await h1.provisionTenant();
    const at = new Date(Date.now() + 2500);
    const res = await first.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: at.toISOString(), gracePeriodHours: 0, preserveBackups: false },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await first.stop();
    await until(
      "the due time to pass",
      async () => Date.now(),
      (now) => now > at.getTime() + 300,
    );

    // Act
    second = await startTestServer({ env: SERVER_ENV, restartOf: first });
    const h2 = harness(() => second!);
    const started = await until(
      "the schedule to start",
      async () => (await second!.request("GET", `${API}/schedules?tenantId=${tenantId}`)).body.items[0],
      (s) => s.status !== "scheduled",
    );
    const run = await h2.settle(started.progressId);
    await second.app.schedulePoller.poll();
    await second.app.workflows.idle();

    // Assess
    expect(started.status).toBe("started");
    expect(run.status, JSON.stringify(run)).toBe("completed");
    const runs = await second.request("GET", `${API}/progress?tenantId=${tenantId}&kind=deprovision`);
    expect(runs.body.total).toBe(1);
    expect(await h2.schemaExists(tenantId)).toBe(false);
    expect(readdirSync(join(second.dataDir, "backups", tenantId))).toEqual([]);
  });
});
