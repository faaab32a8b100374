/**
 * Rollouts as the API sees them: plan (dry run), start, read, list, pause, resume, abort. A
 * rollout is a run of kind `rollout` (the progress record with the same id shows its waves as the
 * actions of its `NextWave` step) plus its `template_rollouts` row and one row per tenant.
 *
 * - pause: no new upgrade starts; the ones in flight finish; the execution ends after the wave's
 *   Map (`pausing`, then `paused`).
 * - resume: a `pausing` rollout simply goes on; a `paused` one gets a new execution; a `halted`
 *   one (failure budget spent) is recovered — its NextWave checks the budget again, so retry the
 *   failed upgrades first (`POST /progress/:id/recover` on each).
 * - abort: tenants not started are skipped, the rollout run is cancelled, upgrades in flight are
 *   cancelled (each either committed — the tenant is upgraded — or rolls back to the old version).
 */
import { and, count, desc, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, templateRollouts, templateRolloutTenants, tenants } from "../../db/schema.ts";
import {
  ROLLOUT_TENANT_STATUSES,
  type Rollout,
  type RolloutPlan,
  type RolloutRequest,
  type RolloutStatus,
  type RolloutTenantStatus,
} from "../../schemas/rollouts.ts";
import { ConflictError, NotFoundError, sqlState } from "../../shared/errors.ts";
import { ROLLOUT_STEPS } from "../../workflows/step-catalog.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import { insertRun, lockProgressRow, saveProgress } from "../runs/progress-store.ts";
import { cancelRun, recoverRun } from "../runs/run-control.ts";
import { emitRunStarted } from "../runs/run-events.ts";
import { isActive } from "../runs/run-status.ts";
import { type RunDeps, startRun } from "../runs/start-run.ts";
import { initialSteps } from "../runs/step-state.ts";
import { planRollout } from "./rollout-plan.ts";
import { lockRollout } from "./rollout-steps.ts";

/** Rows per INSERT of a rollout's tenants. */
const INSERT_BATCH = 500;

type RolloutRow = typeof templateRollouts.$inferSelect;

function emptyCounts(): Record<RolloutTenantStatus, number> {
  return Object.fromEntries(ROLLOUT_TENANT_STATUSES.map((s) => [s, 0])) as Record<
    RolloutTenantStatus,
    number
  >;
}

function toRollout(
  row: RolloutRow,
  counts: Record<RolloutTenantStatus, number>,
  error: string | null,
): Rollout {
  const plan = row.plan as Record<string, unknown>;
  return {
    id: row.id,
    templateId: row.templateId,
    targetVersion: row.targetVersion,
    status: row.status,
    plan: {
      canary: plan.canary as number | string[],
      waveSize: plan.waveSize as number,
      maxConcurrency: plan.maxConcurrency as number,
      toleratedFailurePercent: plan.toleratedFailurePercent as number,
      pauseAfterCanary: plan.pauseAfterCanary as boolean,
      confirmDestructive: plan.confirmDestructive as boolean,
    },
    tenantCount: row.tenantCount,
    currentWave: row.currentWave,
    totalWaves: row.totalWaves,
    counts,
    error,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    completedAt: row.completedAt ? row.completedAt.toISOString() : null,
  };
}

/** The dry run: the plan, nothing changed. */
export async function planOnly(db: Database, request: RolloutRequest): Promise<RolloutPlan> {
  return (await planRollout(db, request)).plan;
}

/** Starts a rollout: its run, its rows, its execution. */
export async function startRollout(deps: RunDeps, request: RolloutRequest, actor: Actor): Promise<Rollout> {
  const { db, clock } = deps;
  const { plan, tenants: planned, canaryWave } = await planRollout(db, request);
  if (plan.destructive.length > 0 && !request.confirmDestructive) {
    throw new ConflictError(
      `version ${plan.targetVersion} has tenant migrations that would drop or rewrite data (${plan.destructive
        .map((d) => d.migration)
        .filter((m, i, all) => all.indexOf(m) === i)
        .join(", ")}); roll it out with confirmDestructive: true if that is intended`,
      { destructive: plan.destructive },
    );
  }
  const run = await db
    .transaction(async (tx) => {
      const now = clock();
      const inserted = await insertRun(tx, {
        kind: "rollout",
        tenantId: null,
        templateId: plan.templateId,
        templateVersion: plan.targetVersion,
        steps: initialSteps(ROLLOUT_STEPS),
        metadata: { tenantCount: plan.tenantCount, waves: plan.waves.length },
        now,
      });
      await tx.insert(templateRollouts).values({
        id: inserted.id,
        templateId: plan.templateId,
        targetVersion: plan.targetVersion,
        status: "running",
        plan: {
          canary: request.canary,
          canaryWave,
          waveSize: request.waveSize,
          maxConcurrency: request.maxConcurrency,
          toleratedFailurePercent: request.toleratedFailurePercent,
          pauseAfterCanary: request.pauseAfterCanary,
          confirmDestructive: request.confirmDestructive,
        },
        totalWaves: plan.waves.length,
        currentWave: 1,
        tenantCount: plan.tenantCount,
        createdBy: actor.keyId,
        createdAt: now,
        updatedAt: now,
      });
      for (let i = 0; i < planned.length; i += INSERT_BATCH) {
        await tx.insert(templateRolloutTenants).values(
          planned.slice(i, i + INSERT_BATCH).map((t) => ({
            rolloutId: inserted.id,
            tenantId: t.tenantId,
            wave: t.wave,
            position: t.position,
            fromVersion: t.fromVersion,
            updatedAt: now,
          })),
        );
      }
      await emitRunStarted(tx, inserted, now);
      await recordAudit(tx, {
        actorKeyId: actor.keyId,
        action: "rollout.start",
        targetType: "rollout",
        targetId: inserted.id,
        details: {
          templateId: plan.templateId,
          targetVersion: plan.targetVersion,
          tenants: plan.tenantCount,
          waves: plan.waves.length,
        },
        requestId: actor.requestId,
      });
      return inserted;
    })
    .catch((error: unknown) => {
      if (sqlState(error) === "23505") {
        throw new ConflictError(
          `template ${plan.templateId} has a rollout in progress; abort or finish it first`,
        );
      }
      throw error;
    });
  await startRun(deps, run);
  return getRollout(db, run.id, false);
}

