/**
 * The rollout state machine's two Lambdas (statemachines/rollout.asl.json):
 *
 * - `NextWave` runs before every wave: it enforces the failure budget (FailureBudgetExceededError:
 *   the run fails, the rollout is halted), ends the execution when the rollout is pausing or
 *   done, and otherwise names the wave's tenants still to upgrade and the concurrency for the Map.
 *   Each wave is an action of the `NextWave` step on the rollout's progress record.
 * - `StartUpgrade` runs per tenant inside the Map: it creates the tenant's `upgrade` run (or says
 *   why not: rollout paused or aborted, budget spent, tenant no longer eligible) and hands its id
 *   and execution name to the Map item, which runs the upgrade state machine to its end.
 *
 * Both lock the rollout row, so they serialise with pause, resume and abort.
 */
import { and, count, eq, getTableColumns, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, templateRollouts, templateRolloutTenants, tenants } from "../../db/schema.ts";
import type { ProgressStep, StepAction } from "../../schemas/progress.ts";
import type { RolloutTenantStatus } from "../../schemas/rollouts.ts";
import {
  FailureBudgetExceededError,
  NotFoundError,
  RunCancelledError,
  ValidationError,
} from "../../shared/errors.ts";
import { executionName } from "../../workflows/execution-name.ts";
import { UPGRADE_STEPS } from "../../workflows/step-catalog.ts";
import { getProgressRow, insertRun, lockProgressRow, saveProgress } from "../runs/progress-store.ts";
import { emitRunStarted } from "../runs/run-events.ts";
import { isActive } from "../runs/run-status.ts";
import { firstUnfinishedStep, initialSteps } from "../runs/step-state.ts";
import { classifyStepError, databaseError, progressIdOf } from "../steps/run-step.ts";
import type { StepFactory } from "../steps/step-deps.ts";

type RolloutRow = typeof templateRollouts.$inferSelect;

export interface RolloutPlanOptions {
  readonly canaryWave: boolean;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercent: number;
  readonly pauseAfterCanary: boolean;
}

export function planOptions(rollout: RolloutRow): RolloutPlanOptions {
  const plan = rollout.plan as Partial<RolloutPlanOptions>;
  return {
    canaryWave: plan.canaryWave ?? false,
    maxConcurrency: plan.maxConcurrency ?? 1,
    toleratedFailurePercent: plan.toleratedFailurePercent ?? 0,
    pauseAfterCanary: plan.pauseAfterCanary ?? false,
  };
}

/**
 * Locks a rollout's row for the rest of the transaction. With `lockTimeoutMs`, the transaction's
 * `lock_timeout` is set in the same round trip (a step waiting longer fails transiently).
 */
export async function lockRollout(tx: Database, id: string, lockTimeoutMs?: number): Promise<RolloutRow> {
  const columns = getTableColumns(templateRollouts);
  const query =
    lockTimeoutMs === undefined
      ? tx.select(columns)
      : tx.select({
          ...columns,
          lockTimeout: sql<string>`set_config('lock_timeout', ${`${Math.max(1, Math.floor(lockTimeoutMs))}ms`}::text, true)`,
        });
  const [row] = await query.from(templateRollouts).where(eq(templateRollouts.id, id)).for("update");
  if (!row) throw new NotFoundError("rollout", id);
  const { lockTimeout: _set, ...rollout } = row as RolloutRow & { lockTimeout?: string };
  return rollout;
}

/** Failed upgrades the rollout tolerates: `toleratedFailurePercent` of its tenants, rounded down. */
export function toleratedFailures(rollout: RolloutRow): number {
  return Math.floor((rollout.tenantCount * planOptions(rollout).toleratedFailurePercent) / 100);
}

async function failedCount(tx: Database, rolloutId: string): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(templateRolloutTenants)
    .where(and(eq(templateRolloutTenants.rolloutId, rolloutId), eq(templateRolloutTenants.status, "failed")));
  return Number(row?.n ?? 0);
}

/** Per wave: how many of its tenants are in each status. */
async function waveCounts(
  tx: Database,
  rolloutId: string,
): Promise<Map<number, Partial<Record<RolloutTenantStatus, number>>>> {
  const rows = await tx
    .select({ wave: templateRolloutTenants.wave, status: templateRolloutTenants.status, n: count() })
    .from(templateRolloutTenants)
    .where(eq(templateRolloutTenants.rolloutId, rolloutId))
    .groupBy(templateRolloutTenants.wave, templateRolloutTenants.status);
  const waves = new Map<number, Partial<Record<RolloutTenantStatus, number>>>();
  for (const r of rows) {
    const counts = waves.get(r.wave) ?? {};
    counts[r.status] = Number(r.n);
    waves.set(r.wave, counts);
  }
  return waves;
}

