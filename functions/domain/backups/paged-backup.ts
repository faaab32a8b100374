/**
 * Backups and restores as a loop of the state machine (issue 13). BackupData and RestoreData each
 * do a bounded amount of work per invocation — at most `pagesPerInvocation` pages or
 * `invocationMs`, whichever comes first — and return `{done: false}`; a Choice sends the execution
 * back to the same Task until `{done: true}`. Each page is one transaction: the page object is
 * written to the backup store (named by its page number, so a retry overwrites it), then its
 * record (`backup_pages`) and the cursor that moved past it (`backup_cursors`) commit together, so
 * a crash or retry resumes after the last committed page, never losing or repeating one.
 *
 * A paged backup (format version 3) is a manifest object — the header of tenant-export.ts with the
 * rows each table holds, and the list of its pages with their checksums — named as a one-piece
 * backup was (`<tenant>/<run>-full.tpb`, its checksum in `tenant_backups`), and one object per page
 * (`…-full.p<number>.tpb`, a gzip-compressed `{section, table, rowsJson}`).
 *
 * The tenant's schema is read in several transactions, so it is kept still meanwhile: the first
 * page adds the `tenant_backup_guard` statement trigger (migration 0010) to each of its tables,
 * refusing writes while the backup's run is active; the last invocation drops them. Control-plane
 * rows are read by id; a user or audit log written meanwhile may or may not be in the backup, as
 * one written after it is not.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { numberValue, queryRows, safeIdentifier } from "../../db/sql.ts";
import { RunCancelledError, ValidationError } from "../../shared/errors.ts";
import { type Cell, type CellDirectory, cellsOf } from "../cells/cell-directory.ts";
import { controlPlaneScope, type TenantCellScope, tenantCellScope } from "../cells/tenant-cell-scope.ts";
import { lockProgressRow, type ProgressRow } from "../runs/progress-store.ts";
import { isActive } from "../runs/run-status.ts";
import type { StepDeps } from "../steps/step-deps.ts";
import type { BackupBudget } from "./backup-budget.ts";
import type { BackupStore } from "./backup-store.ts";
import {
  BACKUP_FORMAT,
  type BackupChunk,
  type BackupHeader,
  type ExportPlan,
  finishRestore,
  headerOf,
  planExport,
  prepareRestore,
  type RowCounts,
  readPage,
  restoreChunk,
  restoreTargets,
  rowCountsOf,
  rowJsonFor,
  type Section,
  sha256Hex,
  sourceDb,
} from "./tenant-export.ts";

export const PAGED_BACKUP_VERSION = 3;

/** Pages of the backup's page list read per call (each ≈ 300 bytes as the Data API answers: 2,000 made 627 KB). */
const PAGE_LIST_BATCH = 1000;

export interface ManifestPage {
  readonly n: number;
  readonly section: Section;
  readonly table: string;
  readonly rows: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly location: string;
}

export interface BackupManifest extends BackupHeader {
  readonly pages: readonly ManifestPage[];
}

/** Where a loop invocation stands: which execution, and which pass of the loop within it. */
export interface LoopInput {
  readonly executionRef: string;
  readonly iteration: number;
}

/** A step's loop state as the state machine keeps it (`$.backupLoop`, `$.restoreLoop`). */
export interface LoopResult {
  readonly done: boolean;
  readonly iteration: number;
}

/** Reads `{executionRef, loop: {iteration}}` from a Task's input (missing: a first iteration). */
export function loopInputOf(input: Record<string, unknown>): LoopInput {
  const loop = input.loop as { iteration?: unknown } | undefined;
  const iteration = typeof loop?.iteration === "number" && loop.iteration >= 0 ? loop.iteration : 0;
  const executionRef = typeof input.executionRef === "string" ? input.executionRef : "";
  return { executionRef, iteration };
}

const invocationKey = (loop: LoopInput) => `${loop.executionRef}#${loop.iteration}`;

/**
 * Records that an invocation of the loop starts, and says whether it is a new attempt at the step:
 * the first iteration of an execution (a new run, a resume, a recover) and a retry (the same
 * invocation again: the state machine's Retry after a failure or a timeout) are; the loop's next
 * iteration is not (the step is one step, whose attempts count tries, not pages).
 */