async function countsOf(
  db: Database,
  ids: readonly string[],
): Promise<Map<string, Record<RolloutTenantStatus, number>>> {
  const result = new Map<string, Record<RolloutTenantStatus, number>>();
  if (ids.length === 0) return result;
  const rows = await db
    .select({ id: templateRolloutTenants.rolloutId, status: templateRolloutTenants.status, n: count() })
    .from(templateRolloutTenants)
    .where(inArray(templateRolloutTenants.rolloutId, [...ids]))
    .groupBy(templateRolloutTenants.rolloutId, templateRolloutTenants.status);
  for (const r of rows) {
    const counts = result.get(r.id) ?? emptyCounts();
    counts[r.status] = Number(r.n);
    result.set(r.id, counts);
  }
  return result;
}

/** One rollout; with `waves`, every wave and its tenants. */
export async function getRollout(db: Database, id: string, waves = true): Promise<Rollout> {
  const [found] = await db
    .select({ rollout: templateRollouts, error: provisioningProgress.error })
    .from(templateRollouts)
    .leftJoin(provisioningProgress, eq(provisioningProgress.id, templateRollouts.id))
    .where(eq(templateRollouts.id, id));
  if (!found) throw new NotFoundError("rollout", id);
  const rollout = toRollout(found.rollout, (await countsOf(db, [id])).get(id) ?? emptyCounts(), found.error);
  if (!waves) return rollout;
  const rows = await db
    .select({
      wave: templateRolloutTenants.wave,
      tenantId: templateRolloutTenants.tenantId,
      slug: tenants.slug,
      name: tenants.name,
      fromVersion: templateRolloutTenants.fromVersion,
      status: templateRolloutTenants.status,
      upgradeProgressId: templateRolloutTenants.upgradeProgressId,
      error: templateRolloutTenants.error,
    })
    .from(templateRolloutTenants)
    .leftJoin(tenants, eq(tenants.id, templateRolloutTenants.tenantId))
    .where(eq(templateRolloutTenants.rolloutId, id))
    .orderBy(templateRolloutTenants.wave, templateRolloutTenants.position);
  const canaryWave = Boolean((found.rollout.plan as { canaryWave?: boolean }).canaryWave);
  const byWave = new Map<number, NonNullable<Rollout["waves"]>[number]>();
  for (const r of rows) {
    let wave = byWave.get(r.wave);
    if (!wave) {
      wave = { wave: r.wave, canary: canaryWave && r.wave === 1, counts: emptyCounts(), tenants: [] };
      byWave.set(r.wave, wave);
    }
    wave.counts[r.status] += 1;
    wave.tenants.push({
      tenantId: r.tenantId,
      slug: r.slug ?? null,
      name: r.name ?? "(removed)",
      fromVersion: r.fromVersion,
      status: r.status,
      upgradeProgressId: r.upgradeProgressId,
      error: r.error,
    });
  }
  return { ...rollout, waves: [...byWave.values()] };
}

export interface ListRolloutsOptions {
  readonly limit: number;
  readonly offset: number;
  readonly status?: RolloutStatus | undefined;
  readonly templateId?: string | undefined;
}

