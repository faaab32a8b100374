/** How a step's failures are named for the state machine's Retry and Catch (`classifyStepError`). */
import {
  ServiceUnavailableError as DataApiServiceUnavailableError,
  DatabaseErrorException,
  DatabaseResumingException,
  DatabaseUnavailableException,
  InternalServerErrorException,
  StatementTimeoutException,
  TransactionNotFoundException,
  UnsupportedResultException,
} from "@aws-sdk/client-rds-data";
import { DrizzleQueryError } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { classifyStepError, databaseError } from "../../functions/domain/steps/run-step.ts";
import {
  ConfigurationError,
  DatabaseError,
  DatabaseUnavailableError,
  isTransientDatabaseError,
  MigrationError,
  RunCancelledError,
  ServiceUnavailableError,
  STEP_ERROR_NAMES,
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

// The RDS Data API's exceptions (the SDK's classes, wrapped as drizzle wraps a failed query).
const meta = (httpStatusCode: number) => ({ httpStatusCode, attempts: 3, totalRetryDelay: 0 });

/** A failed query as drizzle throws it: "Failed query: ..." with the driver's error as its cause. */
const failedQuery = (cause: Error) => new DrizzleQueryError("select 1", [], cause);

describe("classifyStepError on Data API errors", () => {
  it.each([
    new DatabaseResumingException({
      message:
        "The Aurora DB instance db-1 is resuming after being auto-paused. Please wait a few seconds and try again.",
      $metadata: meta(400),
    }),
    new DatabaseUnavailableException({ message: "UnknownError", $metadata: meta(504) }),
    new DataApiServiceUnavailableError({ message: "UnknownError", $metadata: meta(503) }),
    new InternalServerErrorException({ message: "UnknownError", $metadata: meta(500) }),
  ])("makes $name a DatabaseUnavailableError (a TransientError), keeping it as the cause", (exception) => {
    // Act
    const direct = classifyStepError(exception, databaseError);
    const wrapped = classifyStepError(failedQuery(exception), databaseError);

    // Assess
    for (const classified of [direct, wrapped]) {
      expect(classified).toBeInstanceOf(DatabaseUnavailableError);
      expect(classified).toBeInstanceOf(TransientError);
      expect(classified.name).toBe("DatabaseUnavailableError");
      expect(classified.message).toContain(exception.name);
      expect(isTransientDatabaseError(classified)).toBe(true);
    }
    expect(direct.cause).toBe(exception);
    expect((wrapped.cause as Error).cause).toBe(exception);
  });

  it("keeps the short-backoff TransientError for a statement timeout and a serialization failure", () => {
    // Prepare
    const timeout = new StatementTimeoutException({ message: "Request timed out", $metadata: meta(400) });
    const serialization = new DatabaseErrorException({
      message: "ERROR: could not serialize access due to concurrent update; SQLState: 40001",
      $metadata: meta(400),
    });

    // Act
    const classified = [timeout, serialization].map((e) => classifyStepError(failedQuery(e), databaseError));

    // Assess
    for (const c of classified) {
      expect(c).toBeInstanceOf(TransientError);
      expect(c.name).toBe("TransientError");
    }
  });

  it.each([
    new DatabaseErrorException({
      message: 'ERROR: duplicate key value violates unique constraint "users_pkey"; SQLState: 23505',
      $metadata: meta(400),
    }),
    new UnsupportedResultException({ message: "Packet for query is too large", $metadata: meta(400) }),
    new TransactionNotFoundException({
      message: "Transaction abc is not found. Transaction may be expired.",
      $metadata: meta(404),
    }),
  ])("leaves $name permanent: the step's own error, not retried", (exception) => {
    // Act
    const classified = classifyStepError(failedQuery(exception), databaseError);

    // Assess
    expect(classified).toBeInstanceOf(DatabaseError);
    expect(classified).not.toBeInstanceOf(TransientError);
    expect(isTransientDatabaseError(exception)).toBe(false);
  });

  it("does not take the service's own HTTP 503 for the Data API's ServiceUnavailableError", () => {
    // Prepare: same name, but ours carries no AWS response metadata
    const ours = new ServiceUnavailableError("the workflow engine did not take the run");

    // Act
    const classified = classifyStepError(ours, databaseError);

    // Assess
    expect(ours.name).toBe("ServiceUnavailableError");
    expect(classified).not.toBeInstanceOf(DatabaseUnavailableError);
  });

  it("names DatabaseUnavailableError in the vocabulary the ASL may match", () => {
    // Assess
    expect(STEP_ERROR_NAMES).toContain("DatabaseUnavailableError");
    expect(new DatabaseUnavailableError("x").name).toBe("DatabaseUnavailableError");
  });
});