export async function startLoopInvocation(
  db: Database,
  progressId: string,
  loop: LoopInput,
): Promise<boolean> {
  const key = invocationKey(loop);
  const [row] = await queryRows<{ previous: string | null }>(
    db,
    sql`UPDATE backup_cursors c SET invocation = ${key}, iterations = c.iterations + 1
        FROM (SELECT progress_id, invocation AS previous FROM backup_cursors
              WHERE progress_id = ${progressId}::uuid FOR UPDATE) o
        WHERE c.progress_id = o.progress_id AND o.previous IS DISTINCT FROM ${key}
        RETURNING o.previous`,
  );
  return loop.iteration === 0 || row === undefined;
}

interface CursorRow {
  readonly source_index: unknown;
  readonly after_key: string | null;
  readonly next_page: unknown;
  readonly iterations: unknown;
  readonly restart: unknown;
}

async function cursorOf(tx: Database, progressId: string): Promise<CursorRow | undefined> {
  const [row] = await queryRows<CursorRow & Record<string, unknown>>(
    tx,
    sql`SELECT source_index, after_key, next_page, iterations,
               CASE WHEN restart THEN 1 ELSE 0 END AS restart
        FROM backup_cursors WHERE progress_id = ${progressId}::uuid`,
  );
  return row;
}

/** The run must still be wanted; its row stays locked until the page commits (serialises with a cancel). */
async function lockActiveRun(tx: Database, deps: StepDeps, progressId: string): Promise<ProgressRow> {
  const run = await lockProgressRow(tx, progressId, deps.lockTimeoutMs);
  if (!isActive(run.status)) throw new RunCancelledError(progressId, run.status);
  return run;
}

const pageName = (tenantId: string, progressId: string, n: number) =>
  `${tenantId}/${progressId}-full.p${String(n).padStart(6, "0")}.tpb`;

/** The manifest's object name: where a one-piece backup was. */
export const manifestName = (tenantId: string, progressId: string) => `${tenantId}/${progressId}-full.tpb`;

// --- BackupData ---------------------------------------------------------------------------------

const GUARD_TRIGGER = "tenant_backup_guard";

/**
 * The guard's function on a cell other than `main`. The control plane's (migration 0010) asks
 * whether the backup's run is still active, which a cell cannot see: this one refuses every write
 * while its trigger is there — from the first page until the backup completes (BackupData drops
 * it then) — so what the pages read stays still. A backup run that fails or is cancelled halfway
 * has it dropped when its end is recorded (`releaseEndedBackupGuard`), and its backup starts over
 * if it is resumed.
 */
const CELL_GUARD_FUNCTION = `CREATE OR REPLACE FUNCTION tenant_backup_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
  RAISE EXCEPTION 'tenant schema % is read-only while it is backed up', TG_TABLE_SCHEMA
    USING ERRCODE = 'object_not_in_prerequisite_state';
END
$guard$`;

/** Adds (or drops) the guard on the schema's tables, on the database holding them (`cell`). */
async function setGuard(
  cell: Pick<Cell, "db" | "isControlPlane">,
  plan: ExportPlan,
  on: boolean,
): Promise<void> {
  const tx = cell.db;
  if (on && !cell.isControlPlane) await tx.execute(sql.raw(CELL_GUARD_FUNCTION));
  const schema = safeIdentifier(plan.schemaName);
  for (const t of plan.tenantTables) {
    const table = `${schema}.${safeIdentifier(t)}`;
    await tx.execute(sql.raw(`DROP TRIGGER IF EXISTS ${GUARD_TRIGGER} ON ${table}`));
    if (on) {
      await tx.execute(
        sql.raw(
          `CREATE TRIGGER ${GUARD_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${table}
           FOR EACH STATEMENT EXECUTE FUNCTION tenant_backup_guard()`,
        ),
      );
    }
  }
}

type PageOutcome = "page" | "exhausted";

/**
 * One page of a backup, in its own transaction: the first page also keeps the schema still and
 * creates the cursor; after a restart a discarded page's object is deleted instead.
 */
