/**
 * A rollout's plan: which tenants move to the target version, in which waves, and what each
 * version they are on gets. The dry run answers it; starting a rollout stores it, one row per
 * tenant, and the waves then follow the stored rows — so the dry run's plan is what runs.
 *
 * Tenants: those of the template that are `active` and on an older version, oldest first
 * (created_at, id), at most `MAX_ROLLOUT_TENANTS`; the canary wave comes first (that many tenants,
 * or the named ones), then waves of `waveSize`.
 */
import { and, asc, count, eq, isNotNull, lt } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenants, tenantTemplates } from "../../db/schema.ts";
import { MAX_ROLLOUT_TENANTS, type RolloutPlan, type RolloutRequest } from "../../schemas/rollouts.ts";
import { ConflictError, NotFoundError, RequestValidationError } from "../../shared/errors.ts";
import { destructiveStatements, loadVersions, upgradeChanges } from "./version-changes.ts";

export interface PlannedTenant {
  readonly tenantId: string;
  readonly slug: string | null;
  readonly name: string;
  readonly fromVersion: number;
  readonly wave: number;
  readonly position: number;
}

export interface ComputedPlan {
  readonly plan: RolloutPlan;
  readonly tenants: readonly PlannedTenant[];
  /** Whether wave 1 is a canary wave. */
  readonly canaryWave: boolean;
}

/** Computes the plan of `request` (reads only). */
export async function planRollout(db: Database, request: RolloutRequest): Promise<ComputedPlan> {
  const [template] = await db
    .select({
      id: tenantTemplates.id,
      version: tenantTemplates.version,
      deletedAt: tenantTemplates.deletedAt,
    })
    .from(tenantTemplates)
    .where(eq(tenantTemplates.id, request.templateId));
  if (!template) throw new NotFoundError("template", request.templateId);
  if (template.deletedAt) throw new ConflictError(`template ${request.templateId} is deleted`);
  const target = request.targetVersion ?? template.version;
  if (target > template.version) {
    throw new NotFoundError(`template ${request.templateId} version`, String(target));
  }

  const eligible = and(
    eq(tenants.templateId, request.templateId),
    eq(tenants.status, "active"),
    isNotNull(tenants.templateVersion),
    lt(tenants.templateVersion, target),
  );
  const [rows, totals] = await Promise.all([
    db
      .select({ id: tenants.id, slug: tenants.slug, name: tenants.name, version: tenants.templateVersion })
      .from(tenants)
      .where(eligible)
      .orderBy(asc(tenants.createdAt), asc(tenants.id))
      .limit(MAX_ROLLOUT_TENANTS),
    db.select({ n: count() }).from(tenants).where(eligible),
  ]);
  if (rows.length === 0) {
    throw new ConflictError(
      `no active tenant of template ${request.templateId} is on a version older than ${target}`,
    );
  }

  // The canary: the first N, or the named tenants (by id or slug), who must be among the eligible.
  let canary: typeof rows;
  if (typeof request.canary === "number") {
    canary = rows.slice(0, request.canary);
  } else {
    canary = request.canary.map((ref) => {
      const found = rows.find((r) => r.id === ref || r.slug === ref);
      if (!found) {
        throw RequestValidationError.field(
          "canary",
          `${ref} is not an active tenant of this template on a version older than ${target}`,
        );
      }
      return found;
    });
  }
  const inCanary = new Set(canary.map((r) => r.id));
  const rest = rows.filter((r) => !inCanary.has(r.id));
  const waves: (typeof rows)[] = canary.length > 0 ? [canary] : [];
  for (let i = 0; i < rest.length; i += request.waveSize) waves.push(rest.slice(i, i + request.waveSize));

  const fromVersions = [...new Set(rows.map((r) => r.version as number))].sort((a, b) => a - b);
  const versions = await loadVersions(db, request.templateId, [...fromVersions, target]);
  const targetSpec = versions.get(target)!;
  const changes = Object.fromEntries(
    fromVersions.map((v) => [String(v), upgradeChanges(versions.get(v)!, targetSpec)]),
  );
  const newMigrations = [...new Set(Object.values(changes).flatMap((c) => c.migrations))];

  const planned: PlannedTenant[] = waves.flatMap((wave, w) =>
    wave.map((r, i) => ({
      tenantId: r.id,
      slug: r.slug,
      name: r.name,
      fromVersion: r.version as number,
      wave: w + 1,
      position: i,
    })),
  );
  return {
    canaryWave: canary.length > 0,
    tenants: planned,
    plan: {
      dryRun: true,
      templateId: request.templateId,
      targetVersion: target,
      tenantCount: rows.length,
      deferredTenants: Number(totals[0]?.n ?? rows.length) - rows.length,
      changes,
      destructive: destructiveStatements(newMigrations),
      waves: waves.map((wave, w) => ({
        wave: w + 1,
        canary: w === 0 && canary.length > 0,
        tenants: wave.map((r) => ({
          tenantId: r.id,
          slug: r.slug,
          name: r.name,
          fromVersion: r.version as number,
        })),
      })),
    },
  };
}
