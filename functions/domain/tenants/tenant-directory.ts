/**
 * Reading tenants for operators: the list (filter by status, newest first, paginated) and one
 * tenant with its template, limits, user count and last run. A tenant_admin key sees only its own
 * tenant; any other id is a 404, as if it did not exist.
 */
import { and, count, desc, eq, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, tenants, tenantTemplates, users } from "../../db/schema.ts";
import type { TenantDetail, TenantStatus, TenantSummary } from "../../schemas/deprovisioning.ts";
import { NotFoundError } from "../../shared/errors.ts";

type TenantRow = typeof tenants.$inferSelect;

function toSummary(row: TenantRow, templateName: string | null): TenantSummary {
  return {
    id: row.id,
    slug: row.slug,
    subdomain: row.subdomain,
    name: row.name,
    status: row.status,
    templateId: row.templateId,
    templateName,
    templateVersion: row.templateVersion,
    cell: row.cell,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export interface ListTenantsOptions {
  readonly limit: number;
  readonly offset: number;
  readonly status?: TenantStatus | undefined;
  /** Set for a tenant_admin key: only this tenant. */
  readonly scope: string | null;
}

export async function listTenants(
  db: Database,
  options: ListTenantsOptions,
): Promise<{ items: TenantSummary[]; total: number; limit: number; offset: number }> {
  const conditions: SQL[] = [];
  if (options.status) conditions.push(eq(tenants.status, options.status));
  if (options.scope !== null) conditions.push(eq(tenants.id, options.scope));
  const where = conditions.length > 0 ? and(...conditions) : undefined;
  const [rows, totals] = await Promise.all([
    db
      .select({ tenant: tenants, templateName: tenantTemplates.name })
      .from(tenants)
      .leftJoin(tenantTemplates, eq(tenantTemplates.id, tenants.templateId))
      .where(where)
      .orderBy(desc(tenants.createdAt), desc(tenants.id))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(tenants).where(where),
  ]);
  return {
    items: rows.map((r) => toSummary(r.tenant, r.templateName)),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

export async function getTenant(db: Database, id: string, scope: string | null): Promise<TenantDetail> {
  if (scope !== null && scope !== id) throw new NotFoundError("tenant", id);
  const [row] = await db
    .select({ tenant: tenants, templateName: tenantTemplates.name })
    .from(tenants)
    .leftJoin(tenantTemplates, eq(tenantTemplates.id, tenants.templateId))
    .where(eq(tenants.id, id));
  if (!row) throw new NotFoundError("tenant", id);
  const [[userCount], [lastRun]] = await Promise.all([
    db.select({ n: count() }).from(users).where(eq(users.tenantId, id)),
    db
      .select()
      .from(provisioningProgress)
      .where(eq(provisioningProgress.tenantId, id))
      .orderBy(desc(provisioningProgress.createdAt), desc(provisioningProgress.id))
      .limit(1),
  ]);
  const t = row.tenant;
  return {
    ...toSummary(t, row.templateName),
    template: t.templateId ? { id: t.templateId, name: row.templateName, version: t.templateVersion } : null,
    settings: t.settings,
    limits: t.limits,
    users: Number(userCount?.n ?? 0),
    lastRun: lastRun
      ? {
          id: lastRun.id,
          kind: lastRun.kind,
          status: lastRun.status ?? "pending",
          currentStep: lastRun.currentStep,
          createdAt: (lastRun.createdAt ?? new Date(0)).toISOString(),
          completedAt: lastRun.completedAt?.toISOString() ?? null,
          error: lastRun.error,
        }
      : null,
  };
}
