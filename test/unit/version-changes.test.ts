/**
 * What an upgrade changes (functions/domain/rollouts/version-changes.ts) and how it keeps a
 * tenant's own values (upgrade-steps.ts): pure logic, including the check that refuses migrations
 * that drop or rewrite data.
 */
import { describe, expect, it } from "vitest";
import { mergeFeatures, mergeUnchanged } from "../../functions/domain/rollouts/upgrade-steps.ts";
import {
  destructiveStatements,
  isDestructiveStatement,
  upgradeChanges,
} from "../../functions/domain/rollouts/version-changes.ts";
import { availableTenantMigrations } from "../../functions/domain/tenants/tenant-migrations.ts";

describe("destructive tenant migrations", () => {
  it.each([
    "DROP TABLE reports",
    "drop index reports_idx",
    "TRUNCATE orders",
    "DELETE FROM orders WHERE true",
    "UPDATE products SET unit = 'pcs'",
    "ALTER TABLE products DROP COLUMN unit",
    "ALTER TABLE products RENAME COLUMN unit TO units",
    "ALTER TABLE products ALTER COLUMN unit TYPE TEXT",
    "ALTER TABLE products ALTER unit SET DATA TYPE TEXT",
  ])("finds %s", (statement) => {
    expect(isDestructiveStatement(statement)).toBe(true);
  });

  it.each([
    "CREATE TABLE reports (id UUID PRIMARY KEY)",
    "ALTER TABLE products ADD COLUMN note TEXT",
    "CREATE INDEX products_sku_idx ON products (sku)",
    "ALTER TABLE products ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES y(id) ON DELETE CASCADE",
  ])("lets %s through", (statement) => {
    expect(isDestructiveStatement(statement)).toBe(false);
  });

  it("names the migration and statement, ignoring comments; the repository's migrations only add", () => {
    const found = destructiveStatements(
      ["legacy"],
      () => "-- DROP in a comment is not a statement\nCREATE TABLE a (id INT);\nDROP TABLE b;",
    );
    expect(found).toEqual([{ migration: "legacy", statement: "DROP TABLE b" }]);
    expect(destructiveStatements(availableTenantMigrations())).toEqual([]);
  });
});

describe("upgrade changes", () => {
  const v1 = {
    version: 1,
    settings: { features: ["inventory"], locale: "en" },
    limits: { maxUsers: 10 },
    migrations: ["core"],
  };
  const v2 = {
    version: 2,
    settings: { features: ["analytics"], locale: "fi-FI" },
    limits: { maxUsers: 20, maxSchools: 3 },
    migrations: ["core", "analytics"],
  };

  it("lists the new migrations, changed configuration rows and limits, nothing unchanged", () => {
    expect(upgradeChanges(v1, v2)).toEqual({
      migrations: ["analytics"],
      configurations: {
        "settings.locale": { from: "en", to: "fi-FI" },
        "features.inventory": { from: true, to: false },
        "features.analytics": { from: false, to: true },
      },
      limits: { maxUsers: { from: 10, to: 20 }, maxSchools: { from: undefined, to: 3 } },
    });
    expect(upgradeChanges(v2, v2)).toEqual({ migrations: [], configurations: {}, limits: {} });
  });

  it("keeps what the tenant changed and follows the template elsewhere", () => {
    const changes = upgradeChanges(v1, v2).limits;
    expect(mergeUnchanged({ maxUsers: 15, maxProducts: 7 }, changes)).toEqual({
      maxUsers: 15,
      maxProducts: 7,
      maxSchools: 3,
    });
    expect(mergeUnchanged({ maxUsers: 10 }, changes)).toEqual({ maxUsers: 20, maxSchools: 3 });
    expect(mergeFeatures(["inventory", "mobile"], ["inventory"], ["analytics"])).toEqual([
      "mobile",
      "analytics",
    ]);
  });
});
