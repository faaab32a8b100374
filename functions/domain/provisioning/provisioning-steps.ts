/**
 * The work of each provisioning step. Every function here runs inside `runStep`, i.e. in the one
 * transaction that also marks the step completed, with the progress row locked.
 */
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { adminInvitations, provisioningSecrets, tenants, users } from "../../db/schema.ts";
import { numberValue, queryRows, safeIdentifier } from "../../db/sql.ts";
import {
  FEATURE_FLAGS,
  POST_PROVISIONING_ACTIONS,
  type PostProvisioningAction,
} from "../../schemas/templates.ts";
import { ConfigurationError, MigrationError, ValidationError } from "../../shared/errors.ts";
import {
  type PermanentErrorFactory,
  progressIdOf,
  runStep,
  type StepContext,
  type StepTarget,
} from "../steps/run-step.ts";
import type { StepDeps, StepFactory } from "../steps/step-deps.ts";
import { applyTenantMigrations, tenantSchemaName } from "../tenants/tenant-schema.ts";
import { POST_PROVISIONING_REGISTRY } from "./post-provisioning-actions.ts";
import { loadRunSpec, type RunSpec } from "./run-spec.ts";

/** Rows per INSERT statement when creating initial data. */
export const INSERT_BATCH_SIZE = 500;

type Work = (ctx: StepContext, spec: RunSpec) => Promise<void>;

function provisioningStep(step: string, work: Work, permanent?: PermanentErrorFactory): StepFactory {
  return (deps: StepDeps) => async (input) => {
    const progressId = progressIdOf(input);
    const outcome = await runStep(
      deps,
      progressId,
      step,
      async (ctx) => work(ctx, await loadRunSpec(ctx.tx, ctx.progress)),
      permanent,
    );
    return { step, outcome };
  };
}

// --- CreateTenant -------------------------------------------------------------------------------

/** Applies the template's settings, limits and version to the tenant row the API reserved. */
export const createTenantStep = provisioningStep("CreateTenant", async ({ tx, progress, now }, spec) => {
  const updated = await tx
    .update(tenants)
    .set({
      name: spec.metadata.tenant.name,
      settings: spec.template.settings,
      limits: spec.template.limits as Record<string, number>,
      templateId: progress.templateId,
      templateVersion: progress.templateVersion,
      status: "provisioning",
      updatedAt: now,
    })
    .where(eq(tenants.id, spec.tenantId))
    .returning({ id: tenants.id });
  if (updated.length === 0)
    throw new ValidationError(`tenant ${spec.tenantId} no longer exists (cleaned up?)`);
});

// --- CreateAdminUser ----------------------------------------------------------------------------

/**
 * Creates the tenant administrator from the password hash the API stored; then forgets the hash.
 * A run requested without a password creates the admin with none, and its invitation (whose token
 * the welcome notification issues: a token made here would have to be kept until then).
 */
export const createAdminUserStep = provisioningStep(
  "CreateAdminUser",
  async ({ tx, progress, now }, spec) => {
    const email = spec.metadata.admin.email.toLowerCase();
    const invited = spec.metadata.admin.invitation !== undefined;
    // Whether the admin exists (a retried step) and the stored hash, in one round trip.
    const [found] = await queryRows<{ existing: string | null; hash: string | null }>(
      tx,
      sql`SELECT (SELECT id::text FROM users WHERE tenant_id = ${spec.tenantId}::uuid AND email = ${email}) AS existing,
                 (SELECT admin_password_hash FROM provisioning_secrets WHERE progress_id = ${progress.id}::uuid) AS hash`,
    );
    let adminId = found?.existing ?? null;
    if (!adminId) {
      if (!found?.hash && !invited) {
        throw new ValidationError(
          "the admin password is no longer available; clean up this run and provision again",
        );
      }
      const [created] = await tx
        .insert(users)
        .values({
          tenantId: spec.tenantId,
          email,
          name: spec.metadata.admin.name,
          role: "tenant_admin",
          passwordHash: invited ? null : found!.hash,
          createdAt: now,
          updatedAt: now,
        })
        .returning({ id: users.id });
      adminId = created!.id;
    }
    if (invited) {
      await tx
        .insert(adminInvitations)
        .values({ tenantId: spec.tenantId, userId: adminId, progressId: progress.id, createdAt: now })
        .onConflictDoNothing();
    }
    await tx.delete(provisioningSecrets).where(eq(provisioningSecrets.progressId, progress.id));
  },
);

// --- RunMigrations ------------------------------------------------------------------------------

/** Creates the tenant schema and applies the template's tenant migrations that are not applied yet. */
export const runMigrationsStep = provisioningStep(
  "RunMigrations",
  async ({ tx }, spec) => applyTenantMigrations(tx, spec.tenantId, spec.template.migrations),
  (message, cause) => new MigrationError(message, { cause }),
);

// --- SetupConfigurations ------------------------------------------------------------------------

/** The template's settings, every feature flag (on or off) and its configurations, as rows. */
export function configurationEntries(spec: RunSpec): { key: string; value: unknown; source: string }[] {
  const entries: { key: string; value: unknown; source: string }[] = [];
  const { features, ...settings } = spec.template.settings;
  for (const [key, value] of Object.entries(settings)) {
    if (value !== undefined) entries.push({ key: `settings.${key}`, value, source: "template" });
  }
  const enabled = new Set(features ?? []);
  for (const flag of FEATURE_FLAGS)
    entries.push({ key: `features.${flag}`, value: enabled.has(flag), source: "template" });
  for (const c of spec.initialData.configurations ?? [])
    entries.push({ key: c.key, value: c.value, source: "template" });
  return entries;
}

