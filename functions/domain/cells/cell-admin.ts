/**
 * Cells as operators see them: which cells the control plane knows, whether each takes new
 * tenants, and how many tenants each holds; closing a cell (placement then passes it by, its
 * tenants stay and keep working) and opening it again. Placement reads `accepts_tenants` in the
 * statement that writes a tenant row (placement.ts), so a close takes effect for the next request.
 */
import { and, asc, count, eq, ne, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { cells, tenants } from "../../db/schema.ts";
import type { CellInfo } from "../../schemas/cells.ts";
import { CONTROL_PLANE_CELL } from "../../shared/config.ts";
import { NotFoundError, RequestValidationError } from "../../shared/errors.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import type { CellDirectory } from "./cell-directory.ts";

type CellRow = typeof cells.$inferSelect;

function toCellInfo(row: CellRow, tenantCount: number, directory: CellDirectory): CellInfo {
  return {
    name: row.name,
    acceptsTenants: row.acceptsTenants,
    configured: directory.has(row.name),
    tenants: tenantCount,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Tenants per cell, deprovisioned ones left out (as placement counts them). */
async function tenantCounts(db: Database, name?: string): Promise<Map<string, number>> {
  const rows = await db
    .select({ cell: tenants.cell, n: count() })
    .from(tenants)
    .where(and(ne(tenants.status, "deprovisioned"), name === undefined ? undefined : eq(tenants.cell, name)))
    .groupBy(tenants.cell);
  return new Map(rows.map((r) => [r.cell, Number(r.n)]));
}

/**
 * Every cell the control plane knows, `main` first, then by name. A row of a cell this
 * deployment no longer configures is listed too (`configured: false`): its tenants are still there.
 */
export async function listCells(db: Database, directory: CellDirectory): Promise<CellInfo[]> {
  const [rows, counts] = await Promise.all([
    db.select().from(cells).orderBy(sql`${cells.name} <> ${CONTROL_PLANE_CELL}`, asc(cells.name)),
    tenantCounts(db),
  ]);
  return rows.map((row) => toCellInfo(row, counts.get(row.name) ?? 0, directory));
}

/**
 * Closes (`acceptsTenants: false`) or opens a cell, with its audit entry in the same transaction.
 * Setting the state it already has is allowed and audited too: the operator's intent is recorded.
 */
export async function setCellAcceptsTenants(
  db: Database,
  directory: CellDirectory,
  name: string,
  acceptsTenants: boolean,
  actor: Actor,
  now: Date,
): Promise<CellInfo> {
  const row = await db.transaction(async (tx) => {
    const [updated] = await tx
      .update(cells)
      .set({ acceptsTenants, updatedAt: now })
      .where(eq(cells.name, name))
      .returning();
    if (!updated) throw new NotFoundError("cell", name);
    await recordAudit(tx, {
      actorKeyId: actor.keyId,
      action: acceptsTenants ? "cell.open" : "cell.close",
      targetType: "cell",
      targetId: name,
      details: { acceptsTenants },
      requestId: actor.requestId,
    });
    return updated;
  });
  const counts = await tenantCounts(db, name);
  return toCellInfo(row, counts.get(name) ?? 0, directory);
}

/**
 * A template may pin only a cell this deployment configures (a pin to any other could never place
 * a tenant); a 400 naming the field `cell` otherwise. Null and absent (no pin) pass.
 */
export function assertConfiguredCell(directory: CellDirectory, cell: string | null | undefined): void {
  if (cell === null || cell === undefined || directory.has(cell)) return;
  throw RequestValidationError.field(
    "cell",
    `${cell} is not a cell of this deployment (configured: ${directory.names.join(", ")})`,
  );
}
