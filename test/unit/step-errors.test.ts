/**
 * How a step classifies a database error for the state machine (functions/domain/steps/run-step.ts
 * over functions/shared/errors.ts): the RDS Data API's resume and 5xx exceptions become
 * `DatabaseUnavailableError` (a `TransientError` with a retrier of its own and a long backoff),
 * other transient conditions `TransientError`, everything else the step's permanent error. The
 * errors are the SDK's own exception classes, wrapped the way drizzle wraps a failed query.
 */
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
  DatabaseError,
  DatabaseUnavailableError,
  isTransientDatabaseError,
  ServiceUnavailableError,
  STEP_ERROR_NAMES,
  TransientError,
} from "../../functions/shared/errors.ts";

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
