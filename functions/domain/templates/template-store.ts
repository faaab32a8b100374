/**
 * Templates and their immutable versions. Every create or update writes a new row to
 * `tenant_template_versions` in the same transaction as the change and its audit entry.
 */
import { and, asc, count, desc, eq, getTableColumns, isNotNull, isNull, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { readLargeJson } from "../../db/large-values.ts";
import { tenantTemplates, tenantTemplateVersions } from "../../db/schema.ts";
import {
  applyMergePatch,
  type InitialData,
  type InitialDataCounts,
  type Template,
  type TemplateCategory,
  type TemplateCreate,
  type TemplateSpec,
  type TemplateState,
  type TemplateSummary,
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

/*
 * `initial_data` can be far larger than the RDS Data API's 64 KB per row (a catalogue of
 * thousands of products), so no query here returns it with the other columns: listings select a
 * summary (its counts), and one template's initial data is read on its own, in pieces
 * (`readLargeJson`).
 */
const { initialData: _templateData, ...templateColumns } = getTableColumns(tenantTemplates);
const { initialData: _versionData, ...versionColumns } = getTableColumns(tenantTemplateVersions);
type TemplateRow = Omit<typeof tenantTemplates.$inferSelect, "initialData">;
type VersionRow = Omit<typeof tenantTemplateVersions.$inferSelect, "initialData">;

/** The current initial data of a template, in pieces. */
async function templateInitialData(db: Database, id: string): Promise<InitialData> {
  return (
    (await readLargeJson<InitialData>(
      db,
      sql`SELECT initial_data::text AS v FROM tenant_templates WHERE id = ${id}::uuid`,
    )) ?? {}
  );
}

/** The initial data of one version of a template, in pieces. */
async function versionInitialData(db: Database, id: string, version: number): Promise<InitialData> {
  return (
    (await readLargeJson<InitialData>(
      db,
      sql`SELECT initial_data::text AS v FROM tenant_template_versions
          WHERE template_id = ${id}::uuid AND version = ${version}::int`,
    )) ?? {}
  );
}

/** How many items of each kind a template's initial data holds (computed by the database). */
const initialDataCounts = {
  schools: sql<number>`jsonb_array_length(coalesce(${tenantTemplates.initialData} -> 'schools', '[]'::jsonb))`,
  products: sql<number>`jsonb_array_length(coalesce(${tenantTemplates.initialData} -> 'products', '[]'::jsonb))`,
  users: sql<number>`jsonb_array_length(coalesce(${tenantTemplates.initialData} -> 'users', '[]'::jsonb))`,
  configurations: sql<number>`jsonb_array_length(coalesce(${tenantTemplates.initialData} -> 'configurations', '[]'::jsonb))`,
};

function iso(d: Date | null | undefined): string {
  return (d ?? new Date(0)).toISOString();
}

function summaryOf(row: TemplateRow): Omit<Template, "initialData"> {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    category: (row.category ?? "basic") as TemplateCategory,
    settings: (row.settings ?? {}) as TenantSettings,
    limits: (row.limits ?? {}) as TenantLimits,
    migrations: row.migrations ?? [],
    postProvisioningSteps: (row.postProvisioningSteps ?? []) as Template["postProvisioningSteps"],
    version: row.version,
    isDefault: row.isDefault,
    cell: row.cell,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    deletedAt: row.deletedAt ? row.deletedAt.toISOString() : null,
  };
}

function fromRow(row: TemplateRow, initialData: InitialData): Template {
  return { ...summaryOf(row), initialData };
}

function fromVersion(template: TemplateRow, v: VersionRow, initialData: InitialData): Template {
  return {
    ...summaryOf(template),
    name: v.name,
    description: v.description,
    category: v.category as TemplateCategory,
    settings: v.settings as TenantSettings,
    limits: v.limits as TenantLimits,
    initialData,
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
): Promise<{ items: TemplateSummary[]; total: number; limit: number; offset: number }> {
  const where = and(
    STATE_CONDITION[options.state ?? "active"],
    options.category ? eq(tenantTemplates.category, options.category) : undefined,
  );
  const [rows, totals] = await Promise.all([
    db
      .select({ ...templateColumns, counts: initialDataCounts })
      .from(tenantTemplates)
      .where(where)
      .orderBy(desc(tenantTemplates.isDefault), asc(tenantTemplates.name))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(tenantTemplates).where(where),
  ]);
  return {
    items: rows.map(({ counts, ...row }) => ({
      ...summaryOf(row),
      initialDataCounts: countsOf(counts),
    })),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

function countsOf(counts: Record<keyof InitialDataCounts, unknown>): InitialDataCounts {
  return {
    schools: Number(counts.schools),
    products: Number(counts.products),
    users: Number(counts.users),
    configurations: Number(counts.configurations),
  };
}

/** One template (its current version, or version `version`); deleted templates stay readable. */
export async function getTemplate(db: Database, id: string, version?: number): Promise<Template> {
  // One transaction: the row and its initial data (read in pieces) are of the same version.
  return db.transaction(async (tx) => {
    const [row] = await tx.select(templateColumns).from(tenantTemplates).where(eq(tenantTemplates.id, id));
    if (!row) throw new NotFoundError("template", id);
    if (version === undefined || version === row.version) {
      return fromRow(row, await templateInitialData(tx, id));
    }
    const [v] = await tx
      .select(versionColumns)
      .from(tenantTemplateVersions)
      .where(and(eq(tenantTemplateVersions.templateId, id), eq(tenantTemplateVersions.version, version)));
    if (!v) throw new NotFoundError(`template ${id} version`, String(version));
    return fromVersion(row, v, await versionInitialData(tx, id, version));
  });
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
    .select({
      version: tenantTemplateVersions.version,
      name: tenantTemplateVersions.name,
      category: tenantTemplateVersions.category,
      createdAt: tenantTemplateVersions.createdAt,
      createdBy: tenantTemplateVersions.createdBy,
    })
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

/**
 * Creates a template (version 1). `isDefault` marks the built-in ones seeded at start. `cell`, when
 * given, must name a cell the control plane knows (the caller checks it is configured here).
 */
export async function createTemplate(
  db: Database,
  spec: TemplateSpec | TemplateCreate,
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
          cell: "cell" in spec ? (spec.cell ?? null) : null,
          version: 1,
          isDefault: options.isDefault ?? false,
          createdAt: now,
          updatedAt: now,
        })
        .returning(templateColumns);
      const template = row!;
      await tx
        .insert(tenantTemplateVersions)
        .values({ ...versionValues(template.id, 1, spec, actor.keyId), createdAt: now });
      await recordAudit(
        tx,
        auditFor(actor, "template.create", template.id, { name: spec.name, version: 1, cell: template.cell }),
      );
      return fromRow(template, spec.initialData);
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

/**
 * Applies an update as a new immutable version. The pinned `cell` is the template row's, not a
 * version's: an update of only the cell changes the row and keeps the version.
 */
export async function updateTemplate(
  db: Database,
  id: string,
  update: TemplateUpdate,
  actor: Actor,
  now: Date = new Date(),
): Promise<Template> {
  const { cell, ...content } = update;
  const pin = cell === undefined ? {} : { cell };
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx
        .select(templateColumns)
        .from(tenantTemplates)
        .where(eq(tenantTemplates.id, id))
        .for("update");
      if (!row || row.deletedAt) throw new NotFoundError("template", id);
      const audit = (version: number) =>
        recordAudit(
          tx,
          auditFor(actor, "template.update", id, {
            version,
            fields: Object.keys(update),
            ...(cell === undefined ? {} : { cell: { from: row.cell, to: cell } }),
          }),
        );
      if (Object.keys(content).length === 0) {
        const [updated] = await tx
          .update(tenantTemplates)
          .set({ ...pin, updatedAt: now })
          .where(eq(tenantTemplates.id, id))
          .returning(templateColumns);
        await audit(row.version);
        return fromRow(updated!, await templateInitialData(tx, id));
      }
      // Updates are merge patches (initialData's keys too), so the current initial data is needed.
      const current = fromRow(row, await templateInitialData(tx, id));
      const merged = {
        name: content.name ?? current.name,
        ...(current.description !== null ? { description: current.description } : {}),
        ...(content.description !== undefined ? { description: content.description } : {}),
        category: content.category ?? current.category,
        settings: applyMergePatch(current.settings, content.settings),
        limits: applyMergePatch(current.limits, content.limits),
        initialData: applyMergePatch(current.initialData, content.initialData),
        migrations: content.migrations ?? current.migrations,
        postProvisioningSteps: content.postProvisioningSteps ?? current.postProvisioningSteps,
      };
      const spec = parseOrThrow(templateSpecSchema, merged);
      assertTemplateRules(spec);
      const version = row.version + 1;
      const [updated] = await tx
        .update(tenantTemplates)
        .set({
          ...specColumns(spec),
          ...pin,
          version,
          updatedAt: now,
        })
        .where(eq(tenantTemplates.id, id))
        .returning(templateColumns);
      await tx
        .insert(tenantTemplateVersions)
        .values({ ...versionValues(id, version, spec, actor.keyId), createdAt: now });
      await audit(version);
      return fromRow(updated!, spec.initialData);
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
      .returning(templateColumns);
    if (!row) throw new NotFoundError("template", id);
    await recordAudit(tx, auditFor(actor, "template.delete", id, { name: row.name }));
    return fromRow(row, await templateInitialData(tx, id));
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
    const [current] = await tx
      .select(templateColumns)
      .from(tenantTemplates)
      .where(eq(tenantTemplates.id, id))
      .for("update");
    if (!current) throw new NotFoundError("template", id);
    if (!current.deletedAt)
      throw new ConflictError(`template ${id} is not deleted; there is nothing to restore`);
    const [row] = await tx
      .update(tenantTemplates)
      .set({ deletedAt: null, updatedAt: now })
      .where(eq(tenantTemplates.id, id))
      .returning(templateColumns);
    await recordAudit(
      tx,
      auditFor(actor, "template.restore", id, {
        name: current.name,
        deletedAt: current.deletedAt.toISOString(),
      }),
    );
    return fromRow(row!, await templateInitialData(tx, id));
  });
}
