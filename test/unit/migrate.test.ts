/** The control-plane migrations as `migrate` reads them (functions/db/migrate.ts). */
import { describe, expect, it } from "vitest";
import { loadMigrations, splitStatements } from "../../functions/db/migrate.ts";

describe("the control-plane migrations", () => {
  it("are read in file-name order and split with the trigger function kept whole", async () => {
    // Act
    const files = await loadMigrations();

    // Assess
    const names = files.map((f) => f.name);
    expect(names[0]).toBe("0001_control_plane.sql");
    expect(names).toEqual([...names].sort());
    const statements = splitStatements(files[0]!.sql);
    const fn = statements.find((s) => s.startsWith("CREATE FUNCTION tenant_template_versions_immutable"));
    expect(fn).toBeDefined();
    expect(fn).toContain("RAISE EXCEPTION");
    expect(fn).toMatch(/END;\s*\$\$ LANGUAGE plpgsql$/);
    expect(statements.filter((s) => /^CREATE TABLE/.test(s)).map((s) => s.split(/\s+/)[2])).toEqual(
      expect.arrayContaining([
        "tenant_templates",
        "tenant_template_versions",
        "tenants",
        "tenant_provisioning_progress",
        "users",
        "api_keys",
        "audit_logs",
      ]),
    );
    for (const s of statements) expect(s).not.toMatch(/^--/);
  });
});
