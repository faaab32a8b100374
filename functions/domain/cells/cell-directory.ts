/**
 * Cells: the tenant databases. The control plane (tenants, runs, users, keys, audit) is one
 * database; each tenant's own schema (`tenant_<id>`) lives on one cell, recorded in `tenants.cell`
 * when the tenant is placed and never changed. `main` is the control-plane database itself — the
 * only cell unless `TENANT_CELLS` names more — so a deployment without cells works as before, and a
 * step of a tenant on `main` still commits its tenant work and its completion mark in one statement.
 * A tenant on another cell has its schema work done there (functions/domain/steps/cell-work.ts) and
 * its control-plane writes here.
 *
 * Every operation on a tenant's schema asks this directory for the tenant's cell (`forTenant`):
 * provisioning's steps, backup, restore, cleanup, limit checks, upgrades, the deprovisioning dry
 * run. A cell's database is opened on first use and kept.
 */
import { sql } from "drizzle-orm";
import { type Database, type DatabaseHandle, openDatabase } from "../../db/client.ts";
import { queryRows } from "../../db/sql.ts";
import { type CellConfig, CONTROL_PLANE_CELL } from "../../shared/config.ts";
import { ConfigurationError, NotFoundError } from "../../shared/errors.ts";

export { CONTROL_PLANE_CELL };

/** A cell as a tenant operation sees it: its database, and whether that is the control plane's. */
export interface Cell {
  readonly name: string;
  readonly db: Database;
  /** The control-plane database itself (`main`): tenant work and control-plane writes may share a statement. */
  readonly isControlPlane: boolean;
}

/** How a cell's database is reached: opened on first use (configuration) or handed in (tests). */
export type CellSource = CellConfig["database"] | { readonly open: () => Promise<DatabaseHandle> };

/** Where a step's cell work is marked done on the cell (`cell_step_marks`). */
export interface CellWorkKey {
  readonly progressId: string;
  readonly tenantId: string;
  readonly step: string;
  readonly action?: string | undefined;
}

/** The cell table's tenant-side bookkeeping, created on every cell but `main` (`prepareCell`). */
export const CELL_SCHEMA = [
  // A step's work on the cell, done exactly once: the work and this mark commit together, so an
  // attempt whose control-plane part failed finds its cell part done and does not repeat it.
  `CREATE TABLE IF NOT EXISTS cell_step_marks (
    progress_id UUID NOT NULL,
    step VARCHAR(255) NOT NULL,
    action VARCHAR(255) NOT NULL DEFAULT '',
    tenant_id UUID NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (progress_id, step, action)
  )`,
  "CREATE INDEX IF NOT EXISTS cell_step_marks_tenant_idx ON cell_step_marks (tenant_id)",
];

/** Creates the cell's own bookkeeping (`CELL_SCHEMA`) if it is not there yet. */
export async function prepareCell(db: Database): Promise<void> {
  for (const statement of CELL_SCHEMA) await db.execute(sql.raw(statement));
}

export class CellDirectory {
  readonly #control: Database;
  readonly #sources: ReadonlyMap<string, CellSource>;
  readonly #open = new Map<string, Promise<DatabaseHandle>>();
  /** Tenant → cell name: a tenant's cell never changes, so what was read once stays true. */
  readonly #tenantCells = new Map<string, string>();

  /**
   * `control`: the control-plane database (cell `main`); `cells`: every other cell by name.
   */
  constructor(control: Database, cells: ReadonlyMap<string, CellSource> = new Map()) {
    this.#control = control;
    this.#sources = cells;
  }

  /** The cells of this deployment, `main` first. */
  get names(): readonly string[] {
    return [CONTROL_PLANE_CELL, ...this.#sources.keys()];
  }

  /** Whether `main` is the only cell (no lookups are needed to route a tenant). */
  get single(): boolean {
    return this.#sources.size === 0;
  }

  has(name: string): boolean {
    return name === CONTROL_PLANE_CELL || this.#sources.has(name);
  }

  /** Cell `name`, its database opened (and prepared) on first use. */
  async cell(name: string): Promise<Cell> {
    if (name === CONTROL_PLANE_CELL) return { name, db: this.#control, isControlPlane: true };
    const source = this.#sources.get(name);
    if (!source) {
      throw new ConfigurationError(
        `cell ${name} is not configured here (TENANT_CELLS names ${this.names.join(", ")})`,
      );
    }
    let handle = this.#open.get(name);
    if (!handle) {
      handle = (async () => {
        const opened = "open" in source ? await source.open() : await openDatabase(source);
        await prepareCell(opened.db);
        return opened;
      })();
      // A cell that could not be opened is tried again next time.
      handle.catch(() => this.#open.delete(name));
      this.#open.set(name, handle);
    }
    return { name, db: (await handle).db, isControlPlane: false };
  }

  /** The cell a tenant is on (one read of its row, then remembered; none when `main` is the only cell). */
  async forTenant(tenantId: string): Promise<Cell> {
    if (this.single) return this.cell(CONTROL_PLANE_CELL);
    let name = this.#tenantCells.get(tenantId);
    if (name === undefined) {
      const [row] = await queryRows<{ cell: string }>(
        this.#control,
        sql`SELECT cell FROM tenants WHERE id = ${tenantId}::uuid`,
      );
      if (!row) throw new NotFoundError("tenant", tenantId);
      name = row.cell;
      this.#tenantCells.set(tenantId, name);
    }
    return this.cell(name);
  }

  /**
   * Forgets what was read of a tenant's cell: its row was written anew (a restore recreating a
   * tenant whose row was gone, placed again).
   */
  forget(tenantId: string): void {
    this.#tenantCells.delete(tenantId);
  }

  /** Records a tenant's cell as its row was just written (saves the read in `forTenant`). */
  remember(tenantId: string, cell: string): void {
    this.#tenantCells.set(tenantId, cell);
  }

  /**
   * Makes sure every configured cell has its row in the control plane (new cells take tenants) and
   * its bookkeeping; returns the cells added now.
   */
  async register(): Promise<string[]> {
    const others = [...this.#sources.keys()];
    if (others.length === 0) return [];
    const added = await queryRows<{ name: string }>(
      this.#control,
      sql`INSERT INTO cells (name) SELECT jsonb_array_elements_text(${JSON.stringify(others)}::jsonb)
          ON CONFLICT (name) DO NOTHING RETURNING name`,
    );
    for (const name of others) await this.cell(name);
    return added.map((r) => r.name);
  }

  /** Closes the cells' databases this directory opened (not the control plane's). */
  async close(): Promise<void> {
    const handles = [...this.#open.values()];
    this.#open.clear();
    await Promise.allSettled(handles.map(async (h) => (await h).close()));
  }
}

/** The directory of a deployment without cells: `main` only. One per control-plane database. */
const singles = new WeakMap<Database, CellDirectory>();
export function singleCell(control: Database): CellDirectory {
  let directory = singles.get(control);
  if (!directory) {
    directory = new CellDirectory(control);
    singles.set(control, directory);
  }
  return directory;
}

/** The cells of a deployment, from its configuration. */
export function cellDirectoryFromConfig(control: Database, cells: readonly CellConfig[]): CellDirectory {
  if (cells.length === 0) return singleCell(control);
  return new CellDirectory(control, new Map(cells.map((c) => [c.name, c.database])));
}

/** The directory `deps` carries, or `main` only. */
export function cellsOf(deps: {
  readonly db: Database;
  readonly cells?: CellDirectory | undefined;
}): CellDirectory {
  return deps.cells ?? singleCell(deps.db);
}
