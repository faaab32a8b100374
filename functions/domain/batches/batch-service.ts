/**
 * Bulk provisioning (the API side). A batch request is checked whole — every item as a single
 * provisioning request would be, duplicate slugs and subdomains within the batch and against
 * existing tenants — and refused whole with every item's errors (`items[3].slug`), or written in
 * one transaction: the batch's run, and per item a tenant row (its slug and subdomain held from
 * now on) and a pending provisioning run pointing at the batch. Multi-row inserts keep the number
 * of statements independent of the batch's size (the Data API runs one statement per call). Then
 * the batch's execution starts; it starts the children, `maxConcurrency` at a time.
 */

import { createHash, randomUUID } from "node:crypto";
import { and, eq, inArray, or, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import {
  provisioningProgress,
  provisioningSecrets,
  runInputs,
  scheduledOperations,
  tenants,
} from "../../db/schema.ts";
import type { Batch, BatchItem, CreateBatchRequest } from "../../schemas/batches.ts";
import type { ScheduledOperation } from "../../schemas/deprovisioning.ts";
import type { RunStatus } from "../../schemas/progress.ts";
import type { TemplateSpec } from "../../schemas/templates.ts";
import {
  ConflictError,
  type FieldIssue,
  HttpError,
  NotFoundError,
  RequestValidationError,
  sqlState,
} from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { BATCH_STEPS, PROVISIONING_STEPS } from "../../workflows/step-catalog.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import { hashPassword } from "../auth/password.ts";
import { type CellDirectory, cellsOf } from "../cells/cell-directory.ts";
import { isNoCell, noCellError, placementSql } from "../cells/placement.ts";
import { registerSchedule, type ScheduleRow } from "../deprovisioning/schedule-service.ts";
import {
  checkedProvisioningMetadata,
  type ProvisionDeps,
  runMetadata,
} from "../provisioning/provision-service.ts";
import { isReplayedPassword } from "../provisioning/replay-password.ts";
import type { ProvisioningMetadata } from "../provisioning/run-spec.ts";
import {
  findRunByIdempotencyKey,
  getProgressRow,
  insertRun,
  lockProgressRow,
  type ProgressRow,
  saveProgress,
} from "../runs/progress-store.ts";
import { cancelRun } from "../runs/run-control.ts";
import { emitRunStarted } from "../runs/run-events.ts";
import { isActive } from "../runs/run-status.ts";
import { startRun } from "../runs/start-run.ts";
import { completedCount, initialSteps, resetFrom } from "../runs/step-state.ts";
import { type Scheduler, scheduleSlot } from "../scheduling/scheduler.ts";
import { getUsableTemplate } from "../templates/template-store.ts";
import {
  type BatchMetadata,
  batchMetadata,
  childCounts,
  childPage,
  hasUnfinishedChildren,
  toleratedFailures,
} from "./batch-store.ts";

/** Rows per multi-row insert: a child's progress row is about 1.5 kB, far below the 4 MiB request. */
const INSERT_CHUNK = 100;
/** Items of one batch that may carry a password: each is hashed (argon2id) before the batch is accepted. */
export const MAX_BATCH_PASSWORDS = 50;

export interface BatchInput {
  readonly request: CreateBatchRequest;
  readonly idempotencyKey?: string | undefined;
  readonly actor: Actor;
}

interface CheckedItem {
  readonly item: BatchItem;
  readonly template: { readonly id: string; readonly version: number } | null;
  readonly metadata: ProvisioningMetadata;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** sha256 of the request without its passwords (an item with one says so: the replay compares it). */
function requestHash(request: CreateBatchRequest): string {
  const items = request.items.map(({ adminPassword, ...rest }) =>
    adminPassword === undefined ? rest : { ...rest, password: true },
  );
  return createHash("sha256")
    .update(JSON.stringify({ ...request, items }))
    .digest("hex");
}

function fieldsOf(error: unknown): readonly FieldIssue[] | undefined {
  if (!(error instanceof HttpError) || error.statusCode !== 400) return undefined;
  const fields = (error.details as { fields?: FieldIssue[] } | undefined)?.fields;
  return fields ?? [{ field: "(item)", message: error.message }];
}

function at(index: number, field: string): string {
  return field === "(item)" ? `items[${index}]` : `items[${index}].${field}`;
}

/** Every item's checks; the issues name the item (`items[3].slug`). */
async function checkItems(
  deps: ProvisionDeps,
  request: CreateBatchRequest,
  actor: Actor,
): Promise<{ checked: CheckedItem[]; issues: FieldIssue[] }> {
  const issues: FieldIssue[] = [];
  const templates = new Map<string, Awaited<ReturnType<typeof getUsableTemplate>> | null>();
  for (const id of new Set(request.items.flatMap((i) => (i.templateId ? [i.templateId] : [])))) {
    templates.set(
      id,
      await getUsableTemplate(deps.db, id).catch((error: unknown) => {
        if (error instanceof NotFoundError) return null;
        throw error;
      }),
    );
  }
  const checked: CheckedItem[] = [];
  for (const [index, item] of request.items.entries()) {
    const { templateId, template: inline, ...provision } = item;
    let template: CheckedItem["template"] = null;
    let spec: TemplateSpec;
    if (templateId) {
      const found = templates.get(templateId);
      if (!found) {
        issues.push({ field: at(index, "templateId"), message: `no template ${templateId}` });
        continue;
      }
      template = { id: found.id, version: found.version };
      spec = { ...found, description: found.description ?? undefined };
    } else {
      spec = inline as TemplateSpec;
    }
    try {
      const metadata = checkedProvisioningMetadata(deps, { request: provision, template, spec, actor });
      checked.push({ item, template, metadata });
    } catch (error) {
      const fields = fieldsOf(error);
      if (!fields) throw error;
      issues.push(...fields.map((f) => ({ field: at(index, f.field), message: f.message })));
    }
  }
  // Duplicates within the batch: the second and later items that repeat a name are named.
  for (const field of ["slug", "subdomain"] as const) {
    const first = new Map<string, number>();
    for (const [index, item] of request.items.entries()) {
      const seen = first.get(item[field]);
      if (seen === undefined) first.set(item[field], index);
      else
        issues.push({
          field: at(index, field),
          message: `"${item[field]}" is also items[${seen}]'s ${field}`,
        });
    }
  }
  // Names held by existing tenants (scheduled provisionings included).
  const indexed = request.items.map((item, index) => ({ item, index }));
  for (const part of chunks(indexed, 200)) {
    const taken = await deps.db
      .select({ slug: tenants.slug, subdomain: tenants.subdomain })
      .from(tenants)
      .where(
        or(
          inArray(
            tenants.slug,
            part.map((p) => p.item.slug),
          ),
          inArray(
            tenants.subdomain,
            part.map((p) => p.item.subdomain),
          ),
        ),
      );
    const takenSlugs = new Set(taken.map((t) => t.slug));
    const takenSubdomains = new Set(taken.map((t) => t.subdomain));
    for (const { item, index } of part) {
      if (takenSlugs.has(item.slug))
        issues.push({ field: at(index, "slug"), message: `"${item.slug}" is already taken` });
      if (takenSubdomains.has(item.subdomain)) {
        issues.push({ field: at(index, "subdomain"), message: `"${item.subdomain}" is already taken` });
      }
    }
  }
  const passwords = request.items.filter((i) => i.adminPassword !== undefined).length;
  if (passwords > MAX_BATCH_PASSWORDS) {
    issues.push({
      field: "items",
      message: `${passwords} items carry an adminPassword; at most ${MAX_BATCH_PASSWORDS} may (leave it out to invite the admin)`,
    });
  }
  return { checked, issues };
}

function refuse(issues: FieldIssue[], total: number): never {
  const items = new Set(issues.map((i) => /^items\[(\d+)\]/.exec(i.field)?.[1]).filter(Boolean));
  const shown = issues.slice(0, 5).map((i) => `${i.field}: ${i.message}`);
  throw new RequestValidationError(
    `${items.size} of ${total} items are invalid; nothing was started: ${shown.join("; ")}${issues.length > 5 ? "; …" : ""}`,
    issues,
  );
}

/** An Idempotency-Key's batch, if the key was used: the same request replays it, another is a 409. */
async function replayed(
  deps: ProvisionDeps,
  input: BatchInput,
  hash: string,
): Promise<ProgressRow | undefined> {
  if (!input.idempotencyKey) return undefined;
  const row = await findRunByIdempotencyKey(deps.db, input.idempotencyKey);
  if (!row) return undefined;
  let same = row.kind === "batch" && row.requestHash === hash;
  for (const [index, item] of input.request.items.entries()) {
    if (!same || item.adminPassword === undefined) continue;
    const [child] = await deps.db
      .select()
      .from(provisioningProgress)
      .where(and(eq(provisioningProgress.parentId, row.id), eq(provisioningProgress.batchIndex, index)));
    const childRow = child ? await getProgressRow(deps.db, child.id) : undefined;
    same = childRow !== undefined && (await isReplayedPassword(deps.db, childRow, item.adminPassword));
  }
  if (!same) {
    throw new ConflictError("this Idempotency-Key was used with a different request", {
      fields: [{ field: "Idempotency-Key", message: "reused with a different body" }],
    });
  }
  return row;
}

/**
 * Writes a checked batch (in the caller's transaction): its run, and per item a tenant row holding
 * the item's slug and subdomain (`tenantStatus`: `pending`, or `scheduled` until its schedule
 * runs) and a pending provisioning run pointing at the batch, with its inputs and password hash.
 */
async function insertBatch(
  tx: Database,
  options: {
    readonly id?: string;
    readonly checked: readonly CheckedItem[];
    readonly hashes: ReadonlyMap<number, string>;
    readonly request: CreateBatchRequest;
    readonly idempotencyKey: string | null;
    readonly requestHash: string;
    readonly tenantStatus: "pending" | "scheduled";
    readonly now: Date;
    readonly cells: CellDirectory;
  },
): Promise<ProgressRow> {
  const { checked, hashes, request, now } = options;
  const metadata: BatchMetadata = {
    total: checked.length,
    maxConcurrency: request.maxConcurrency,
    toleratedFailurePercent: request.toleratedFailurePercent,
    toleratedFailures: toleratedFailures(checked.length, request.toleratedFailurePercent),
  };
  const run = await insertRun(tx, {
    ...(options.id ? { id: options.id } : {}),
    kind: "batch",
    tenantId: null,
    templateId: null,
    templateVersion: null,
    steps: initialSteps(BATCH_STEPS),
    metadata: { ...metadata },
    idempotencyKey: options.idempotencyKey,
    requestHash: options.requestHash,
    now,
  });
  const children = checked.map((c, index) => ({
    ...c,
    index,
    tenantId: randomUUID(),
    progressId: randomUUID(),
  }));
  const steps = initialSteps(PROVISIONING_STEPS);
  for (const part of chunks(children, INSERT_CHUNK)) {
    await tx.insert(tenants).values(
      part.map((c) => ({
        id: c.tenantId,
        slug: c.item.slug,
        subdomain: c.item.subdomain,
        name: c.item.name,
        status: options.tenantStatus,
        templateId: c.template?.id ?? null,
        templateVersion: c.template?.version ?? null,
        // Each chunk's rows are placed in one statement, so on the same cell; the next chunk
        // counts them (one transaction), so a large batch spreads over the open cells chunk by chunk.
        cell: placementSql(options.cells, c.template?.id ?? null),
        createdAt: now,
        updatedAt: now,
      })),
    );
    await tx.insert(provisioningProgress).values(
      part.map((c) => ({
        id: c.progressId,
        tenantId: c.tenantId,
        templateId: c.template?.id ?? null,
        templateVersion: c.template?.version ?? null,
        kind: "provision" as const,
        status: "pending" as const,
        totalSteps: steps.length,
        completedSteps: completedCount(steps),
        steps,
        warnings: [],
        metadata: { ...runMetadata(c.metadata) },
        parentId: run.id,
        batchIndex: c.index,
        createdAt: now,
        updatedAt: now,
      })),
    );
    const inputs = part.filter((c) => c.metadata.customTemplate || c.metadata.initialDataOverrides);
    if (inputs.length > 0) {
      await tx.insert(runInputs).values(
        inputs.map((c) => ({
          progressId: c.progressId,
          customTemplate: (c.metadata.customTemplate ?? null) as Record<string, unknown> | null,
          initialDataOverrides: (c.metadata.initialDataOverrides ?? null) as Record<string, unknown> | null,
          createdAt: now,
        })),
      );
    }
    const secrets = part.filter((c) => hashes.has(c.index));
    if (secrets.length > 0) {
      await tx
        .insert(provisioningSecrets)
        .values(secrets.map((c) => ({ progressId: c.progressId, adminPasswordHash: hashes.get(c.index)! })));
    }
  }
  return run;
}

/** Accepts a batch (202) or refuses it whole (400 naming every invalid item). */
export async function requestBatch(
  deps: ProvisionDeps,
  input: BatchInput,
): Promise<{ batch: Batch; created: boolean }> {
  const { db, clock } = deps;
  const { request, actor } = input;
  const hash = requestHash(request);
  const existing = await replayed(deps, input, hash);
  if (existing) return { batch: await getBatch(db, existing.id), created: false };

  const { checked, issues } = await checkItems(deps, request, actor);
  if (issues.length > 0) refuse(issues, request.items.length);
  const hashes = new Map<number, string>();
  for (const [index, { item }] of checked.entries()) {
    if (item.adminPassword !== undefined) hashes.set(index, await hashPassword(item.adminPassword));
  }

  const now = clock();
  let batch: ProgressRow;
  try {
    batch = await db.transaction(async (tx) => {
      const run = await insertBatch(tx, {
        cells: cellsOf(deps),
        checked,
        hashes,
        request,
        idempotencyKey: input.idempotencyKey ?? null,
        requestHash: hash,
        tenantStatus: "pending",
        now,
      });
      await emitRunStarted(tx, run, now);
      await recordAudit(tx, {
        actorKeyId: actor.keyId,
        action: "batch.start",
        targetType: "progress",
        targetId: run.id,
        details: {
          items: checked.length,
          maxConcurrency: request.maxConcurrency,
          toleratedFailurePercent: request.toleratedFailurePercent,
          invited: checked.length - hashes.size,
        },
        requestId: actor.requestId,
      });
      return run;
    });
  } catch (error) {
    if (isNoCell(error)) throw await noCellError(db, cellsOf(deps), batchTemplates(request));
    if (sqlState(error) === "23505") {
      const again = await replayed(deps, input, hash);
      if (again) return { batch: await getBatch(db, again.id), created: false };
      const { issues: now } = await checkItems(deps, request, actor);
      if (now.length > 0) refuse(now, request.items.length);
      throw new ConflictError("a slug or subdomain was taken by a concurrent request");
    }
    throw error;
  }
  await startRun(deps, batch);
  return { batch: await getBatch(db, batch.id), created: true };
}

/**
 * `POST /schedule-batch`: a batch checked now and written now — its run and children pending,
 * their tenant rows `scheduled` (the names refused to others until it runs or is cancelled) — and
 * started at `at` by its schedule (list and cancel under /schedules) → 201 with the schedule.
 */
export async function scheduleBatch(
  deps: ProvisionDeps & { readonly logger: Logger; readonly scheduler?: Scheduler | undefined },
  input: Omit<BatchInput, "idempotencyKey">,
  at: string,
): Promise<ScheduledOperation> {
  const { db, clock, logger } = deps;
  const now = clock();
  const { scheduler, runAt } = scheduleSlot(deps.scheduler, at, now);
  const { request, actor } = input;
  const { checked, issues } = await checkItems(deps, request, actor);
  if (issues.length > 0) refuse(issues, request.items.length);
  const hashes = new Map<number, string>();
  for (const [index, { item }] of checked.entries()) {
    if (item.adminPassword !== undefined) hashes.set(index, await hashPassword(item.adminPassword));
  }
  // The schedule's id is its batch's: the execution it starts names the batch run by it.
  const id = randomUUID();
  let row: ScheduleRow;
  try {
    row = await db.transaction(async (tx) => {
      await insertBatch(tx, {
        cells: cellsOf(deps),
        id,
        checked,
        hashes,
        request,
        idempotencyKey: null,
        requestHash: requestHash(request),
        tenantStatus: "scheduled",
        now,
      });
      const [created] = await tx
        .insert(scheduledOperations)
        .values({
          id,
          kind: "batch",
          tenantId: null,
          runAt,
          options: {
            batchId: id,
            items: checked.length,
            maxConcurrency: request.maxConcurrency,
            toleratedFailurePercent: request.toleratedFailurePercent,
          },
          status: "scheduled",
          progressId: id,
          createdBy: actor.keyId,
          createdAt: now,
        })
        .returning();
      await recordAudit(tx, {
        actorKeyId: actor.keyId,
        action: "batch.schedule",
        targetType: "scheduled_operation",
        targetId: id,
        details: {
          runAt: runAt.toISOString(),
          items: checked.length,
          maxConcurrency: request.maxConcurrency,
          toleratedFailurePercent: request.toleratedFailurePercent,
          invited: checked.length - hashes.size,
        },
        requestId: actor.requestId,
      });
      return created!;
    });
  } catch (error) {
    if (isNoCell(error)) throw await noCellError(db, cellsOf(deps), batchTemplates(request));
    if (sqlState(error) === "23505") {
      const { issues: now } = await checkItems(deps, request, actor);
      if (now.length > 0) refuse(now, request.items.length);
      throw new ConflictError("a slug or subdomain was taken by a concurrent request");
    }
    throw error;
  }
  // A scheduler that refuses fails the schedule, which also frees the names its batch reserved.
  return registerSchedule({ db, clock, logger, scheduler }, row);
}

/** The templates a batch's items name (for why no cell may take them). */
function batchTemplates(request: CreateBatchRequest): string[] {
  return request.items.flatMap((item) => (item.templateId === undefined ? [] : [item.templateId]));
}

function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

async function batchRow(db: Database, id: string): Promise<ProgressRow> {
  const row = await getProgressRow(db, id);
  if (row?.kind !== "batch") throw new NotFoundError("batch", id);
  return row;
}

/** The batch with its counts and a page of its children (in item order). */
export async function getBatch(
  db: Database,
  id: string,
  page: { readonly limit: number; readonly offset: number; readonly status?: RunStatus | undefined } = {
    limit: 50,
    offset: 0,
  },
): Promise<Batch> {
  const row = await batchRow(db, id);
  const meta = batchMetadata(row);
  const [counts, children] = await Promise.all([childCounts(db, id), childPage(db, id, page)]);
  const exceeded = meta.budgetExceeded?.attempt === row.attempt ? meta.budgetExceeded : undefined;
  return {
    id: row.id,
    status: row.status,
    attempt: row.attempt,
    total: meta.total,
    maxConcurrency: meta.maxConcurrency,
    toleratedFailurePercent: meta.toleratedFailurePercent,
    toleratedFailures: meta.toleratedFailures,
    counts,
    budgetExceeded: exceeded
      ? { at: exceeded.at, failed: exceeded.failed, tolerated: meta.toleratedFailures }
      : null,
    error: row.error,
    warnings: row.warnings,
    createdAt: iso(row.createdAt) ?? new Date(0).toISOString(),
    startedAt: iso(row.startedAt),
    completedAt: iso(row.completedAt),
    children,
  };
}

/**
 * Cancels a batch: no further child starts, and every child that has not ended is cancelled —
 * the ones never started at once, the running ones as `POST /progress/:id/cancel` does (their
 * execution is stopped; the step in flight rolls back). Completed children stay.
 */
export async function cancelBatch(deps: ProvisionDeps, id: string, actor: Actor): Promise<Batch> {
  await batchRow(deps.db, id);
  const cancelled = await cancelRun(deps, id, actor);
  // The children the cancel just ended share its completion time.
  const refs = await deps.db
    .select({ ref: provisioningProgress.executionRef })
    .from(provisioningProgress)
    .where(
      and(
        eq(provisioningProgress.parentId, id),
        eq(provisioningProgress.status, "cancelled"),
        sql`${provisioningProgress.executionRef} IS NOT NULL`,
        sql`${provisioningProgress.completedAt} = ${cancelled.completedAt}::timestamp`,
      ),
    );
  for (const { ref } of refs) {
    if (!ref) continue;
    await deps.workflows.stop(ref, "cancelled with its batch").catch((error: unknown) => {
      deps.logger.warn("could not stop a child's execution", { batchId: id, executionRef: ref, error });
    });
  }
  await recordAudit(deps.db, {
    actorKeyId: actor.keyId,
    action: "batch.cancel",
    targetType: "progress",
    targetId: id,
    details: { childrenStopped: refs.length },
    requestId: actor.requestId,
  });
  return getBatch(deps.db, id);
}

/**
 * Retries a batch's children that did not complete, in one call: the batch runs again (a new
 * attempt with a fresh failure budget); each failed or cancelled child is resumed from its first
 * unfinished step, each never-started one started, `maxConcurrency` at a time. Children that
 * were cleaned up stay as they are.
 */
export async function retryBatch(deps: ProvisionDeps, id: string, actor: Actor): Promise<Batch> {
  const { db, clock } = deps;
  await batchRow(db, id);
  const run = await db.transaction(async (tx) => {
    const batch = await lockProgressRow(tx, id);
    if (isActive(batch.status))
      throw new ConflictError(`batch ${id} is ${batch.status}; retry it once it has ended`);
    if (!(await hasUnfinishedChildren(tx, id))) {
      throw new ConflictError(`batch ${id} has no child to retry: every child completed (or was cleaned up)`);
    }
    const now = clock();
    const updated = await saveProgress(
      tx,
      id,
      {
        status: "pending",
        attempt: batch.attempt + 1,
        error: null,
        completedAt: null,
        steps: resetFrom(batch.steps, BATCH_STEPS[0].name),
      },
      now,
    );
    await recordAudit(tx, {
      actorKeyId: actor.keyId,
      action: "batch.retry",
      targetType: "progress",
      targetId: id,
      details: { attempt: updated.attempt, previousStatus: batch.status },
      requestId: actor.requestId,
    });
    return updated;
  });
  await startRun(deps, run);
  return getBatch(db, id);
}