export async function listRollouts(
  db: Database,
  options: ListRolloutsOptions,
): Promise<{ items: Rollout[]; total: number; limit: number; offset: number }> {
  const conditions: SQL[] = [];
  if (options.status) conditions.push(eq(templateRollouts.status, options.status));
  if (options.templateId) conditions.push(eq(templateRollouts.templateId, options.templateId));
  const where = conditions.length > 0 ? and(...conditions) : undefined;
  const [rows, totals] = await Promise.all([
    db
      .select({ rollout: templateRollouts, error: provisioningProgress.error })
      .from(templateRollouts)
      .leftJoin(provisioningProgress, eq(provisioningProgress.id, templateRollouts.id))
      .where(where)
      .orderBy(desc(templateRollouts.createdAt), desc(templateRollouts.id))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(templateRollouts).where(where),
  ]);
  const counts = await countsOf(
    db,
    rows.map((r) => r.rollout.id),
  );
  return {
    items: rows.map((r) => toRollout(r.rollout, counts.get(r.rollout.id) ?? emptyCounts(), r.error)),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

function audit(
  tx: Database,
  actor: Actor,
  action: "rollout.pause" | "rollout.resume" | "rollout.abort",
  id: string,
  details: Record<string, unknown>,
) {
  return recordAudit(tx, {
    actorKeyId: actor.keyId,
    action,
    targetType: "rollout",
    targetId: id,
    details,
    requestId: actor.requestId,
  });
}

/** Pause: no new upgrade starts; the ones in flight finish. */
export async function pauseRollout(deps: RunDeps, id: string, actor: Actor): Promise<Rollout> {
  await deps.db.transaction(async (tx) => {
    const rollout = await lockRollout(tx, id);
    if (rollout.status !== "running") {
      throw new ConflictError(`rollout ${id} is ${rollout.status}; only a running rollout can be paused`);
    }
    await tx
      .update(templateRollouts)
      .set({ status: "pausing", updatedAt: deps.clock() })
      .where(eq(templateRollouts.id, id));
    await audit(tx, actor, "rollout.pause", id, {});
  });
  return getRollout(deps.db, id, false);
}

/** Resume a pausing, paused or halted rollout. */
export async function resumeRollout(deps: RunDeps, id: string, actor: Actor): Promise<Rollout> {
  const { db, clock } = deps;
  const outcome = await db.transaction(async (tx) => {
    const rollout = await lockRollout(tx, id);
    if (rollout.status === "halted") return "recover" as const;
    if (rollout.status !== "pausing" && rollout.status !== "paused") {
      throw new ConflictError(
        `rollout ${id} is ${rollout.status}; only a paused or halted rollout can be resumed`,
      );
    }
    const now = clock();
    await tx
      .update(templateRollouts)
      .set({ status: "running", updatedAt: now })
      .where(eq(templateRollouts.id, id));
    await audit(tx, actor, "rollout.resume", id, { previousStatus: rollout.status });
    // Pausing: its execution has not ended and simply goes on.
    if (rollout.status === "pausing") return "continues" as const;
    const run = await lockProgressRow(tx, id);
    if (!isActive(run.status)) throw new ConflictError(`rollout ${id}'s run is ${run.status}`);
    // A new attempt: the paused execution's end is an earlier attempt's.
    return saveProgress(tx, id, { attempt: run.attempt + 1 }, now);
  });
  if (outcome === "recover") {
    await recoverRun(deps, id, actor);
  } else if (outcome !== "continues") {
    await startRun(deps, outcome, { startAt: "NextWave" });
  }
  return getRollout(db, id, false);
}

/** Abort: nothing more starts; what is in flight is cancelled; upgraded tenants stay upgraded. */
export async function abortRollout(deps: RunDeps, id: string, actor: Actor): Promise<Rollout> {
  const { db, clock, logger } = deps;
  const runActive = await db.transaction(async (tx) => {
    const rollout = await lockRollout(tx, id);
    if (rollout.status === "completed" || rollout.status === "aborted") {
      throw new ConflictError(`rollout ${id} is ${rollout.status}; it cannot be aborted`);
    }
    const now = clock();
    await tx
      .update(templateRollouts)
      .set({ status: "aborted", completedAt: now, updatedAt: now })
      .where(eq(templateRollouts.id, id));
    await tx
      .update(templateRolloutTenants)
      .set({ status: "skipped", error: "the rollout was aborted", updatedAt: now })
      .where(and(eq(templateRolloutTenants.rolloutId, id), eq(templateRolloutTenants.status, "pending")));
    await audit(tx, actor, "rollout.abort", id, { previousStatus: rollout.status });
    const [run] = await tx
      .select({ status: provisioningProgress.status })
      .from(provisioningProgress)
      .where(eq(provisioningProgress.id, id));
    return run?.status !== undefined && run.status !== null && isActive(run.status);
  });
  if (runActive)
    await cancelRun(deps, id, actor).catch((error: unknown) => {
      if (!(error instanceof ConflictError)) throw error;
    });
  const inFlight = await db
    .select({ id: templateRolloutTenants.upgradeProgressId })
    .from(templateRolloutTenants)
    .innerJoin(provisioningProgress, eq(provisioningProgress.id, templateRolloutTenants.upgradeProgressId))
    .where(
      and(
        eq(templateRolloutTenants.rolloutId, id),
        sql`${provisioningProgress.status} IN ('pending', 'running')`,
      ),
    );
  for (const { id: upgradeId } of inFlight) {
    if (!upgradeId) continue;
    await cancelRun(deps, upgradeId, actor).catch((error: unknown) => {
      // It finished meanwhile: its hook has recorded how.
      if (!(error instanceof ConflictError)) throw error;
      logger.debug("upgrade finished before its cancel", { progressId: upgradeId });
    });
  }
  return getRollout(db, id, false);
}
