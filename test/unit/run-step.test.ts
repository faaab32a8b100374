/** How a step's failures are named for the state machine's Retry and Catch (`classifyStepError`). */
import { describe, expect, it } from "vitest";
import { classifyStepError, databaseError } from "../../functions/domain/steps/run-step.ts";
import {
  ConfigurationError,
  DatabaseError,
  MigrationError,
  RunCancelledError,
  TransientError,
  ValidationError,
} from "../../functions/shared/errors.ts";

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
