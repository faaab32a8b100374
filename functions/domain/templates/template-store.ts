/**
 * Templates and their immutable versions. Every create or update writes a new row to
 * `tenant_template_versions` in the same transaction as the change and its audit entry.
 */
import { and, asc, count, desc, eq, isNotNull, isNull, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenantTemplates, tenantTemplateVersions } from "../../db/schema.ts";
import {
  applyMergePatch,
  type InitialData,
  type Template,
  type TemplateCategory,
  type TemplateSpec,
  type TemplateState,
  type TemplateUpdate,
  type TenantLimits,
  type TenantSettings,
  templateSpecSchema,
} from "../../schemas/templates.ts";
import { ConflictError, NotFoundError, sqlState } from "../../shared/errors.ts";
import { parseOrThrow } from "../../shared/validation.ts";
import type { Actor } from "../actor.ts";
import { type AuditEntry, recordAudit } from "../audit.ts";
import { assertTemplateRules } from "./template-rules.ts";

type TemplateRow = typeof tenantTemplates.$inferSelect;
type VersionRow = typeof tenantTemplateVersions.$inferSelect;

function iso(d: Date | null | undefined): string {
  return (d ?? new Date(0)).toISOString();
}

function fromRow(row: TemplateRow): Template {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    category: (row.category ?? "basic") as TemplateCategory,
    settings: (row.settings ?? {}) as TenantSettings,
    limits: (row.limits ?? {}) as TenantLimits,
    initialData: (row.initialData ?? {}) as InitialData,
    migrations: row.migrations ?? [],
    postProvisioningSteps: (row.postProvisioningSteps ?? []) as Template["postProvisioningSteps"],
    version: row.version,
    isDefault: row.isDefault,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    deletedAt: row.deletedAt ? row.deletedAt.toISOString() : null,
  };
}

function fromVersion(template: TemplateRow, v: VersionRow): Template {
  return {
    ...fromRow(template),
    name: v.name,
    description: v.description,
    category: v.category as TemplateCategory,
    settings: v.settings as TenantSettings,
    limits: v.limits as TenantLimits,
    initialData: v.initialData as InitialData,
    migrations: v.migrations,
    postProvisioningSteps: v.postProvisioningSteps as Template["postProvisioningSteps"],
    version: v.version,
    updatedAt: iso(v.createdAt),
  };
}

function rethrowUniqueName(error: unknown, name: string): never {
  if (sqlState(error) === "23505") {
    throw new ConflictError(`a template named "${name}" already exists`, {
      fields: [{ field: "name", message: "already taken" }],
    });
  }
  throw error;
}

export interface ListTemplatesOptions {
  readonly limit: number;
  readonly offset: number;
  readonly category?: TemplateCategory | undefined;
  /** `active` (default): usable templates; `deleted`: the deleted ones (to restore); `all`. */
  readonly state?: TemplateState | undefined;
}

const STATE_CONDITION: Record<TemplateState, SQL | undefined> = {
  active: isNull(tenantTemplates.deletedAt),
  deleted: isNotNull(tenantTemplates.deletedAt),
  all: undefined,
};

