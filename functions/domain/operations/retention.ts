/**
 * Retention: finished progress records (completed, failed, cancelled) older than the retention
 * age are deleted. Age counts from completed_at, or updated_at for a record finished without one.
 * Audit logs are a separate table and stay; so do alerts about the deleted runs.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { numberValue, queryRows } from "../../db/sql.ts";
import { utcTimestamp } from "./stats.ts";

export interface RetentionOptions {
  readonly now: Date;
  readonly retentionDays: number;
  /** Records deleted per statement, so that no statement holds many row locks for long. */
  readonly batchSize?: number;
  /** Statements per sweep at most; a larger backlog is finished by the following sweeps. */
  readonly maxBatches?: number;
}

/** Deletes expired finished records; returns how many. */
export async function deleteExpiredProgress(db: Database, options: RetentionOptions): Promise<number> {
  const { now, retentionDays, batchSize = 5000, maxBatches = 20 } = options;
  const cutoff = utcTimestamp(new Date(now.getTime() - retentionDays * 86_400_000));
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    // Two index range scans on (status, completed_at) rather than one OR the planner cannot use.
    const rows = await queryRows<{ n: unknown }>(
      db,
      sql`
      WITH expired AS (
        (SELECT p.id FROM tenant_provisioning_progress p
         WHERE p.status IN ('completed', 'failed', 'cancelled') AND p.completed_at < ${cutoff}
         LIMIT ${batchSize}::integer)
        UNION ALL
        (SELECT p.id FROM tenant_provisioning_progress p
         WHERE p.status IN ('completed', 'failed', 'cancelled') AND p.completed_at IS NULL
           AND p.updated_at < ${cutoff}
         LIMIT ${batchSize}::integer)
        LIMIT ${batchSize}::integer
      ),
      gone AS (
        DELETE FROM tenant_provisioning_progress p USING expired e WHERE p.id = e.id RETURNING 1
      )
      SELECT count(*) AS n FROM gone`,
    );
    const n = numberValue(rows[0]?.n);
    deleted += n;
    if (n < batchSize) break;
  }
  return deleted;
}
