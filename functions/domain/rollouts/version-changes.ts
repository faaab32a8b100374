/**
 * What moving a tenant from one version of its template to another changes: the tenant migrations
 * the newer version names that the older one did not, and the settings, feature flags and limits
 * whose template value differs. A rollout's plan, its dry run and the `UpgradeTenant` step all
 * compute it here, so the plan shown is the change made.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenantTemplateVersions } from "../../db/schema.ts";
import { splitStatements } from "../../db/sql.ts";
import { FEATURE_FLAGS } from "../../schemas/templates.ts";
import { NotFoundError } from "../../shared/errors.ts";
import { readTenantMigration } from "../tenants/tenant-migrations.ts";

/** The parts of a template version an upgrade reads (initial data is for new tenants only). */
export interface VersionSpec {
  readonly version: number;
  readonly settings: Record<string, unknown>;
  readonly limits: Record<string, number>;
  readonly migrations: readonly string[];
}

/** A value the template changes: the older version's (undefined: new) and the newer one's. */
export interface ValueChange {
  readonly from: unknown;
  readonly to: unknown;
}

export interface UpgradeChanges {
  /** Tenant migrations to apply, in the newer version's order. */
  readonly migrations: string[];
  /** Configuration rows (`settings.<key>`, `features.<flag>`) the upgrade sets. */
  readonly configurations: Record<string, ValueChange>;
  /** Limits the upgrade sets. */
  readonly limits: Record<string, ValueChange>;
}

/** Loads the named versions of a template (one query); a missing one is a 404. */
export async function loadVersions(
  db: Database,
  templateId: string,
  versions: readonly number[],
): Promise<Map<number, VersionSpec>> {
  const wanted = [...new Set(versions)];
  const rows =
    wanted.length === 0
      ? []
      : await db
          .select({
            version: tenantTemplateVersions.version,
            settings: tenantTemplateVersions.settings,
            limits: tenantTemplateVersions.limits,
            migrations: tenantTemplateVersions.migrations,
          })
          .from(tenantTemplateVersions)
          .where(
            and(
              eq(tenantTemplateVersions.templateId, templateId),
              inArray(tenantTemplateVersions.version, wanted),
            ),
          );
  const found = new Map(rows.map((r) => [r.version, r]));
  for (const v of wanted) {
    if (!found.has(v)) throw new NotFoundError(`template ${templateId} version`, String(v));
  }
  return found;
}

/** A version's configuration rows as SetupConfigurations writes them: settings, every feature flag. */
export function configurationValues(spec: VersionSpec): Record<string, unknown> {
  const { features, ...settings } = spec.settings as { features?: string[] } & Record<string, unknown>;
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (value !== undefined) values[`settings.${key}`] = value;
  }
  const enabled = new Set(features ?? []);
  for (const flag of FEATURE_FLAGS) values[`features.${flag}`] = enabled.has(flag);
  return values;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function changedValues(
  from: Record<string, unknown>,
  to: Record<string, unknown>,
): Record<string, ValueChange> {
  const changes: Record<string, ValueChange> = {};
  for (const [key, value] of Object.entries(to)) {
    if (!same(from[key], value)) changes[key] = { from: from[key], to: value };
  }
  return changes;
}

/**
 * The change from `from` to `to`. Values only the older version has are left as they are (an
 * upgrade never removes a tenant's setting), and migrations only the older one names stay applied.
 */
export function upgradeChanges(from: VersionSpec, to: VersionSpec): UpgradeChanges {
  const had = new Set(from.migrations);
  return {
    migrations: to.migrations.filter((m) => !had.has(m)),
    configurations: changedValues(configurationValues(from), configurationValues(to)),
    limits: changedValues(from.limits, to.limits),
  };
}

/** A statement of a tenant migration that would drop or rewrite data. */
export interface DestructiveStatement {
  readonly migration: string;
  readonly statement: string;
}

const DESTRUCTIVE = [
  /^(DROP|TRUNCATE|DELETE|UPDATE|MERGE)\b/i,
  /^ALTER\s+TABLE\b[\s\S]*\b(DROP|RENAME)\b/i,
  /^ALTER\s+TABLE\b[\s\S]*\bALTER\s+(COLUMN\s+)?\S+\s+(SET\s+DATA\s+)?TYPE\b/i,
];

/** Whether one SQL statement drops or rewrites data (anything but adding is). */
export function isDestructiveStatement(statement: string): boolean {
  const text = statement.trim();
  return DESTRUCTIVE.some((pattern) => pattern.test(text));
}

/** The statements of these tenant migrations that would drop or rewrite data. */
export function destructiveStatements(
  migrations: readonly string[],
  read: (name: string) => string = readTenantMigration,
): DestructiveStatement[] {
  const found: DestructiveStatement[] = [];
  for (const migration of migrations) {
    for (const statement of splitStatements(read(migration))) {
      if (isDestructiveStatement(statement)) {
        found.push({ migration, statement: statement.replace(/\s+/g, " ").slice(0, 200) });
      }
    }
  }
  return found;
}
