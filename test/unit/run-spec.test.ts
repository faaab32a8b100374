/**
 * What a provisioning run builds and how its steps report failures: merging the request's
 * initial-data overrides, the tenant schema name, classifying step errors for the ASL, and reading
 * the failure a Catch hands to RecordFailure.
 */
import { describe, expect, it } from "vitest";
import { mergeInitialData } from "../../functions/domain/provisioning/run-spec.ts";
import { describeFailure } from "../../functions/domain/runs/run-completion.ts";
import { classifyStepError, databaseError } from "../../functions/domain/steps/run-step.ts";
import { tenantSchemaName } from "../../functions/domain/tenants/tenant-schema.ts";
import type { InitialData } from "../../functions/schemas/templates.ts";
import {
  ConfigurationError,
  DatabaseError,
  MigrationError,
  RunCancelledError,
  TransientError,
  ValidationError,
} from "../../functions/shared/errors.ts";

const TEMPLATE_DATA: InitialData = {
  schools: [
    { name: "North", code: "N-1" },
    { name: "South", code: "S-1" },
  ],
  products: [
    { sku: "PAP-A4", name: "Paper", unitPrice: 4.9 },
    { sku: "PEN-10", name: "Pens", unitPrice: 3.5 },
  ],
  users: [
    { name: "Buyer", email: "buyer@example.org", role: "buyer" },
    { name: "Approver", email: "approver@example.org", role: "approver" },
  ],
  configurations: [{ key: "orders.default_vat", value: 24 }],
};

describe("mergeInitialData", () => {
  it("keeps the template's data when there are no overrides", () => {
    // Act
    const merged = mergeInitialData(TEMPLATE_DATA, undefined);

    // Assess
    expect(merged).toEqual(TEMPLATE_DATA);
  });

  it("replaces products by sku, users by email and schools by code, and adds the rest", () => {
    // Act
    const merged = mergeInitialData(TEMPLATE_DATA, {
      products: [
        { sku: "pap-a4", name: "Recycled paper", unitPrice: 5.2 },
        { sku: "TONER", name: "Toner", unitPrice: 62 },
      ],
      users: [
        { name: "Chief Buyer", email: "BUYER@example.org", role: "approver" },
        { name: "Viewer", email: "viewer@example.org", role: "viewer" },
      ],
      schools: [{ name: "North renamed", code: "N-1" }],
    });

    // Assess
    expect(merged.products).toEqual([
      { sku: "PEN-10", name: "Pens", unitPrice: 3.5 },
      { sku: "pap-a4", name: "Recycled paper", unitPrice: 5.2 },
      { sku: "TONER", name: "Toner", unitPrice: 62 },
    ]);
    expect(merged.users!.map((u) => u.name)).toEqual(["Approver", "Chief Buyer", "Viewer"]);
    expect(merged.schools).toEqual([
      { name: "South", code: "S-1" },
      { name: "North renamed", code: "N-1" },
    ]);
    expect(merged.configurations).toEqual(TEMPLATE_DATA.configurations);
  });

  it("replaces configurations by key", () => {
    // Act
    const merged = mergeInitialData(TEMPLATE_DATA, {
      configurations: [{ key: "orders.default_vat", value: 25.5 }],
    });

    // Assess
    expect(merged.configurations).toEqual([{ key: "orders.default_vat", value: 25.5 }]);
  });

  it("does not change the template's data", () => {
    // Prepare
    const before = JSON.stringify(TEMPLATE_DATA);

    // Act
    mergeInitialData(TEMPLATE_DATA, { products: [{ sku: "PEN-10", name: "Other", unitPrice: 1 }] });

    // Assess
    expect(JSON.stringify(TEMPLATE_DATA)).toBe(before);
  });

  it("gives empty lists for a template without initial data", () => {
    // Act
    const merged = mergeInitialData({}, undefined);

    // Assess
    expect(merged).toEqual({ schools: [], products: [], users: [], configurations: [] });
  });
});

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

/** An error as node-postgres and PGlite raise it: a `code` with the SQLSTATE. */
function pgError(code: string, message = "boom"): Error {
  return Object.assign(new Error(message), { code });
}

/** As drizzle wraps it. */
function drizzleWrapped(cause: Error): Error {
  return new Error(`Failed query: INSERT ...`, { cause });
}

