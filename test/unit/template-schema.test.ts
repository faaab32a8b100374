import { describe, expect, it } from "vitest";
import { DEFAULT_TEMPLATES } from "../../functions/domain/templates/default-templates.ts";
import { templateMigrationIssues } from "../../functions/domain/templates/template-rules.ts";
import { availableTenantMigrations } from "../../functions/domain/tenants/tenant-migrations.ts";
import { fieldIssues } from "../../functions/http/api-handler.ts";
import {
  FEATURE_FLAGS,
  POST_PROVISIONING_ACTIONS,
  templateSpecSchema,
  templateUpdateSchema,
} from "../../functions/schemas/templates.ts";
import type { FieldIssue } from "../../functions/shared/errors.ts";

/** Parses a template spec that must fail and returns the field issues it reports. */
function issuesOf(
  input: unknown,
  schema: typeof templateSpecSchema | typeof templateUpdateSchema = templateSpecSchema,
): FieldIssue[] {
  const result = schema.safeParse(input);
  expect(result.success, `expected ${JSON.stringify(input)} to be rejected`).toBe(false);
  return fieldIssues(result.error!);
}

const fields = (issues: FieldIssue[]) => issues.map((i) => i.field);

const user = (n: number) => ({ name: `User ${n}`, email: `user${n}@example.org` });
const product = (sku: string) => ({ sku, name: `Product ${sku}`, unitPrice: 1 });
const school = (n: number) => ({ name: `School ${n}` });

describe("templateSpecSchema", () => {
  it("accepts a minimal template and fills the defaults", () => {
    // Act
    const spec = templateSpecSchema.parse({ name: "  Small  " });

    // Assess
    expect(spec).toEqual({
      name: "Small",
      category: "basic",
      settings: {},
      limits: {},
      initialData: {},
      migrations: ["core"],
      postProvisioningSteps: [],
    });
  });

  it("rejects unknown keys at every level and names each of them", () => {
    // Prepare
    const input = {
      name: "T",
      colour: "blue",
      settings: { features: ["inventory"], theme: "dark" },
      limits: { maxUsers: 5, maxCats: 3 },
      initialData: { schools: [{ name: "S", principal: "P" }], pets: [] },
    };

    // Act
    const issues = issuesOf(input);

    // Assess
    expect(fields(issues).sort()).toEqual(
      [
        "colour",
        "settings.theme",
        "limits.maxCats",
        "initialData.schools[0].principal",
        "initialData.pets",
      ].sort(),
    );
    for (const issue of issues) expect(issue.message).toBe("unknown field");
  });

  it.each([
    ["negative", -5, "must be positive"],
    ["zero", 0, "must be positive"],
    ["non-integer", 2.5, "must be an integer"],
  ])("rejects a %s limit naming the limit", (_label, value, message) => {
    // Act
    const issues = issuesOf({ name: "T", limits: { maxSchools: value } });

    // Assess
    expect(issues).toEqual([{ field: "limits.maxSchools", message }]);
  });

  it("rejects a limit given as a string", () => {
    // Act
    const issues = issuesOf({ name: "T", limits: { maxUsers: "50" } });

    // Assess
    expect(fields(issues)).toEqual(["limits.maxUsers"]);
    expect(issues[0]!.message).toMatch(/expected number/);
  });

  it("rejects an unknown feature, naming its position", () => {
    // Act
    const issues = issuesOf({ name: "T", settings: { features: ["inventory", "teleportation"] } });

    // Assess
    expect(fields(issues)).toEqual(["settings.features[1]"]);
    expect(issues[0]!.message).toContain("inventory");
  });

  it("rejects a repeated feature", () => {
    // Act
    const issues = issuesOf({ name: "T", settings: { features: ["mobile", "mobile"] } });

    // Assess
    expect(fields(issues)).toEqual(["settings.features"]);
  });

  it("rejects an unknown post-provisioning step, naming its position", () => {
    // Act
    const issues = issuesOf({
      name: "T",
      postProvisioningSteps: ["send-welcome-notification", "launch-rockets"],
    });

    // Assess
    expect(fields(issues)).toEqual(["postProvisioningSteps[1]"]);
  });

  it("rejects a migration name that is not an identifier", () => {
    // Act
    const issues = issuesOf({ name: "T", migrations: ["core", "DROP TABLE x"] });

    // Assess
    expect(fields(issues)).toEqual(["migrations[1]"]);
  });

  it("rejects wrong types, naming every field", () => {
    // Act
    const issues = issuesOf({ name: 5, category: "galaxy", migrations: "core", settings: [] });

    // Assess
    expect(fields(issues).sort()).toEqual(["category", "migrations", "name", "settings"]);
  });

  it("counts the admin towards maxUsers", () => {
    // Prepare: 2 users + the admin = 3 > 2
    const input = { name: "T", limits: { maxUsers: 2 }, initialData: { users: [user(1), user(2)] } };

    // Act
    const issues = issuesOf(input);

    // Assess
    expect(fields(issues)).toEqual(["initialData.users"]);
    expect(issues[0]!.message).toContain("including the admin");
    expect(issues[0]!.message).toContain("maxUsers = 2");
  });

  it("accepts initial users that fit with the admin exactly at maxUsers", () => {
    // Act
    const result = templateSpecSchema.safeParse({
      name: "T",
      limits: { maxUsers: 3 },
      initialData: { users: [user(1), user(2)] },
    });

    // Assess
    expect(result.success).toBe(true);
  });

  it("rejects schools and products over their limits", () => {
    // Prepare
    const input = {
      name: "T",
      limits: { maxSchools: 1, maxProducts: 2 },
      initialData: { schools: [school(1), school(2)], products: [product("A"), product("B"), product("C")] },
    };

    // Act
    const issues = issuesOf(input);

    // Assess
    expect(fields(issues).sort()).toEqual(["initialData.products", "initialData.schools"]);
    expect(issues.find((i) => i.field === "initialData.schools")!.message).toContain("maxSchools = 1");
  });

  it("rejects duplicate SKUs (case-insensitive) naming the second one", () => {
    // Act
    const issues = issuesOf({
      name: "T",
      initialData: { products: [product("PAP-1"), product("PEN-1"), product("pap-1")] },
    });

    // Assess
    expect(issues).toEqual([{ field: "initialData.products[2].sku", message: "duplicate sku pap-1" }]);
  });

  it("rejects duplicate user emails", () => {
    // Act
    const issues = issuesOf({
      name: "T",
      initialData: { users: [user(1), { ...user(2), email: "USER1@example.org" }] },
    });

    // Assess
    expect(fields(issues)).toEqual(["initialData.users[1].email"]);
  });
});