async function backupPage(
  tx: Database,
  deps: StepDeps,
  store: BackupStore,
  run: { id: string; tenantId: string },
  plan: ExportPlan,
  budget: BackupBudget,
  loop: LoopInput,
  now: Date,
  cell: Cell,
): Promise<PageOutcome> {
  // The schema is read on its cell (`main`: in this page's transaction, as before); its pages are
  // reads, so on another cell a page read again by a retry is the same page.
  const schemaDb = cell.isControlPlane ? { db: tx, isControlPlane: true } : cell;
  await lockActiveRun(tx, deps, run.id);
  let cursor = await cursorOf(tx, run.id);
  if (!cursor) {
    await setGuard(schemaDb, plan, true);
    await tx.execute(
      sql`INSERT INTO backup_cursors (progress_id, kind, schema_name, iterations, invocation, started_at, updated_at)
          VALUES (${run.id}::uuid, 'backup', ${plan.schemaName}, 1, ${invocationKey(loop)}, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz)`,
    );
    cursor = (await cursorOf(tx, run.id))!;
  }
  if (numberValue(cursor.restart) === 1) {
    // Written to while the run was not active: what was read so far may be stale. Page numbers
    // go on from where they were, so no object of the discarded pass is overwritten.
    await setGuard(schemaDb, plan, true);
    await tx.execute(
      sql`UPDATE backup_pages SET discarded = TRUE WHERE progress_id = ${run.id}::uuid AND NOT discarded`,
    );
    await tx.execute(
      sql`UPDATE backup_cursors SET source_index = 0, after_key = NULL, restart = FALSE, updated_at = ${now.toISOString()}::timestamptz
          WHERE progress_id = ${run.id}::uuid`,
    );
    deps.logger.warn("backup starts over: the tenant's schema changed while its run was not active", {
      progressId: run.id,
    });
    return "page";
  }
  const [discarded] = await queryRows<{ page_no: unknown; location: string }>(
    tx,
    sql`SELECT page_no, location FROM backup_pages WHERE progress_id = ${run.id}::uuid AND discarded
        ORDER BY page_no LIMIT 1`,
  );
  if (discarded) {
    await store.delete(discarded.location);
    await tx.execute(
      sql`DELETE FROM backup_pages WHERE progress_id = ${run.id}::uuid AND page_no = ${numberValue(discarded.page_no)}`,
    );
    return "page";
  }
  let sourceIndex = numberValue(cursor.source_index);
  let after = cursor.after_key;
  for (;;) {
    const source = plan.sources[sourceIndex];
    if (!source) return "exhausted";
    const page = await readPage(
      sourceDb(source, tx, schemaDb.db),
      source,
      rowJsonFor(plan.tables[sourceIndex]!),
      after,
      budget.pageBytes,
    );
    if (!page) {
      sourceIndex++;
      after = null;
      await tx.execute(
        sql`UPDATE backup_cursors SET source_index = ${sourceIndex}, after_key = NULL, updated_at = ${now.toISOString()}::timestamptz
            WHERE progress_id = ${run.id}::uuid`,
      );
      continue;
    }
    const n = numberValue(cursor.next_page);
    const body = gzipSync(
      Buffer.from(
        JSON.stringify({ section: source.section, table: source.table, rowsJson: page.rowsJson }),
        "utf8",
      ),
    );
    const stored = await store.put(pageName(run.tenantId, run.id, n), body);
    await tx.execute(
      sql`INSERT INTO backup_pages (progress_id, page_no, section, table_name, row_count, bytes, sha256, location)
          VALUES (${run.id}::uuid, ${n}, ${source.section}, ${source.table}, ${page.rows}, ${body.length},
                  ${sha256Hex(body)}, ${stored.location})`,
    );
    await tx.execute(
      sql`UPDATE backup_cursors SET after_key = ${page.lastKey}, next_page = ${n + 1}, updated_at = ${now.toISOString()}::timestamptz
          WHERE progress_id = ${run.id}::uuid`,
    );
    return "page";
  }
}

/**
 * The pages of one BackupData invocation (before the step's transaction). Returns `"more"` when
 * the budget ran out first; otherwise every page is written and the step's transaction
 * (`completePagedBackup`) follows in this invocation.
 */