/** As the RDS Data API reports it: the SQLSTATE only in the message text. */
function dataApiError(code: string): Error {
  const e = new Error(`ERROR: could not do it\n  Position: 8; SQLState: ${code}`);
  e.name = "DatabaseErrorException";
  return e;
}

const migrationError = (m: string, cause: unknown) => new MigrationError(m, { cause });

describe("classifyStepError", () => {
  it.each([
    ["40001", "serialization_failure"],
    ["40P01", "deadlock_detected"],
    ["55P03", "lock_not_available"],
    ["53300", "too_many_connections"],
    ["08006", "connection_failure"],
  ])("maps SQLSTATE %s (%s) to TransientError on every driver", (code) => {
    for (const error of [pgError(code), drizzleWrapped(pgError(code)), dataApiError(code)]) {
      // Act
      const classified = classifyStepError(error, migrationError);

      // Assess
      expect(classified).toBeInstanceOf(TransientError);
      expect(classified.name).toBe("TransientError");
      expect(classified.cause).toBe(error);
    }
  });

  it("keeps the innermost message (not drizzle's query text)", () => {
    // Act
    const classified = classifyStepError(
      drizzleWrapped(pgError("40001", "could not serialize access")),
      databaseError,
    );

    // Assess
    expect(classified.message).toBe("could not serialize access");
  });

  it.each([
    ["23505", "unique_violation"],
    ["23514", "check_violation"],
    ["42P01", "undefined_table"],
    ["42601", "syntax_error"],
  ])("maps SQLSTATE %s (%s) to the step's permanent error", (code) => {
    for (const error of [pgError(code), drizzleWrapped(pgError(code)), dataApiError(code)]) {
      // Act
      const asMigration = classifyStepError(error, migrationError);
      const asDatabase = classifyStepError(error, databaseError);

      // Assess
      expect(asMigration).toBeInstanceOf(MigrationError);
      expect(asMigration.name).toBe("MigrationError");
      expect(asMigration.cause).toBe(error);
      expect(asDatabase).toBeInstanceOf(DatabaseError);
      expect(asDatabase.name).toBe("DatabaseError");
    }
  });

  it("maps connection losses without a SQLSTATE to TransientError", () => {
    // Act
    const classified = classifyStepError(
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      databaseError,
    );

    // Assess
    expect(classified).toBeInstanceOf(TransientError);
  });

  it("maps a plain programming error to the permanent error", () => {
    // Act
    const classified = classifyStepError(new TypeError("x is undefined"), databaseError);

    // Assess
    expect(classified).toBeInstanceOf(DatabaseError);
    expect(classified.message).toBe("x is undefined");
  });

  it("passes the named step errors through unchanged", () => {
    for (const error of [
      new RunCancelledError("p", "cancelled"),
      new ValidationError("bad"),
      new ConfigurationError("bad"),
      new TransientError("again"),
    ]) {
      // Act + Assess
      expect(classifyStepError(error, migrationError)).toBe(error);
    }
  });
});

describe("describeFailure", () => {
  it("reads the error name and Lambda's JSON Cause", () => {
    // Act
    const failure = describeFailure({
      Error: "DatabaseError",
      Cause: JSON.stringify({
        errorType: "DatabaseError",
        errorMessage: 'new row for relation "users" violates check constraint',
        trace: ["DatabaseError: ...", "    at runStep (run-step.ts:120:11)"],
      }),
    });

    // Assess
    expect(failure).toEqual({
      name: "DatabaseError",
      message: 'new row for relation "users" violates check constraint',
    });
  });

  it("keeps a plain-text Cause (the local runner's)", () => {
    // Act
    const failure = describeFailure({ Error: "MigrationError", Cause: "relation already exists" });

    // Assess
    expect(failure).toEqual({ name: "MigrationError", message: "relation already exists" });
  });

  it("keeps a JSON Cause without errorMessage as text", () => {
    // Act
    const failure = describeFailure({ Error: "States.Timeout", Cause: '{"detail":"x"}' });

    // Assess
    expect(failure).toEqual({ name: "States.Timeout", message: '{"detail":"x"}' });
  });

  it("falls back to the error name, and to Error", () => {
    // Act + Assess
    expect(describeFailure({ Error: "States.TaskFailed" })).toEqual({
      name: "States.TaskFailed",
      message: "States.TaskFailed",
    });
    expect(describeFailure(undefined)).toEqual({ name: "Error", message: "Error" });
  });
});