describe("templateUpdateSchema", () => {
  it("rejects an empty update", () => {
    // Act
    const issues = issuesOf({}, templateUpdateSchema);

    // Assess
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toContain("at least one field");
  });

  it("keeps fields the update leaves out undefined (no defaults that would reset them)", () => {
    // Act
    const update = templateUpdateSchema.parse({ name: "Renamed" });

    // Assess
    expect(update).toEqual({ name: "Renamed" });
  });

  it("rejects unknown keys", () => {
    // Act
    const issues = issuesOf({ name: "x", version: 3 }, templateUpdateSchema);

    // Assess
    expect(issues).toEqual([{ field: "version", message: "unknown field" }]);
  });
});

describe("fieldIssues", () => {
  it("names the whole body when the body itself is the problem", () => {
    // Act
    const issues = issuesOf("not an object");

    // Assess
    expect(fields(issues)).toEqual(["(body)"]);
  });

  it("puts a prefix in front of every field", () => {
    // Prepare
    const result = templateSpecSchema.safeParse({ name: "T", limits: { maxUsers: -1 } });

    // Act
    const issues = fieldIssues(result.error!, "template");

    // Assess
    expect(fields(issues)).toEqual(["template.limits.maxUsers"]);
  });
});

describe("templateMigrationIssues", () => {
  it("names an unknown tenant migration by position", () => {
    // Act
    const issues = templateMigrationIssues(["core", "nope"]);

    // Assess
    expect(fields(issues)).toEqual(["migrations[1]"]);
    expect(issues[0]!.message).toContain('"nope"');
  });

  it("requires core first", () => {
    // Act
    const issues = templateMigrationIssues(["inventory", "core"]);

    // Assess
    expect(issues).toEqual([{ field: "migrations", message: 'must start with "core"' }]);
  });

  it("accepts every migration under migrations/tenant after core", () => {
    // Prepare
    const all = ["core", ...availableTenantMigrations().filter((m) => m !== "core")];

    // Act
    const issues = templateMigrationIssues(all);

    // Assess
    expect(issues).toEqual([]);
    expect(all).toHaveLength(7);
  });
});

describe("DEFAULT_TEMPLATES", () => {
  const byName = (name: string) => {
    const t = DEFAULT_TEMPLATES.find((d) => d.name === name);
    expect(t, name).toBeDefined();
    return t!;
  };
  const basicFeatures = ["inventory", "contracts", "deliveries", "reports", "mobile"];

  it("are exactly the product document's three templates", () => {
    // Assess
    expect(DEFAULT_TEMPLATES.map((t) => t.name)).toEqual([
      "Basic School System",
      "School District",
      "Municipality",
    ]);
    expect(DEFAULT_TEMPLATES.map((t) => t.category)).toEqual(["basic", "school_district", "municipality"]);
  });

  it("Basic School System: 50 users, 10 schools, 500 products; the five basic features", () => {
    // Act
    const t = byName("Basic School System");

    // Assess
    expect(t.limits).toMatchObject({ maxUsers: 50, maxSchools: 10, maxProducts: 500 });
    expect([...(t.settings.features ?? [])].sort()).toEqual([...basicFeatures].sort());
  });

  it("School District: 200 users, 50 schools, 2000 products; basic features + analytics", () => {
    // Act
    const t = byName("School District");

    // Assess
    expect(t.limits).toMatchObject({ maxUsers: 200, maxSchools: 50, maxProducts: 2000 });
    expect([...(t.settings.features ?? [])].sort()).toEqual([...basicFeatures, "analytics"].sort());
  });

  it("Municipality: 500 users, 200 schools, 5000 products; all seven features", () => {
    // Act
    const t = byName("Municipality");

    // Assess
    expect(t.limits).toMatchObject({ maxUsers: 500, maxSchools: 200, maxProducts: 5000 });
    expect([...(t.settings.features ?? [])].sort()).toEqual([...FEATURE_FLAGS].sort());
  });

  it.each(DEFAULT_TEMPLATES.map((t) => [t.name, t] as const))(
    "%s has a description, valid migrations, known steps and initial data within its limits",
    (_name, t) => {
      // Act
      const reparsed = templateSpecSchema.safeParse(t);

      // Assess
      expect(reparsed.success).toBe(true);
      expect(t.description?.length ?? 0).toBeGreaterThan(10);
      expect(templateMigrationIssues(t.migrations)).toEqual([]);
      expect(t.postProvisioningSteps.length).toBeGreaterThan(0);
      for (const step of t.postProvisioningSteps) expect(POST_PROVISIONING_ACTIONS).toContain(step);
      expect(t.initialData.schools?.length ?? 0).toBeGreaterThan(0);
      expect(t.initialData.products?.length ?? 0).toBeGreaterThan(0);
    },
  );
});
