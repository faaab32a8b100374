/**
 * The work of each provisioning step. Each is statements only, run by `runAtomicStep` as ONE
 * statement with the step's completion mark (the progress row locked and checked unchanged since
 * the attempt mark — or, after a step this container wrote, with the attempt mark too); the
 * welcome notification runs so as well when its message is known beforehand and the channel takes
 * statements (the local outbox), else in the step's transaction (`runStep`: an invitation's token
 * is issued there; SQS is sent to there).
 */
import { type SQL, sql } from "drizzle-orm";
import { lockTimeoutReader, safeIdentifier } from "../../db/sql.ts";
import {
  FEATURE_FLAGS,
  POST_PROVISIONING_ACTIONS,
  type PostProvisioningAction,
} from "../../schemas/templates.ts";
import { ConfigurationError, MigrationError, ValidationError } from "../../shared/errors.ts";
import type { ProgressRow } from "../runs/progress-store.ts";
import {
  type AtomicContext,
  type AtomicStatement,
  knownRun,
  type PermanentErrorFactory,
  progressIdOf,
  runAtomicStep,
  runStep,
  type StepTarget,
} from "../steps/run-step.ts";
import type { StepDeps, StepFactory } from "../steps/step-deps.ts";
import { tenantMigrationsStatement, tenantSchemaName } from "../tenants/tenant-schema.ts";
import { POST_PROVISIONING_REGISTRY } from "./post-provisioning-actions.ts";
import { loadRunSpec, type RunSpec, runSpecNeedsRead } from "./run-spec.ts";

/** Rows per INSERT statement when creating initial data. */
export const INSERT_BATCH_SIZE = 500;

type AtomicWork = (ctx: AtomicContext, spec: RunSpec) => readonly AtomicStatement[];

/**
 * The run's spec for a step that runs outside a transaction: a spec that must be read is read with
 * the step's `lock_timeout`, so a lock held on what it reads ends the attempt with a TransientError
 * (retried) as it would inside a step's transaction — each read ONE call (`lockTimeoutReader`), no
 * transaction around them (what they read never changes: template versions are immutable, a run's
 * inputs are written with it); a spec this container has read costs no call.
 */
async function stepRunSpec(deps: StepDeps, progress: ProgressRow): Promise<RunSpec> {
  if (!runSpecNeedsRead(progress)) return loadRunSpec(deps.db, progress);
  return loadRunSpec(lockTimeoutReader(deps.db, deps.lockTimeoutMs), progress);
}

/**
 * A step whose work is statements only: the attempt mark and ONE statement with the work and the
 * completion mark, or that statement alone after a step this container wrote (`runAtomicStep`). The run's spec is read before that statement (`stepRunSpec`):
 * the pinned template version and the run's inputs never change.
 */
function atomicProvisioningStep(
  step: string,
  work: AtomicWork,
  permanent?: PermanentErrorFactory,
): StepFactory {
  return (deps: StepDeps) => async (input) => {
    const progressId = progressIdOf(input);
    const outcome = await runAtomicStep(
      deps,
      progressId,
      step,
      async (ctx) => work(ctx, await stepRunSpec(deps, ctx.progress)),
      permanent,
    );
    return { step, outcome };
  };
}

/** A check's SQL: `problem` is the message when `condition` holds, else null. */
function problemWhen(condition: SQL, message: SQL): AtomicStatement {
  return { check: sql`SELECT CASE WHEN ${condition} THEN ${message}::text END AS problem` };
}

// --- CreateTenant -------------------------------------------------------------------------------

/** Applies the template's settings, limits and version to the tenant row the API reserved. */
export const createTenantStep = atomicProvisioningStep("CreateTenant", ({ progress, now }, spec) => [
  problemWhen(
    sql`NOT EXISTS (SELECT 1 FROM tenants WHERE id = ${spec.tenantId}::uuid)`,
    sql`${`tenant ${spec.tenantId} no longer exists (cleaned up?)`}`,
  ),
  {
    run: sql`UPDATE tenants SET name = ${spec.metadata.tenant.name},
      settings = ${JSON.stringify(spec.template.settings)}::jsonb,
      limits = ${JSON.stringify(spec.template.limits)}::jsonb,
      template_id = ${progress.templateId}::uuid, template_version = ${progress.templateVersion}::int,
      status = 'provisioning', updated_at = ${now.toISOString()}::timestamp
      WHERE id = ${spec.tenantId}::uuid`,
  },
]);

