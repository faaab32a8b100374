/**
 * `progress_run_facts` (migrations/0014_scale_counts.sql), what statistics and the sweep's template
 * check read of each run, holds exactly what the progress table holds: kept by triggers through
 * inserts, updates that change a run's status or times, updates that change only its steps,
 * deletes and truncation.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../../functions/db/sql.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;

const COLUMNS =
  sql.raw(`id::text AS id, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') AS created_at, kind, status,
  template_id::text AS template_id, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS') AS started_at,
  to_char(completed_at, 'YYYY-MM-DD HH24:MI:SS') AS completed_at`);

/** Both tables' rows, by id. */
async function bothTables() {
  const progress = await queryRows(
    t.db,
    sql`SELECT ${COLUMNS} FROM tenant_provisioning_progress ORDER BY id`,
  );
  const facts = await queryRows(t.db, sql`SELECT ${COLUMNS} FROM progress_run_facts ORDER BY id`);
  return { progress, facts };
}

beforeAll(async () => {
  t = await openTestDatabase();
});

afterAll(async () => {
  await t?.destroy();
});

describe("progress_run_facts", () => {
  it("follows the progress table through inserts, updates, deletes and truncation", async () => {
    // Prepare: three runs, one without a created_at.
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await t.db.execute(sql`
      INSERT INTO tenant_provisioning_progress (id, kind, status, created_at) VALUES
        (${a}::uuid, 'provision', 'pending', '2026-03-01 10:00:00'),
        (${b}::uuid, 'deprovision', 'running', '2026-03-01 11:00:00'),
        (${c}::uuid, 'provision', 'pending', NULL)`);
    const inserted = await bothTables();

    // Act: a run starts and completes; another's steps change only; one is deleted.
    await t.db.execute(sql`
      UPDATE tenant_provisioning_progress SET status = 'running', started_at = '2026-03-01 10:00:01'
      WHERE id = ${a}::uuid`);
    await t.db.execute(sql`
      UPDATE tenant_provisioning_progress SET status = 'completed', completed_at = '2026-03-01 10:00:09'
      WHERE id = ${a}::uuid`);
    await t.db.execute(sql`
      UPDATE tenant_provisioning_progress SET steps = '[{"name": "CreateTenant", "status": "completed"}]'::jsonb,
             current_step = 'CreateTenant'
      WHERE id = ${b}::uuid`);
    await t.db.execute(sql`DELETE FROM tenant_provisioning_progress WHERE id = ${c}::uuid`);
    const updated = await bothTables();
    await t.db.execute(sql`TRUNCATE tenant_provisioning_progress CASCADE`);
    const truncated = await bothTables();

    // Assess
    expect(inserted.facts).toEqual(inserted.progress);
    expect(inserted.facts).toHaveLength(3);
    expect(updated.facts).toEqual(updated.progress);
    expect(updated.facts.find((r) => r.id === a)).toMatchObject({
      status: "completed",
      started_at: "2026-03-01 10:00:01",
      completed_at: "2026-03-01 10:00:09",
    });
    expect(updated.facts.map((r) => r.id)).not.toContain(c);
    expect(truncated.facts).toEqual([]);
  });
});