export async function backupInvocation(
  deps: StepDeps,
  store: BackupStore,
  run: { id: string; tenantId: string },
  loop: LoopInput,
  budget: BackupBudget,
): Promise<"more" | undefined> {
  const started = Date.now();
  const cell = await cellsOf(deps).forTenant(run.tenantId);
  const plan = await planExport(deps.db, run.tenantId, "full", cell.isControlPlane ? deps.db : cell.db);
  for (let pages = 0; ; ) {
    const outcome = await deps.db.transaction((tx) =>
      backupPage(tx, deps, store, run, plan, budget, loop, deps.clock(), cell),
    );
    if (outcome === "exhausted") return undefined;
    pages++;
    if (pages >= budget.pagesPerInvocation || Date.now() - started >= budget.invocationMs) return "more";
  }
}

/** Every page of a backup's page list, in order, read in batches. */
async function pagesOf(tx: Database, progressId: string): Promise<ManifestPage[]> {
  const pages: ManifestPage[] = [];
  for (let after = -1; ; ) {
    const rows = await queryRows<{
      page_no: unknown;
      section: Section;
      table_name: string;
      row_count: unknown;
      bytes: unknown;
      sha256: string;
      location: string;
    }>(
      tx,
      sql`SELECT page_no, section, table_name, row_count, bytes, sha256, location FROM backup_pages
          WHERE progress_id = ${progressId}::uuid AND NOT discarded AND page_no > ${after}
          ORDER BY page_no LIMIT ${PAGE_LIST_BATCH}`,
    );
    for (const r of rows) {
      pages.push({
        n: numberValue(r.page_no),
        section: r.section,
        table: r.table_name,
        rows: numberValue(r.row_count),
        bytes: numberValue(r.bytes),
        sha256: r.sha256.trim(),
        location: r.location,
      });
    }
    if (rows.length < PAGE_LIST_BATCH) return pages;
    after = pages[pages.length - 1]!.n;
  }
}

export interface CompletedBackup {
  readonly header: BackupHeader;
  readonly gzip: Buffer;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly rowCounts: RowCounts;
  readonly pages: number;
  readonly iterations: number;
  readonly location: string;
  readonly stored: Awaited<ReturnType<BackupStore["put"]>>;
}

/**
 * The end of a backup, inside the step's transaction: the manifest written (after every page it
 * lists committed), the schema writable again, the working rows gone. For a tenant on another
 * cell than `main` the guard stays until this transaction has committed (`releaseCellGuard`): a
 * rollback here must not let writes in before the backup is recorded.
 */
export async function completePagedBackup(
  tx: Database,
  store: BackupStore,
  run: { id: string; tenantId: string },
  now: Date,
  cell: Cell,
): Promise<CompletedBackup> {
  const cursor = await cursorOf(tx, run.id);
  if (!cursor) throw new ValidationError(`backup of run ${run.id} has no pages`);
  const plan = await planExport(tx, run.tenantId, "full", cell.isControlPlane ? tx : cell.db);
  const pages = await pagesOf(tx, run.id);
  const counts = new Map<string, number>();
  for (const p of pages)
    counts.set(`${p.section}.${p.table}`, (counts.get(`${p.section}.${p.table}`) ?? 0) + p.rows);
  const header = headerOf(run.tenantId, plan, counts, {
    kind: "full",
    progressId: run.id,
    now,
    version: PAGED_BACKUP_VERSION,
  });
  const manifest: BackupManifest = { ...header, pages };
  const gzip = gzipSync(Buffer.from(JSON.stringify(manifest), "utf8"), { level: 9 });
  const stored = await store.put(manifestName(run.tenantId, run.id), gzip);
  if (cell.isControlPlane) await setGuard({ db: tx, isControlPlane: true }, plan, false);
  await tx.execute(sql`DELETE FROM backup_pages WHERE progress_id = ${run.id}::uuid`);
  await tx.execute(sql`DELETE FROM backup_cursors WHERE progress_id = ${run.id}::uuid`);
  return {
    header,
    gzip,
    sha256: sha256Hex(gzip),
    sizeBytes: gzip.length + pages.reduce((n, p) => n + p.bytes, 0),
    rowCounts: rowCountsOf(header),
    pages: pages.length,
    iterations: numberValue(cursor.iterations),
    location: stored.location,
    stored,
  };
}

/**
 * The guard of a completed backup of a tenant on another cell than `main`, dropped once the step
 * committed (idempotent: every pass through the completed step drops what is left).
 */
export async function releaseCellGuard(deps: StepDeps, tenantId: string): Promise<void> {
  const cell = await cellsOf(deps).forTenant(tenantId);
  if (cell.isControlPlane) return;
  const plan = await planExport(deps.db, tenantId, "full", cell.db);
  await setGuard(cell, plan, false);
}