export const setupConfigurationsStep = provisioningStep(
  "SetupConfigurations",
  async ({ tx }, spec) => {
    const table = sql.raw(`${safeIdentifier(tenantSchemaName(spec.tenantId))}.configurations`);
    const rows = configurationEntries(spec).map(
      (e) => sql`(${e.key}, ${JSON.stringify(e.value)}::jsonb, ${e.source})`,
    );
    if (rows.length === 0) return;
    await tx.execute(sql`
      INSERT INTO ${table} (key, value, source) VALUES ${sql.join(rows, sql`, `)}
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, source = EXCLUDED.source, updated_at = now()`);
  },
  (message, cause) => new ConfigurationError(message, { cause }),
);

// --- CreateInitialData --------------------------------------------------------------------------

async function insertInBatches(
  tx: Database,
  rows: ReturnType<typeof sql>[],
  insert: (values: ReturnType<typeof sql>) => ReturnType<typeof sql>,
) {
  for (let i = 0; i < rows.length; i += INSERT_BATCH_SIZE) {
    await tx.execute(insert(sql.join(rows.slice(i, i + INSERT_BATCH_SIZE), sql`, `)));
  }
}

/** Rows the tenant has now, counted in one round trip. */
async function existingCounts(
  tx: Database,
  tenantId: string,
  schools: ReturnType<typeof sql.raw>,
  products: ReturnType<typeof sql.raw>,
): Promise<{ schools: number; products: number; users: number }> {
  const [row] = await queryRows<{ schools: unknown; products: unknown; users: unknown }>(
    tx,
    sql`SELECT (SELECT count(*) FROM ${schools}) AS schools, (SELECT count(*) FROM ${products}) AS products,
               (SELECT count(*) FROM users WHERE tenant_id = ${tenantId}::uuid) AS users`,
  );
  return {
    schools: numberValue(row?.schools),
    products: numberValue(row?.products),
    users: numberValue(row?.users),
  };
}

/** Schools, products and users from the template plus overrides, in batches, never beyond the limits. */
export const createInitialDataStep = provisioningStep("CreateInitialData", async ({ tx, now }, spec) => {
  const schema = safeIdentifier(tenantSchemaName(spec.tenantId));
  const schoolsTable = sql.raw(`${schema}.schools`);
  const productsTable = sql.raw(`${schema}.products`);
  const { schools = [], products = [], users: people = [] } = spec.initialData;
  const limits = spec.template.limits;

  const existing = await existingCounts(tx, spec.tenantId, schoolsTable, productsTable);
  const checks: [string, number, number, number | undefined][] = [
    ["schools", existing.schools, schools.length, limits.maxSchools],
    ["products", existing.products, products.length, limits.maxProducts],
    ["users", existing.users, people.length, limits.maxUsers],
  ];
  for (const [what, existing, adding, max] of checks) {
    if (max !== undefined && existing + adding > max) {
      throw new ValidationError(`${existing} existing + ${adding} new ${what} exceed the limit of ${max}`);
    }
  }

  await insertInBatches(
    tx,
    schools.map((s) => sql`(${s.name}, ${s.code ?? null}, ${s.type ?? "other"}, ${s.address ?? null})`),
    (values) =>
      sql`INSERT INTO ${schoolsTable} (name, code, type, address) VALUES ${values} ON CONFLICT DO NOTHING`,
  );
  await insertInBatches(
    tx,
    products.map(
      (p) => sql`(${p.sku}, ${p.name}, ${p.category ?? null}, ${p.unit ?? "pcs"}, ${p.unitPrice})`,
    ),
    (values) =>
      sql`INSERT INTO ${productsTable} (sku, name, category, unit, unit_price) VALUES ${values} ON CONFLICT (sku) DO NOTHING`,
  );
  const stamp = now.toISOString();
  await insertInBatches(
    tx,
    people.map(
      (u) =>
        sql`(${spec.tenantId}::uuid, ${u.email.toLowerCase()}, ${u.name}, ${u.role}, ${stamp}::timestamptz, ${stamp}::timestamptz)`,
    ),
    (values) =>
      sql`INSERT INTO users (tenant_id, email, name, role, created_at, updated_at) VALUES ${values} ON CONFLICT (tenant_id, email) DO NOTHING`,
  );
});

// --- PostProvisioningSteps (one Map iteration per action) ---------------------------------------

export const postProvisioningStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  const action = input.action;
  if (typeof action !== "string" || !(POST_PROVISIONING_ACTIONS as readonly string[]).includes(action)) {
    throw new ValidationError(`unknown post-provisioning action ${String(action)}`);
  }
  const definition = POST_PROVISIONING_REGISTRY[action as PostProvisioningAction];
  const target: StepTarget = { step: "PostProvisioningSteps", action };
  const outcome = await runStep(deps, progressId, target, async (ctx) =>
    definition.run(ctx, await loadRunSpec(ctx.tx, ctx.progress)),
  );
  return { action, outcome };
};