// --- CreateAdminUser ----------------------------------------------------------------------------

/**
 * Creates the tenant administrator from the password hash the API stored; then forgets the hash.
 * The hash goes from `provisioning_secrets` to `users` inside the database: it is never read out.
 * A run requested without a password creates the admin with none, and its invitation (whose token
 * the welcome notification issues: a token made here would have to be kept until then). A retried
 * step finds the admin created and adds nothing.
 */
export const createAdminUserStep = atomicProvisioningStep("CreateAdminUser", ({ progress, now }, spec) => {
  const email = spec.metadata.admin.email.toLowerCase();
  const invited = spec.metadata.admin.invitation !== undefined;
  const stamp = now.toISOString();
  const admin = sql`SELECT 1 FROM users WHERE tenant_id = ${spec.tenantId}::uuid AND email = ${email}`;
  const hash = sql`SELECT admin_password_hash FROM provisioning_secrets WHERE progress_id = ${progress.id}::uuid`;
  return [
    ...(invited
      ? []
      : [
          problemWhen(
            sql`NOT EXISTS (${admin}) AND (${hash}) IS NULL`,
            sql`${"the admin password is no longer available; clean up this run and provision again"}`,
          ),
        ]),
    {
      run: sql`INSERT INTO users (tenant_id, email, name, role, password_hash, created_at, updated_at)
        SELECT ${spec.tenantId}::uuid, ${email}, ${spec.metadata.admin.name}, 'tenant_admin',
               ${invited ? sql`NULL` : sql`(${hash})`}, ${stamp}::timestamp, ${stamp}::timestamp
        ON CONFLICT (tenant_id, email) DO NOTHING`,
    },
    ...(invited
      ? [
          {
            run: sql`INSERT INTO admin_invitations (tenant_id, user_id, progress_id, created_at)
              SELECT u.tenant_id, u.id, ${progress.id}::uuid, ${stamp}::timestamptz FROM users u
              WHERE u.tenant_id = ${spec.tenantId}::uuid AND u.email = ${email}
              ON CONFLICT DO NOTHING`,
          },
        ]
      : []),
    { run: sql`DELETE FROM provisioning_secrets WHERE progress_id = ${progress.id}::uuid` },
  ];
});

// --- RunMigrations ------------------------------------------------------------------------------