/**
 * A deprovisioning that ended (failed, cancelled) with its backup of a tenant on another cell than
 * `main` in progress: the cell's guard cannot see that the run is no longer active, so it is
 * dropped here, and the tenant's tables are writable again. Writes may then come in, which on
 * `main` the guard itself would notice: the backup is marked to start over if the run is resumed.
 */
export async function releaseEndedBackupGuard(
  deps: { readonly db: Database; readonly cells?: CellDirectory | undefined },
  run: ProgressRow,
): Promise<void> {
  const cells = cellsOf(deps);
  if (cells.single || !run.tenantId) return;
  // The guard goes on with the first page, on the cell (committed there even when that page's
  // transaction here rolled back); once the data is removed there is nothing left to guard.
  const backup = run.steps.find((s) => s.name === "BackupData");
  const cleaned = run.steps.find((s) => s.name === "CleanupData");
  if (!backup || backup.status === "pending" || cleaned?.status === "completed") return;
  const cell = await cells.forTenant(run.tenantId);
  if (cell.isControlPlane) return;
  await deps.db.execute(sql`UPDATE backup_cursors SET restart = TRUE WHERE progress_id = ${run.id}::uuid`);
  await setGuard(cell, await planExport(deps.db, run.tenantId, "full", cell.db), false);
}

// --- Reading a paged backup ---------------------------------------------------------------------

/** Reads a manifest (its checksum is the backup's, kept in `tenant_backups`). */
export function parseManifest(gzip: Uint8Array): BackupManifest {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(gunzipSync(gzip).toString("utf8")) as BackupManifest;
  } catch (error) {
    throw new ValidationError("backup manifest is not gzip-compressed JSON", { cause: error });
  }
  if (manifest?.format !== BACKUP_FORMAT || manifest.version !== PAGED_BACKUP_VERSION) {
    throw new ValidationError("not a paged tenant backup");
  }
  return manifest;
}

/** Reads one page of a paged backup, checked against the manifest's checksum. */
export async function readBackupPage(store: BackupStore, page: ManifestPage): Promise<BackupChunk> {
  const body = await store.get(page.location);
  const actual = sha256Hex(body);
  if (actual !== page.sha256) {
    throw new ValidationError(
      `backup page ${page.n} checksum mismatch: expected ${page.sha256}, got ${actual}`,
    );
  }
  const chunk = JSON.parse(gunzipSync(body).toString("utf8")) as BackupChunk;
  if (chunk.section !== page.section || chunk.table !== page.table) {
    throw new ValidationError(`backup page ${page.n} holds another table than its manifest says`);
  }
  return chunk;
}

/** Where a restore run's schema work goes (`main`: the page's own transaction). */
export function restoreScope(
  tx: Database,
  deps: StepDeps,
  runId: string,
  tenantId: string,
  cell: Cell,
): TenantCellScope {
  if (cell.isControlPlane) return controlPlaneScope(tx);
  return tenantCellScope(tx, cell, { progressId: runId, tenantId, step: "RestoreData" }, deps.lockTimeoutMs);
}

/** Whether a backup object is a paged backup's manifest (format version 3). */
export function isPagedBackup(formatVersion: number): boolean {
  return formatVersion >= PAGED_BACKUP_VERSION;
}

/** Deletes a backup's objects: a paged backup's pages, then its manifest (idempotent). */
export async function deleteBackupObjects(
  store: BackupStore,
  location: string,
  formatVersion: number,
): Promise<void> {
  if (isPagedBackup(formatVersion)) {
    let manifest: BackupManifest | null = null;
    try {
      manifest = parseManifest(await store.get(location));
    } catch {
      // Already deleted (a retried purge): its pages went before it.
    }
    for (const p of manifest?.pages ?? []) await store.delete(p.location);
  }
  await store.delete(location);
}

// --- RestoreData --------------------------------------------------------------------------------

/**
 * Restored in the step's last transaction, with the check of every table's rows: the tenant row
 * (overwriting its tombstone makes the tenant what it was) and its API keys (revoked in the same
 * transaction), so a tenant half restored is never active and no key of it works meanwhile.
 */
