/**
 * `UpgradeTenant`, the one step of an `upgrade` run: in ONE transaction (the step contract's), the
 * tenant's new tenant migrations, its new configuration rows and feature flags, its new settings
 * and limits, and its new version. A failure rolls all of it back: the tenant stays entirely on
 * its old version. The tenant stays `active` throughout (the migrations only add). For a tenant on
 * another cell than `main` the schema's part commits on that cell first (once per run), then the
 * rest here: a failure of the rest leaves the schema ahead of the recorded version until the retry.
 *
 * Values the tenant changed are kept: a configuration row, setting or limit is moved to the new
 * template value only while it still holds the old template value (or does not exist yet).
 * Idempotent: a tenant already on the target version (or newer) is left alone.
 */
import { eq, sql } from "drizzle-orm";
import { tenants } from "../../db/schema.ts";
import { safeIdentifier } from "../../db/sql.ts";
import { MigrationError, ValidationError } from "../../shared/errors.ts";
import { type Cell, CONTROL_PLANE_CELL, cellsOf } from "../cells/cell-directory.ts";
import { cellOfRun, tenantCellScope } from "../cells/tenant-cell-scope.ts";
import { classifyStepError, databaseError, progressIdOf, runStep } from "../steps/run-step.ts";
import type { StepFactory } from "../steps/step-deps.ts";
import { applyTenantMigrations, tenantSchemaName } from "../tenants/tenant-schema.ts";
import { loadVersions, upgradeChanges, type ValueChange } from "./version-changes.ts";

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `current` with each changed key moved to its new value, unless the tenant changed it. */
export function mergeUnchanged<T>(
  current: Record<string, T>,
  changes: Record<string, ValueChange>,
): Record<string, T> {
  const merged = { ...current };
  for (const [key, change] of Object.entries(changes)) {
    if (current[key] === undefined || same(current[key], change.from)) merged[key] = change.to as T;
  }
  return merged;
}

/** The tenant's feature list: the flags the template turned on added, the ones it turned off removed. */
export function mergeFeatures(
  current: readonly string[],
  from: readonly string[],
  to: readonly string[],
): string[] {
  const added = to.filter((f) => !from.includes(f));
  const removed = new Set(from.filter((f) => !to.includes(f)));
  return [...new Set([...current.filter((f) => !removed.has(f)), ...added])];
}

export const upgradeTenantStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  // The tenant's cell, looked up before the step's transaction opens (cellOfRun says why).
  let cell: Cell | null;
  try {
    cell = await cellOfRun(deps, progressId);
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
  const outcome = await runStep(
    deps,
    progressId,
    "UpgradeTenant",
    async ({ tx, progress, now }) => {
      if (!progress.tenantId || !progress.templateId || progress.templateVersion === null) {
        throw new ValidationError(`upgrade run ${progressId} names no tenant, template or version`);
      }
      const target = progress.templateVersion;
      const [tenant] = await tx
        .select({
          status: tenants.status,
          templateId: tenants.templateId,
          templateVersion: tenants.templateVersion,
          settings: tenants.settings,
          limits: tenants.limits,
        })
        .from(tenants)
        .where(eq(tenants.id, progress.tenantId))
        .for("update");
      if (!tenant) throw new ValidationError(`tenant ${progress.tenantId} does not exist`);
      // Already there (an execution passing through again, or upgraded another way).
      if (tenant.templateVersion !== null && tenant.templateVersion >= target) return;
      if (tenant.status !== "active") {
        throw new ValidationError(
          `tenant ${progress.tenantId} is ${tenant.status}; only active tenants are upgraded`,
        );
      }
      if (tenant.templateId !== progress.templateId || tenant.templateVersion === null) {
        throw new ValidationError(
          `tenant ${progress.tenantId} is not on a version of template ${progress.templateId}`,
        );
      }
      const versions = await loadVersions(tx, progress.templateId, [tenant.templateVersion, target]);
      const from = versions.get(tenant.templateVersion)!;
      const to = versions.get(target)!;
      const changes = upgradeChanges(from, to);

      // The schema's part: on `main` in this transaction, all or nothing with the new version as
      // ever. On another cell it cannot share this transaction: it commits there first, once for
      // this run (a retry after the control-plane part failed finds it done — both parts are
      // idempotent anyway: migrations apply only what is missing, a configuration row moves only
      // while it holds the old value), then the version below commits here.
      const scope = tenantCellScope(
        tx,
        cell ?? (await cellsOf(deps).cell(CONTROL_PLANE_CELL)),
        { progressId, tenantId: progress.tenantId, step: "UpgradeTenant" },
        deps.lockTimeoutMs,
      );
      await scope.once("schema", async (db) => {
        await applyTenantMigrations(db, progress.tenantId!, to.migrations);
        const table = sql.raw(`${safeIdentifier(tenantSchemaName(progress.tenantId!))}.configurations`);
        for (const [key, change] of Object.entries(changes.configurations)) {
          const value = JSON.stringify(change.to);
          // A row still holding the old template value follows the template; one the tenant set stays.
          await db.execute(
            change.from === undefined
              ? sql`INSERT INTO ${table} (key, value, source) VALUES (${key}, ${value}::jsonb, 'template')
                    ON CONFLICT (key) DO NOTHING`
              : sql`INSERT INTO ${table} (key, value, source) VALUES (${key}, ${value}::jsonb, 'template')
                    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
                    WHERE ${table}.source = 'template' AND ${table}.value = ${JSON.stringify(change.from)}::jsonb`,
          );
        }
      });

      const { features: currentFeatures, ...currentSettings } = tenant.settings as {
        features?: string[];
      } & Record<string, unknown>;
      const fromFeatures = ((from.settings as { features?: string[] }).features ?? []) as string[];
      const toFeatures = ((to.settings as { features?: string[] }).features ?? []) as string[];
      const settingChanges = Object.fromEntries(
        Object.entries(changes.configurations)
          .filter(([key]) => key.startsWith("settings."))
          .map(([key, change]) => [key.slice("settings.".length), change]),
      );
      await tx
        .update(tenants)
        .set({
          templateVersion: target,
          settings: {
            ...mergeUnchanged(currentSettings, settingChanges),
            features: mergeFeatures(currentFeatures ?? [], fromFeatures, toFeatures),
          },
          limits: mergeUnchanged(tenant.limits, changes.limits),
          updatedAt: now,
        })
        .where(eq(tenants.id, progress.tenantId));
    },
    (message, cause) => new MigrationError(message, { cause }),
  );
  return { step: "UpgradeTenant", outcome };
};
