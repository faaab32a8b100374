/**
 * Where a new tenant goes. The policy, in order:
 * 1. a template pinned to a cell (`tenant_templates.cell`) places every tenant provisioned from it
 *    there — and a pinned cell that is closed, or not configured here, refuses the request;
 * 2. otherwise the open cell with the fewest tenants (deprovisioned tenants do not count), the
 *    first by name on a tie.
 * Only cells this deployment has configured are candidates, and a closed cell
 * (`accepts_tenants = false`) takes no new tenants; tenants already on it stay and keep working.
 *
 * The choice is an SQL expression evaluated inside the statement that writes the tenant row, so
 * placing costs no call of its own; it is NULL when no cell may take the tenant, and the row's
 * NOT NULL `cell` then refuses the write (`noCellError` says why).
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { queryRows } from "../../db/sql.ts";
import { ConflictError, rootMessage, sqlState } from "../../shared/errors.ts";
import type { CellDirectory } from "./cell-directory.ts";

/** The cell for a tenant provisioned from `templateId` (null: a custom template), as an SQL expression. */
export function placementSql(cells: CellDirectory, templateId: string | null): SQL {
  const configured = sql`(SELECT jsonb_array_elements_text(${JSON.stringify(cells.names)}::jsonb))`;
  const pinned =
    templateId === null
      ? sql`NULL::text`
      : sql`(SELECT p.cell FROM tenant_templates p WHERE p.id = ${templateId}::uuid)`;
  // One cell: nothing to count (at 10,000 tenants a count is milliseconds per request).
  const fewest = cells.single
    ? sql``
    : sql`ORDER BY (SELECT count(*) FROM tenants t WHERE t.cell = c.name AND t.status <> 'deprovisioned'), `;
  return sql`(SELECT c.name FROM cells c
    WHERE c.accepts_tenants AND c.name IN ${configured} AND (${pinned} IS NULL OR c.name = ${pinned})
    ${fewest}${cells.single ? sql`ORDER BY ` : sql``}c.name LIMIT 1)`;
}

/** Whether a write of a tenant row failed because no cell may take it (its `cell` was NULL). */
export function isNoCell(error: unknown): boolean {
  return sqlState(error) === "23502" && /"cell"/.test(rootMessage(error));
}

/**
 * The 409 that says why no cell may take a tenant provisioned from `templateId` (or from any of
 * several templates: a batch): a pinned cell that is closed or not configured, else every cell closed.
 */
export async function noCellError(
  db: Database,
  cells: CellDirectory,
  templateId: string | null | readonly (string | null)[],
): Promise<ConflictError> {
  const ids = [
    ...new Set((Array.isArray(templateId) ? templateId : [templateId]).filter((id) => id !== null)),
  ];
  for (const id of ids) {
    const [pin] = await queryRows<{ cell: string | null; name: string }>(
      db,
      sql`SELECT cell, name FROM tenant_templates WHERE id = ${id}::uuid`,
    );
    if (pin?.cell) {
      const open = await queryRows(db, sql`SELECT 1 FROM cells WHERE name = ${pin.cell} AND accepts_tenants`);
      if (open.length > 0 && cells.has(pin.cell)) continue;
      const why = cells.has(pin.cell)
        ? "which takes no new tenants (closed)"
        : "which is not configured here";
      return new ConflictError(`template "${pin.name}" is pinned to cell ${pin.cell}, ${why}`, {
        fields: [{ field: "templateId", message: `pinned to cell ${pin.cell}, ${why}` }],
      });
    }
  }
  return new ConflictError(
    `no cell takes new tenants: every cell of this deployment (${cells.names.join(", ")}) is closed`,
  );
}