/** Creates the tenant schema and applies the template's tenant migrations that are not applied yet. */
export const runMigrationsStep = atomicProvisioningStep(
  "RunMigrations",
  (_ctx, spec) => [
    { cell: true, run: sql.raw(tenantMigrationsStatement(spec.tenantId, spec.template.migrations)) },
  ],
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

export const setupConfigurationsStep = atomicProvisioningStep(
  "SetupConfigurations",
  (_ctx, spec) => {
    const table = sql.raw(`${safeIdentifier(tenantSchemaName(spec.tenantId))}.configurations`);
    const entries = configurationEntries(spec);
    if (entries.length === 0) return [];
    return [
      {
        cell: true,
        run: sql`INSERT INTO ${table} (key, value, source)
          SELECT e->>'key', e->'value', e->>'source'
          -- e->'value', not a recordset column: a JSON null stays a jsonb null, not SQL NULL.
          FROM jsonb_array_elements(${JSON.stringify(entries)}::jsonb) AS e
          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, source = EXCLUDED.source, updated_at = now()`,
      },
    ];
  },
  (message, cause) => new ConfigurationError(message, { cause }),
);

// --- CreateInitialData --------------------------------------------------------------------------

/** `rows` in batches of INSERT_BATCH_SIZE, each one statement reading its batch as one jsonb value. */
function batches<T>(rows: readonly T[], insert: (json: string) => SQL, onCell: boolean): AtomicStatement[] {
  const statements: AtomicStatement[] = [];
  for (let i = 0; i < rows.length; i += INSERT_BATCH_SIZE) {
    const run = insert(JSON.stringify(rows.slice(i, i + INSERT_BATCH_SIZE)));
    statements.push(onCell ? { cell: true, run } : { run });
  }
  return statements;
}

/**
 * Schools, products and users from the template plus overrides, never beyond the limits: the
 * counts the tenant has are checked in the same statement as the inserts.
 */
export const createInitialDataStep = atomicProvisioningStep("CreateInitialData", ({ now }, spec) => {
  const schema = safeIdentifier(tenantSchemaName(spec.tenantId));
  const schoolsTable = sql.raw(`${schema}.schools`);
  const productsTable = sql.raw(`${schema}.products`);
  const { schools = [], products = [], users: people = [] } = spec.initialData;
  const limits = spec.template.limits;
  // Schools and products are the tenant's schema's (its cell's); users are the control plane's.
  const counts: [string, SQL, number, number | undefined, boolean][] = [
    ["schools", sql`SELECT count(*) FROM ${schoolsTable}`, schools.length, limits.maxSchools, true],
    ["products", sql`SELECT count(*) FROM ${productsTable}`, products.length, limits.maxProducts, true],
    [
      "users",
      sql`SELECT count(*) FROM users WHERE tenant_id = ${spec.tenantId}::uuid`,
      people.length,
      limits.maxUsers,
      false,
    ],
  ];
  const checks = counts
    .filter(([, , adding, max]) => max !== undefined && adding > 0)
    .map(
      ([what, existing, adding, max, onCell]): AtomicStatement => ({
        ...problemWhen(
          sql`(${existing}) + ${adding}::int > ${max}::int`,
          sql`format('%s existing + %s new %s exceed the limit of %s', (${existing}), ${adding}::int, ${what}::text, ${max}::int)`,
        ),
        ...(onCell ? { cell: true as const } : {}),
      }),
    );
  const stamp = now.toISOString();
  return [
    ...checks,
    ...batches(
      schools.map((s) => ({
        name: s.name,
        code: s.code ?? null,
        type: s.type ?? "other",
        address: s.address ?? null,
      })),
      (json) => sql`INSERT INTO ${schoolsTable} (name, code, type, address)
        SELECT x.name, x.code, x.type, x.address
        FROM jsonb_to_recordset(${json}::jsonb) AS x(name text, code text, type text, address text)
        ON CONFLICT DO NOTHING`,
      true,
    ),
    ...batches(
      products.map((p) => ({
        sku: p.sku,
        name: p.name,
        category: p.category ?? null,
        unit: p.unit ?? "pcs",
        unit_price: p.unitPrice,
      })),
      (json) => sql`INSERT INTO ${productsTable} (sku, name, category, unit, unit_price)
        SELECT x.sku, x.name, x.category, x.unit, x.unit_price
        FROM jsonb_to_recordset(${json}::jsonb)
          AS x(sku text, name text, category text, unit text, unit_price numeric)
        ON CONFLICT (sku) DO NOTHING`,
      true,
    ),
    ...batches(
      people.map((u) => ({ email: u.email.toLowerCase(), name: u.name, role: u.role })),
      (json) => sql`INSERT INTO users (tenant_id, email, name, role, created_at, updated_at)
        SELECT ${spec.tenantId}::uuid, x.email, x.name, x.role, ${stamp}::timestamp, ${stamp}::timestamp
        FROM jsonb_to_recordset(${json}::jsonb) AS x(email text, name text, role text)
        ON CONFLICT (tenant_id, email) DO NOTHING`,
      false,
    ),
  ];
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
  let outcome: "completed" | "already-completed" | "continuing";
  if ("statements" in definition) {
    outcome = await runAtomicStep(deps, progressId, target, async (ctx) =>
      definition.statements(await stepRunSpec(deps, ctx.progress)),
    );
  } else {
    // Work that can be statements for this run (the welcome message without an invitation, to the
    // local outbox) runs as an atomic step too; otherwise in the step's transaction.
    const known = knownRun(progressId);
    const spec = known && !runSpecNeedsRead(known) ? await loadRunSpec(deps.db, known) : undefined;
    const statements = spec && definition.statementsIfPossible?.(spec, progressId, deps.notifications);
    outcome = statements
      ? await runAtomicStep(deps, progressId, target, async () => statements)
      : await runStep(deps, progressId, target, async (ctx) =>
          definition.run(ctx, await loadRunSpec(ctx.tx, ctx.progress)),
        );
  }
  return { action, outcome };
};