function unfinished(counts: Partial<Record<RolloutTenantStatus, number>> | undefined): boolean {
  return (counts?.pending ?? 0) + (counts?.running ?? 0) > 0;
}

/** The `NextWave` step with one action per wave: done, current, or still to come. */
function waveStep(step: ProgressStep, totalWaves: number, current: number, now: Date): ProgressStep {
  const iso = now.toISOString();
  const actions: StepAction[] = [];
  for (let wave = 1; wave <= totalWaves; wave++) {
    const name = `wave-${wave}`;
    const before = step.actions?.find((a) => a.name === name);
    if (wave < current) {
      actions.push({
        name,
        status: "completed",
        attempts: Math.max(1, before?.attempts ?? 0),
        completedAt: before?.completedAt ?? iso,
        error: null,
      });
    } else if (wave === current) {
      const entering = before?.status !== "running";
      actions.push({
        name,
        status: "running",
        attempts: (before?.attempts ?? 0) + (entering ? 1 : 0),
        completedAt: null,
        error: null,
      });
    } else {
      actions.push(before ?? { name, status: "pending", attempts: 0, completedAt: null, error: null });
    }
  }
  return {
    ...step,
    status: "running",
    attempts: step.status === "running" ? step.attempts : step.attempts + 1,
    startedAt: step.startedAt ?? iso,
    passStartedAt: step.status === "running" ? (step.passStartedAt ?? iso) : iso,
    actions,
  };
}

export type NextWave =
  | {
      readonly action: "wave";
      readonly wave: number;
      readonly maxConcurrency: number;
      readonly items: { tenantId: string }[];
    }
  | { readonly action: "paused" | "done" };

export const nextWaveStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  try {
    const next: NextWave = await deps.db.transaction(async (tx) => {
      const run = await lockProgressRow(tx, progressId, deps.lockTimeoutMs);
      if (!isActive(run.status)) throw new RunCancelledError(progressId, run.status);
      const rollout = await lockRollout(tx, progressId);
      if (rollout.status === "aborted") throw new RunCancelledError(progressId, "aborted");
      const options = planOptions(rollout);
      const failed = await failedCount(tx, rollout.id);
      const tolerated = toleratedFailures(rollout);
      if (failed > tolerated) {
        throw new FailureBudgetExceededError(
          `${failed} of ${rollout.tenantCount} upgrades failed; the rollout tolerates ${options.toleratedFailurePercent}% (${tolerated}): no further upgrade was started`,
        );
      }
      const counts = await waveCounts(tx, rollout.id);
      let wave = rollout.currentWave;
      while (wave <= rollout.totalWaves && !unfinished(counts.get(wave))) wave++;
      const now = deps.clock();
      const save = (current: number) => {
        const step = run.steps.find((s) => s.name === "NextWave");
        if (!step) throw new ValidationError(`run ${progressId} has no step NextWave`);
        return saveProgress(
          tx,
          progressId,
          {
            status: "running",
            currentStep: "NextWave",
            steps: run.steps.map((s) =>
              s.name === "NextWave" ? waveStep(s, rollout.totalWaves, current, now) : s,
            ),
          },
          now,
        );
      };
      const setRollout = (changes: Partial<Pick<RolloutRow, "status" | "currentWave">>) =>
        tx
          .update(templateRollouts)
          .set({ ...changes, updatedAt: now })
          .where(eq(templateRollouts.id, rollout.id));

      if (wave > rollout.totalWaves) {
        await save(rollout.totalWaves + 1);
        await setRollout({ currentWave: rollout.totalWaves });
        return { action: "done" } as const;
      }
      const afterCanary =
        options.pauseAfterCanary && options.canaryWave && rollout.currentWave === 1 && wave > 1;
      if (rollout.status === "pausing" || rollout.status === "paused" || afterCanary) {
        await save(wave);
        await setRollout({ status: "paused", currentWave: wave });
        return { action: "paused" } as const;
      }
      await save(wave);
      await setRollout({ currentWave: wave });
      const items = await tx
        .select({ tenantId: templateRolloutTenants.tenantId })
        .from(templateRolloutTenants)
        .where(
          and(
            eq(templateRolloutTenants.rolloutId, rollout.id),
            eq(templateRolloutTenants.wave, wave),
            sql`${templateRolloutTenants.status} IN ('pending', 'running')`,
          ),
        )
        .orderBy(templateRolloutTenants.position);
      return { action: "wave", wave, maxConcurrency: options.maxConcurrency, items } as const;
    });
    return next as unknown as Record<string, unknown>;
  } catch (error) {
    if (error instanceof FailureBudgetExceededError) throw error;
    throw classifyStepError(error, databaseError);
  }
};

