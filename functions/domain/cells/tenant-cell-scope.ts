/**
 * Where a step's work on a tenant's schema goes, for work that is more than statements (backups,
 * restores, clean-ups; `AtomicStatement.cell` covers statement-only steps). For a tenant on `main`
 * the schema is in the control-plane database: its work runs on the step's own transaction, so it
 * commits with the completion mark exactly as it always did, with no call more. For a tenant on
 * another cell the two cannot share a transaction: each piece of schema work runs first, in a cell
 * transaction of its own that also records a mark in `cell_step_marks` (at most once per run, step
 * and action, like `runCellWork`), and the control-plane writes and the completion mark follow. An
 * attempt whose control-plane part failed after its cell part committed finds that part done and
 * does not repeat it (no row restored twice, no "schema exists" on a retry).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { queryRows } from "../../db/sql.ts";
import { getProgressRow } from "../runs/progress-store.ts";
import {
  type Cell,
  type CellDirectory,
  type CellWorkKey,
  CONTROL_PLANE_CELL,
  cellsOf,
} from "./cell-directory.ts";

export interface TenantCellScope {
  /** The database holding the tenant's schema: the step's transaction on `main`, the cell's otherwise. */
  readonly db: Database;
  /** Whether `db` is the control plane's (the schema work commits with the control-plane writes). */
  readonly isControlPlane: boolean;
  /**
   * Runs `work` on the schema's database: on `main` in the step's transaction; on another cell in
   * a cell transaction that does it at most once for this run, step and `action`.
   */
  once(action: string, work: (db: Database) => Promise<void>): Promise<void>;
}

/** The control plane's own scope: everything on `tx` (a tenant on `main`, or no cells at all). */
export function controlPlaneScope(tx: Database): TenantCellScope {
  return { db: tx, isControlPlane: true, once: (_action, work) => work(tx) };
}

/** The scope of a step of run `key` (its progress id, tenant and step) on the tenant's `cell`. */
export function tenantCellScope(
  tx: Database,
  cell: Cell,
  key: Omit<CellWorkKey, "action">,
  lockTimeoutMs: number,
): TenantCellScope {
  if (cell.isControlPlane) return controlPlaneScope(tx);
  return {
    db: cell.db,
    isControlPlane: false,
    once: (action, work) => onceOnCell(cell.db, { ...key, action }, work, lockTimeoutMs),
  };
}

/**
 * `work` in one transaction on a cell (not `main`) with its mark in `cell_step_marks`, under an
 * advisory lock on the key (a second execution waits, then finds the mark): done at most once.
 */
export async function onceOnCell(
  db: Database,
  key: CellWorkKey,
  work: (tx: Database) => Promise<void>,
  lockTimeoutMs: number,
): Promise<void> {
  const action = key.action ?? "";
  await db.transaction(async (tx) => {
    await tx.execute(
      sql`SELECT set_config('lock_timeout', ${`${Math.max(1, Math.floor(lockTimeoutMs))}ms`}, true)`,
    );
    await tx.execute(
      sql`SELECT pg_advisory_xact_lock(hashtextextended(${`${key.progressId}/${key.step}/${action}`}, 0))`,
    );
    const done = await queryRows(
      tx,
      sql`SELECT 1 AS one FROM cell_step_marks WHERE progress_id = ${key.progressId}::uuid AND step = ${key.step}
          AND action = ${action}`,
    );
    if (done.length > 0) return;
    await work(tx);
    await tx.execute(
      sql`INSERT INTO cell_step_marks (progress_id, step, action, tenant_id)
          VALUES (${key.progressId}::uuid, ${key.step}, ${action}, ${key.tenantId}::uuid)`,
    );
  });
}

/**
 * The cell of a run's tenant, looked up BEFORE a step's transaction opens: the lookup reads the
 * control plane on a connection of its own, which an embedded single-connection database (PGlite)
 * could not serve while that transaction holds it. Without cells it is `main` and costs no call.
 * Null when the run names no tenant.
 */
export async function cellOfRun(
  deps: { readonly db: Database; readonly cells?: CellDirectory | undefined },
  progressId: string,
): Promise<Cell | null> {
  const cells = cellsOf(deps);
  if (cells.single) return cells.cell(CONTROL_PLANE_CELL);
  const run = await getProgressRow(deps.db, progressId);
  return run?.tenantId ? cells.forTenant(run.tenantId) : null;
}