const LAST_TABLES = new Set(["controlPlane.tenants", "controlPlane.api_keys"]);
const isLast = (p: { section: Section; table: string }) => LAST_TABLES.has(`${p.section}.${p.table}`);

/**
 * One page of a restore, in its own transaction; the first one recreates the schema (empty) and
 * creates the cursor.
 */
async function restorePage(
  tx: Database,
  deps: StepDeps,
  store: BackupStore,
  runId: string,
  manifest: BackupManifest,
  loop: LoopInput,
  now: Date,
  beforeFirstPage: (tx: Database) => Promise<void>,
  cell: Cell,
): Promise<PageOutcome> {
  await lockActiveRun(tx, deps, runId);
  // On another cell than `main` each piece of schema work is done once (tenantCellScope): a page
  // whose cursor did not commit is found restored on a retry, not inserted twice.
  const scope = restoreScope(tx, deps, runId, manifest.tenantId, cell);
  const cursor = await cursorOf(tx, runId);
  if (!cursor) {
    await beforeFirstPage(tx);
    await prepareRestore(tx, manifest, scope);
    await tx.execute(
      sql`INSERT INTO backup_cursors (progress_id, kind, schema_name, iterations, invocation, started_at, updated_at)
          VALUES (${runId}::uuid, 'restore', ${manifest.schemaName}, 1, ${invocationKey(loop)}, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz)`,
    );
    return "page";
  }
  let n = numberValue(cursor.next_page);
  while (n < manifest.pages.length && isLast(manifest.pages[n]!)) n++;
  const page = manifest.pages[n];
  if (!page) return "exhausted";
  const chunk = await readBackupPage(store, page);
  const table = manifest.tables.filter((t) => t.section === page.section && t.table === page.table);
  const targets = await restoreTargets(tx, manifest, table, scope.db);
  if (chunk.section === "tenantSchema") {
    await scope.once(`page ${page.n}`, (db) => restoreChunk(tx, manifest, targets, chunk, now, db));
  } else {
    await restoreChunk(tx, manifest, targets, chunk, now);
  }
  await tx.execute(
    sql`UPDATE backup_cursors SET next_page = ${n + 1}, updated_at = ${now.toISOString()}::timestamptz WHERE progress_id = ${runId}::uuid`,
  );
  return "page";
}

/**
 * The pages of one RestoreData invocation (before the step's transaction); `"more"` when the
 * budget ran out. `beforeFirstPage` checks, in the first page's transaction, that the restore may
 * start (the tenant's names are still free).
 */
export async function restoreInvocation(
  deps: StepDeps,
  store: BackupStore,
  runId: string,
  manifest: BackupManifest,
  loop: LoopInput,
  budget: BackupBudget,
  beforeFirstPage: (tx: Database) => Promise<void>,
): Promise<"more" | undefined> {
  const started = Date.now();
  const cell = await cellsOf(deps).forTenant(manifest.tenantId);
  for (let pages = 0; ; ) {
    const outcome = await deps.db.transaction((tx) =>
      restorePage(tx, deps, store, runId, manifest, loop, deps.clock(), beforeFirstPage, cell),
    );
    if (outcome === "exhausted") return undefined;
    pages++;
    if (pages >= budget.pagesPerInvocation || Date.now() - started >= budget.invocationMs) return "more";
  }
}

/** The end of a restore, inside the step's transaction: the tenant row and API keys, then the check of every table. */
export async function completePagedRestore(
  tx: Database,
  store: BackupStore,
  runId: string,
  manifest: BackupManifest,
  now: Date,
  cell: Cell,
): Promise<{ restored: RowCounts; pages: number; iterations: number }> {
  const cursor = await cursorOf(tx, runId);
  if (!cursor) throw new ValidationError(`restore of run ${runId} has not started`);
  const schemaDb = cell.isControlPlane ? tx : cell.db;
  const last = manifest.pages.filter(isLast);
  const tables = manifest.tables.filter((t) => isLast(t));
  const targets = await restoreTargets(tx, manifest, tables);
  for (const page of last) await restoreChunk(tx, manifest, targets, await readBackupPage(store, page), now);
  const restored = await finishRestore(tx, manifest, schemaDb);
  await tx.execute(sql`DELETE FROM backup_cursors WHERE progress_id = ${runId}::uuid`);
  return { restored, pages: manifest.pages.length, iterations: numberValue(cursor.iterations) };
}
