/**
 * What a provisioning run builds, read by its steps: the template version pinned when the run
 * was requested (or the inline custom spec), the request's overrides, tenant and admin details.
 * The admin password is not here: only its hash, in `provisioning_secrets` (none when the admin is
 * invited instead).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { readLargeJson } from "../../db/large-values.ts";
import { jsonValue, type RowReader, rowReader } from "../../db/sql.ts";
import { type InitialData, type TemplateSpec, templateSpecSchema } from "../../schemas/templates.ts";
import { ValidationError } from "../../shared/errors.ts";
import type { ProgressRow } from "../runs/progress-store.ts";

/** Stored in the progress record's `metadata` when the run is requested. */
export interface ProvisioningMetadata {
  readonly tenant: { readonly slug: string; readonly name: string; readonly subdomain: string };
  readonly admin: {
    readonly name: string;
    readonly email: string;
    /**
     * Requested without a password: the admin is invited. The link's base URL and lifetime are
     * the configuration's when the run was requested.
     */
    readonly invitation?: { readonly baseUrl: string; readonly ttlHours: number };
  };
  /**
   * The run has a row in `run_inputs` (the inline spec of a custom provisioning, the request's
   * initial-data overrides): kept out of the progress row, which must stay under the Data API's
   * 64 KB per row whatever the request held.
   */
  readonly inputs?: true;
  /**
   * Runs requested before `run_inputs` existed kept these here; a request's checked metadata
   * carries them until `runMetadata` moves them out (see provision-service.ts).
   */
  readonly initialDataOverrides?: InitialData;
  readonly customTemplate?: TemplateSpec;
}

interface RunInputs {
  readonly customTemplate?: TemplateSpec | undefined;
  readonly initialDataOverrides?: InitialData | undefined;
}

/** A run's large inputs, each read in pieces (either may be larger than a Data API row). */
async function readRunInputs(tx: Database | RowReader, progressId: string): Promise<RunInputs> {
  const [customTemplate, initialDataOverrides] = [
    await readLargeJson<TemplateSpec>(
      tx,
      sql`SELECT custom_template::text AS v FROM run_inputs WHERE progress_id = ${progressId}::uuid`,
    ),
    await readLargeJson<InitialData>(
      tx,
      sql`SELECT initial_data_overrides::text AS v FROM run_inputs WHERE progress_id = ${progressId}::uuid`,
    ),
  ];
  if (customTemplate === undefined) throw new ValidationError(`run ${progressId} has no stored inputs`);
  return {
    customTemplate: customTemplate ?? undefined,
    initialDataOverrides: initialDataOverrides ?? undefined,
  };
}

export interface RunSpec {
  readonly tenantId: string;
  readonly template: TemplateSpec;
  readonly initialData: InitialData;
  readonly metadata: ProvisioningMetadata;
}

function mergeBy<T extends Record<string, unknown>>(
  base: T[] | undefined,
  extra: T[] | undefined,
  key?: keyof T,
): T[] {
  if (!extra?.length) return base ?? [];
  if (!key) return [...(base ?? []), ...extra];
  const k = (v: T) => String(v[key] ?? "").toLowerCase();
  const replaced = new Set(extra.map(k));
  return [...(base ?? []).filter((v) => !replaced.has(k(v))), ...extra];
}

/** Template initial data plus the request's overrides (same sku / email / school code replaces). */
export function mergeInitialData(template: InitialData, overrides: InitialData | undefined): InitialData {
  return {
    schools: mergeBy(template.schools, overrides?.schools, "code"),
    products: mergeBy(template.products, overrides?.products, "sku"),
    users: mergeBy(template.users, overrides?.users, "email"),
    configurations: mergeBy(template.configurations, overrides?.configurations, "key"),
  };
}

/**
 * Template versions are immutable (a trigger forbids updating one), so a version read once is
 * kept: every step of a run reads the same pinned version. Bounded; the oldest entry goes first.
 */
const pinnedVersions = new Map<string, TemplateSpec>();
const PINNED_VERSIONS_MAX = 256;

async function pinnedTemplate(
  db: Database | RowReader,
  templateId: string,
  version: number,
): Promise<TemplateSpec> {
  const key = `${templateId}:${version}`;
  const cached = pinnedVersions.get(key);
  if (cached) return cached;
  const read = typeof db === "function" ? db : rowReader(db);
  const [v] = await read<{
    name: string;
    description: string | null;
    category: string;
    settings: unknown;
    limits: unknown;
    migrations: unknown;
    post_provisioning_steps: unknown;
  }>(
    sql`SELECT name, description, category, settings, limits, migrations, post_provisioning_steps
        FROM tenant_template_versions WHERE template_id = ${templateId}::uuid AND version = ${version}::int`,
  );
  if (!v) throw new ValidationError(`template ${templateId} version ${version} not found`);
  const template = templateSpecSchema.parse({
    name: v.name,
    ...(v.description !== null ? { description: v.description } : {}),
    category: v.category,
    settings: jsonValue(v.settings),
    limits: jsonValue(v.limits),
    // Read on its own, in pieces: a template's initial data can be larger than a Data API row.
    initialData:
      (await readLargeJson<InitialData>(
        read,
        sql`SELECT initial_data::text AS v FROM tenant_template_versions
            WHERE template_id = ${templateId}::uuid AND version = ${version}::int`,
      )) ?? {},
    migrations: jsonValue(v.migrations),
    postProvisioningSteps: jsonValue(v.post_provisioning_steps),
  });
  if (pinnedVersions.size >= PINNED_VERSIONS_MAX) {
    pinnedVersions.delete(pinnedVersions.keys().next().value as string);
  }
  pinnedVersions.set(key, template);
  return template;
}

/**
 * Whether `loadRunSpec` reads the database for this run: its inputs, or a template version this
 * container has not read yet.
 */
export function runSpecNeedsRead(progress: ProgressRow): boolean {
  const stored = progress.metadata as Partial<ProvisioningMetadata>;
  if (stored.inputs) return true;
  if (stored.customTemplate || !progress.templateId || progress.templateVersion === null) return false;
  return !pinnedVersions.has(`${progress.templateId}:${progress.templateVersion}`);
}

/**
 * The run's spec, read on `tx` (a database or transaction) or through a `RowReader` (a step outside
 * a transaction reads with its lock timeout: `lockTimeoutReader`).
 */
export async function loadRunSpec(tx: Database | RowReader, progress: ProgressRow): Promise<RunSpec> {
  const stored = progress.metadata as Partial<ProvisioningMetadata>;
  if (!progress.tenantId || !stored.tenant || !stored.admin) {
    throw new ValidationError(`run ${progress.id} has no tenant or admin details`);
  }
  const metadata: ProvisioningMetadata = { ...stored, tenant: stored.tenant, admin: stored.admin };
  const inputs: RunInputs = metadata.inputs
    ? await readRunInputs(tx, progress.id)
    : { customTemplate: metadata.customTemplate, initialDataOverrides: metadata.initialDataOverrides };
  let template: TemplateSpec;
  if (inputs.customTemplate) {
    template = templateSpecSchema.parse(inputs.customTemplate);
  } else {
    if (!progress.templateId || progress.templateVersion === null) {
      throw new ValidationError(`run ${progress.id} names no template`);
    }
    template = await pinnedTemplate(tx, progress.templateId, progress.templateVersion);
  }
  return {
    tenantId: progress.tenantId,
    template,
    initialData: mergeInitialData(template.initialData, inputs.initialDataOverrides),
    metadata,
  };
}
