/** A tenant's schema name: derived from its id, never from anything a caller typed. */
import { describe, expect, it } from "vitest";
import { tenantSchemaName } from "../../functions/domain/tenants/tenant-schema.ts";
import { ValidationError } from "../../functions/shared/errors.ts";

describe("tenantSchemaName", () => {
  it("derives the schema from the tenant id", () => {
    // Act
    const name = tenantSchemaName("3F5763AB-5D80-4F9C-AACC-862E569F7DF9");

    // Assess
    expect(name).toBe("tenant_3f5763ab5d804f9caacc862e569f7df9");
  });

  it.each([
    ["a slug", "acme"],
    ["an injection attempt", 'x"; DROP SCHEMA public CASCADE; --'],
    ["a uuid with an extra character", "3f5763ab-5d80-4f9c-aacc-862e569f7df9a"],
    ["a uuid with a non-hex character", "3f5763ab-5d80-4f9c-aacc-862e569f7dfg"],
    ["nothing", ""],
  ])("rejects %s", (_what, id) => {
    // Act + Assess
    expect(() => tenantSchemaName(id)).toThrow(ValidationError);
  });
});