export type StartUpgrade =
  | {
      readonly action: "start";
      readonly progressId: string;
      readonly startAt: string;
      readonly executionName: string;
    }
  | { readonly action: "skip"; readonly reason: string };

function stringField(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== "string" || value.length === 0) throw new ValidationError(`step input has no ${name}`);
  return value;
}

export const startUpgradeStep: StepFactory = (deps) => async (input) => {
  const rolloutId = stringField(input, "rolloutId");
  const tenantId = stringField(input, "tenantId");
  try {
    const decision: StartUpgrade = await deps.db.transaction(async (tx) => {
      // Bounded: a tenant row held elsewhere (its insert's foreign key check waits) must not hold
      // the rollout's lock, and with it every other item of the wave, for long.
      const rollout = await lockRollout(tx, rolloutId, deps.lockTimeoutMs);
      const [entry] = await tx
        .select()
        .from(templateRolloutTenants)
        .where(
          and(eq(templateRolloutTenants.rolloutId, rolloutId), eq(templateRolloutTenants.tenantId, tenantId)),
        )
        .for("update");
      if (!entry) throw new ValidationError(`tenant ${tenantId} is not part of rollout ${rolloutId}`);
      const now = deps.clock();
      const setEntry = (changes: Partial<typeof templateRolloutTenants.$inferInsert>) =>
        tx
          .update(templateRolloutTenants)
          .set({ ...changes, updatedAt: now })
          .where(
            and(
              eq(templateRolloutTenants.rolloutId, rolloutId),
              eq(templateRolloutTenants.tenantId, tenantId),
            ),
          );

      if (entry.status !== "pending" && entry.status !== "running") {
        return { action: "skip", reason: `already ${entry.status}` } as const;
      }
      if (entry.upgradeProgressId) {
        // A new execution of the rollout passing through (resumed after a restart): the upgrade
        // run exists; run it to its end again (its step does nothing twice) rather than anew.
        const upgrade = await getProgressRow(tx, entry.upgradeProgressId);
        if (upgrade && isActive(upgrade.status)) {
          return {
            action: "start",
            progressId: upgrade.id,
            startAt: firstUnfinishedStep(upgrade.steps)?.name ?? "UpgradeTenant",
            executionName: executionName(upgrade.id, upgrade.attempt, now),
          } as const;
        }
        return { action: "skip", reason: `its upgrade run is ${upgrade?.status ?? "gone"}` } as const;
      }
      if (rollout.status !== "running")
        return { action: "skip", reason: `rollout ${rollout.status}` } as const;
      if ((await failedCount(tx, rolloutId)) > toleratedFailures(rollout)) {
        return { action: "skip", reason: "failure budget exceeded" } as const;
      }
      const [tenant] = await tx
        .select({ status: tenants.status, templateId: tenants.templateId, version: tenants.templateVersion })
        .from(tenants)
        .where(eq(tenants.id, tenantId));
      const ineligible = !tenant
        ? "the tenant no longer exists"
        : tenant.status !== "active"
          ? `the tenant is ${tenant.status}`
          : tenant.templateId !== rollout.templateId
            ? "the tenant is on another template"
            : (tenant.version ?? 0) >= rollout.targetVersion
              ? `the tenant is already on version ${tenant.version}`
              : undefined;
      const [inFlight] = ineligible
        ? []
        : await tx
            .select({ id: provisioningProgress.id })
            .from(provisioningProgress)
            .where(
              and(
                eq(provisioningProgress.tenantId, tenantId),
                sql`${provisioningProgress.kind} IN ('deprovision', 'restore', 'upgrade')`,
                sql`${provisioningProgress.status} IN ('pending', 'running')`,
              ),
            );
      const reason = ineligible ?? (inFlight ? `run ${inFlight.id} of the tenant is in flight` : undefined);
      if (reason) {
        await setEntry({ status: "skipped", error: reason });
        return { action: "skip", reason } as const;
      }
      const run = await insertRun(tx, {
        kind: "upgrade",
        tenantId,
        templateId: rollout.templateId,
        templateVersion: rollout.targetVersion,
        steps: initialSteps(UPGRADE_STEPS),
        metadata: { rolloutId, wave: entry.wave, fromVersion: entry.fromVersion },
        now,
      });
      await setEntry({ status: "running", upgradeProgressId: run.id, error: null });
      await emitRunStarted(tx, run, now);
      return {
        action: "start",
        progressId: run.id,
        startAt: UPGRADE_STEPS[0].name,
        executionName: executionName(run.id, run.attempt, now),
      } as const;
    });
    return decision as unknown as Record<string, unknown>;
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
};