export async function listTemplates(
  db: Database,
  options: ListTemplatesOptions,
): Promise<{ items: Template[]; total: number; limit: number; offset: number }> {
  const where = and(
    STATE_CONDITION[options.state ?? "active"],
    options.category ? eq(tenantTemplates.category, options.category) : undefined,
  );
  const [rows, totals] = await Promise.all([
    db
      .select()
      .from(tenantTemplates)
      .where(where)
      .orderBy(desc(tenantTemplates.isDefault), asc(tenantTemplates.name))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(tenantTemplates).where(where),
  ]);
  return {
    items: rows.map(fromRow),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

/** One template (its current version, or version `version`); deleted templates stay readable. */
export async function getTemplate(db: Database, id: string, version?: number): Promise<Template> {
  const [row] = await db.select().from(tenantTemplates).where(eq(tenantTemplates.id, id));
  if (!row) throw new NotFoundError("template", id);
  if (version === undefined || version === row.version) return fromRow(row);
  const [v] = await db
    .select()
    .from(tenantTemplateVersions)
    .where(and(eq(tenantTemplateVersions.templateId, id), eq(tenantTemplateVersions.version, version)));
  if (!v) throw new NotFoundError(`template ${id} version`, String(version));
  return fromVersion(row, v);
}

/** A template that may be used for new provisioning: it exists and is not deleted. */
export async function getUsableTemplate(db: Database, id: string): Promise<Template> {
  const template = await getTemplate(db, id);
  if (template.deletedAt) throw new NotFoundError("template", id);
  return template;
}

export async function listTemplateVersions(
  db: Database,
  id: string,
): Promise<
  { version: number; name: string; category: TemplateCategory; createdAt: string; createdBy: string | null }[]
> {
  const [row] = await db
    .select({ id: tenantTemplates.id })
    .from(tenantTemplates)
    .where(eq(tenantTemplates.id, id));
  if (!row) throw new NotFoundError("template", id);
  const versions = await db
    .select()
    .from(tenantTemplateVersions)
    .where(eq(tenantTemplateVersions.templateId, id))
    .orderBy(desc(tenantTemplateVersions.version));
  return versions.map((v) => ({
    version: v.version,
    name: v.name,
    category: v.category as TemplateCategory,
    createdAt: iso(v.createdAt),
    createdBy: v.createdBy,
  }));
}

/** A spec's columns, the same in `tenant_templates` and `tenant_template_versions`. */
function specColumns(spec: TemplateSpec) {
  return {
    name: spec.name,
    description: spec.description ?? null,
    category: spec.category,
    settings: spec.settings,
    limits: spec.limits as Record<string, number>,
    initialData: spec.initialData,
    migrations: spec.migrations,
    postProvisioningSteps: spec.postProvisioningSteps,
  };
}

function versionValues(templateId: string, version: number, spec: TemplateSpec, createdBy: string | null) {
  return { templateId, version, ...specColumns(spec), createdBy };
}

/** Creates a template (version 1). `isDefault` marks the built-in ones seeded at start. */
export async function createTemplate(
  db: Database,
  spec: TemplateSpec,
  actor: Actor,
  options: { isDefault?: boolean; now?: Date } = {},
): Promise<Template> {
  assertTemplateRules(spec);
  const now = options.now ?? new Date();
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(tenantTemplates)
        .values({
          ...specColumns(spec),
          version: 1,
          isDefault: options.isDefault ?? false,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      const template = row!;
      await tx
        .insert(tenantTemplateVersions)
        .values({ ...versionValues(template.id, 1, spec, actor.keyId), createdAt: now });
      await recordAudit(tx, auditFor(actor, "template.create", template.id, { name: spec.name, version: 1 }));
      return fromRow(template);
    });
  } catch (error) {
    await rethrowDeletedName(db, error, spec.name);
    rethrowUniqueName(error, spec.name);
  }
}

/**
 * Names stay unique among deleted templates too (the product document's UNIQUE name, and what
 * start-up seeding matches defaults by): a name held by a deleted template is freed by restoring
 * that template, so the conflict says which one it is and how.
 */
async function rethrowDeletedName(db: Database, error: unknown, name: string): Promise<void> {
  if (sqlState(error) !== "23505") return;
  const [holder] = await db
    .select({ id: tenantTemplates.id })
    .from(tenantTemplates)
    .where(and(eq(tenantTemplates.name, name), isNotNull(tenantTemplates.deletedAt)));
  if (!holder) return;
  throw new ConflictError(
    `a deleted template named "${name}" exists (${holder.id}); restore it (POST /api/provisioning/templates/${holder.id}/restore, ` +
      `CLI: template restore ${holder.id}) or choose another name`,
    { fields: [{ field: "name", message: "taken by a deleted template" }] },
  );
}

function auditFor(
  actor: Actor,
  action: AuditEntry["action"],
  id: string,
  details: Record<string, unknown>,
): AuditEntry {
  return {
    actorKeyId: actor.keyId,
    action,
    targetType: "template",
    targetId: id,
    details,
    requestId: actor.requestId,
  };
}

/** Applies an update as a new immutable version. */
export async function updateTemplate(
  db: Database,
  id: string,
  update: TemplateUpdate,
  actor: Actor,
  now: Date = new Date(),
): Promise<Template> {
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx.select().from(tenantTemplates).where(eq(tenantTemplates.id, id)).for("update");
      if (!row || row.deletedAt) throw new NotFoundError("template", id);
      const current = fromRow(row);
      const merged = {
        name: update.name ?? current.name,
        ...(current.description !== null ? { description: current.description } : {}),
        ...(update.description !== undefined ? { description: update.description } : {}),
        category: update.category ?? current.category,
        settings: applyMergePatch(current.settings, update.settings),
        limits: applyMergePatch(current.limits, update.limits),
        initialData: applyMergePatch(current.initialData, update.initialData),
        migrations: update.migrations ?? current.migrations,
        postProvisioningSteps: update.postProvisioningSteps ?? current.postProvisioningSteps,
      };
      const spec = parseOrThrow(templateSpecSchema, merged);
      assertTemplateRules(spec);
      const version = row.version + 1;
      const [updated] = await tx
        .update(tenantTemplates)
        .set({
          ...specColumns(spec),
          version,
          updatedAt: now,
        })
        .where(eq(tenantTemplates.id, id))
        .returning();
      await tx
        .insert(tenantTemplateVersions)
        .values({ ...versionValues(id, version, spec, actor.keyId), createdAt: now });
      await recordAudit(tx, auditFor(actor, "template.update", id, { version, fields: Object.keys(update) }));
      return fromRow(updated!);
    });
  } catch (error) {
    rethrowUniqueName(error, update.name ?? "");
  }
}

/** Hides a template from listing and new provisioning; its versions stay readable. */
export async function deleteTemplate(
  db: Database,
  id: string,
  actor: Actor,
  now: Date = new Date(),
): Promise<Template> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(tenantTemplates)
      .set({ deletedAt: now, updatedAt: now })
      .where(and(eq(tenantTemplates.id, id), isNull(tenantTemplates.deletedAt)))
      .returning();
    if (!row) throw new NotFoundError("template", id);
    await recordAudit(tx, auditFor(actor, "template.delete", id, { name: row.name }));
    return fromRow(row);
  });
}

/**
 * Brings a deleted template back: listed and usable for provisioning again, at the version it
 * had (no new version: nothing in it changed). A deleted default comes back as a default.
 */
export async function restoreTemplate(
  db: Database,
  id: string,
  actor: Actor,
  now: Date = new Date(),
): Promise<Template> {
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(tenantTemplates).where(eq(tenantTemplates.id, id)).for("update");
    if (!current) throw new NotFoundError("template", id);
    if (!current.deletedAt)
      throw new ConflictError(`template ${id} is not deleted; there is nothing to restore`);
    const [row] = await tx
      .update(tenantTemplates)
      .set({ deletedAt: null, updatedAt: now })
      .where(eq(tenantTemplates.id, id))
      .returning();
    await recordAudit(
      tx,
      auditFor(actor, "template.restore", id, {
        name: current.name,
        deletedAt: current.deletedAt.toISOString(),
      }),
    );
    return fromRow(row!);
  });
}
