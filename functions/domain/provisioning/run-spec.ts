/**
 * What a provisioning run builds, read by its steps: the template version pinned when the run
 * was requested (or the inline custom spec), the request's overrides, tenant and admin details.
 * The admin password is not here: only its hash, in `provisioning_secrets` (none when the admin is
 * invited instead).
 */
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenantTemplateVersions } from "../../db/schema.ts";
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
  readonly initialDataOverrides?: InitialData;
  /** Custom provisioning: the inline template spec. */
  readonly customTemplate?: TemplateSpec;
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

async function pinnedTemplate(tx: Database, templateId: string, version: number): Promise<TemplateSpec> {
  const key = `${templateId}:${version}`;
  const cached = pinnedVersions.get(key);
  if (cached) return cached;
  const [v] = await tx
    .select()
    .from(tenantTemplateVersions)
    .where(
      and(eq(tenantTemplateVersions.templateId, templateId), eq(tenantTemplateVersions.version, version)),
    );
  if (!v) throw new ValidationError(`template ${templateId} version ${version} not found`);
  const template = templateSpecSchema.parse({
    name: v.name,
    ...(v.description !== null ? { description: v.description } : {}),
    category: v.category,
    settings: v.settings,
    limits: v.limits,
    initialData: v.initialData,
    migrations: v.migrations,
    postProvisioningSteps: v.postProvisioningSteps,
  });
  if (pinnedVersions.size >= PINNED_VERSIONS_MAX) {
    pinnedVersions.delete(pinnedVersions.keys().next().value as string);
  }
  pinnedVersions.set(key, template);
  return template;
}

export async function loadRunSpec(tx: Database, progress: ProgressRow): Promise<RunSpec> {
  const stored = progress.metadata as Partial<ProvisioningMetadata>;
  if (!progress.tenantId || !stored.tenant || !stored.admin) {
    throw new ValidationError(`run ${progress.id} has no tenant or admin details`);
  }
  const metadata: ProvisioningMetadata = { ...stored, tenant: stored.tenant, admin: stored.admin };
  let template: TemplateSpec;
  if (metadata.customTemplate) {
    template = templateSpecSchema.parse(metadata.customTemplate);
  } else {
    if (!progress.templateId || progress.templateVersion === null) {
      throw new ValidationError(`run ${progress.id} names no template`);
    }
    template = await pinnedTemplate(tx, progress.templateId, progress.templateVersion);
  }
  return {
    tenantId: progress.tenantId,
    template,
    initialData: mergeInitialData(template.initialData, metadata.initialDataOverrides),
    metadata,
  };
}
