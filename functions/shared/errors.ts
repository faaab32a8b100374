/**
 * The one error vocabulary of the service.
 *
 * - `HttpError` subclasses carry a status code and serialise to `{"error":{"code","message","details"}}`.
 *   Only 4xx messages reach clients; anything else is answered as "internal error" and logged.
 * - Step errors are thrown into Step Functions; their `name` is what the ASL's `ErrorEquals` matches,
 *   so renaming one is a change to `statemachines/*.asl.json` too.
 */

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/** What every error answer's `details` holds besides its own facts: the request it answers. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** The one error shape: `{"error":{"code","message","details"}}`, `details.requestId` always set. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: ErrorDetails };
}

export abstract class HttpError extends Error {
  abstract readonly statusCode: number;
  abstract readonly code: string;
  readonly details: ErrorDetails | undefined;
  /** Response headers this error calls for (`WWW-Authenticate` on a 401, `Allow` on a 405). */
  readonly headers: Readonly<Record<string, string>> = {};
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.details = details;
  }
  toBody(requestId: string): ErrorBody {
    return { error: { code: this.code, message: this.message, details: { ...this.details, requestId } } };
  }
}

/** A 5xx says only "internal error" (the cause is logged, never sent). */
export function internalErrorBody(requestId: string): ErrorBody {
  return { error: { code: "internal_error", message: "internal error", details: { requestId } } };
}

/** 400: the request is malformed or a field is invalid; `details` lists the fields. */
export class RequestValidationError extends HttpError {
  readonly statusCode = 400;
  readonly code: string;
  constructor(message: string, issues: readonly FieldIssue[] = [], code = "validation_error") {
    super(message, issues.length > 0 ? { fields: issues } : undefined);
    this.name = "RequestValidationError";
    this.code = code;
  }
  /** Builds the error for a single field, naming it in the message. */
  static field(field: string, message: string): RequestValidationError {
    return new RequestValidationError(`${field}: ${message}`, [{ field, message }]);
  }
}

export class UnauthorizedError extends HttpError {
  readonly statusCode = 401;
  readonly code = "unauthorized";
  // RFC 6750 §3: a 401 names the scheme the client should use.
  override readonly headers = { "www-authenticate": "Bearer" };
  constructor(message = "a valid API key is required (Authorization: Bearer <key>)") {
    super(message);
    this.name = "UnauthorizedError";
  }
}

export class ForbiddenError extends HttpError {
  readonly statusCode = 403;
  readonly code = "forbidden";
  constructor(message = "this API key's role may not do that") {
    super(message);
    this.name = "ForbiddenError";
  }
}

export class NotFoundError extends HttpError {
  readonly statusCode = 404;
  readonly code = "not_found";
  constructor(what: string, id?: string) {
    super(id === undefined ? `${what} not found` : `${what} ${id} not found`);
    this.name = "NotFoundError";
  }
}

export class MethodNotAllowedError extends HttpError {
  readonly statusCode = 405;
  readonly code = "method_not_allowed";
  override readonly headers: Readonly<Record<string, string>>;
  constructor(method: string, path: string, allowed: readonly string[] = []) {
    super(`${method} is not allowed on ${path}`, allowed.length > 0 ? { allowed } : undefined);
    this.name = "MethodNotAllowedError";
    this.headers = allowed.length > 0 ? { allow: allowed.join(", ") } : {};
  }
}

export class ConflictError extends HttpError {
  readonly statusCode = 409;
  readonly code = "conflict";
  constructor(message: string, details?: ErrorDetails) {
    super(message, details);
    this.name = "ConflictError";
  }
}

export class PayloadTooLargeError extends HttpError {
  readonly statusCode = 413;
  readonly code = "payload_too_large";
  constructor(limitBytes: number) {
    super(`request body is larger than ${limitBytes} bytes`, { limitBytes });
    this.name = "PayloadTooLargeError";
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  readonly statusCode = 415;
  readonly code = "unsupported_media_type";
  constructor(received: string | undefined) {
    super("request body must be application/json", { contentType: received ?? null });
    this.name = "UnsupportedMediaTypeError";
  }
}

/** 503: a dependency (the workflow engine) could not take the request; retrying later may work. */
export class ServiceUnavailableError extends HttpError {
  readonly statusCode = 503;
  readonly code: string;
  /** Sent as `Retry-After` when set: when the client should try again. */
  readonly retryAfterSeconds: number | undefined;
  override readonly headers: Readonly<Record<string, string>>;
  constructor(
    message: string,
    options?: ErrorOptions & { readonly retryAfterSeconds?: number; readonly code?: string },
  ) {
    super(message, undefined, options);
    this.name = "ServiceUnavailableError";
    this.code = options?.code ?? "service_unavailable";
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.headers =
      this.retryAfterSeconds === undefined ? {} : { "retry-after": String(this.retryAfterSeconds) };
  }
}

/**
 * How long a client should wait before retrying a request the database could not take because it
 * was resuming from auto-pause. Resuming takes seconds ("wait a few seconds and try again", the
 * Data API's DatabaseResumingException); the API already waited `DATABASE_RESUME_WAIT_SECONDS`.
 */
export const DATABASE_RESUMING_RETRY_AFTER_SECONDS = 10;

/**
 * 503 for a request whose API key could not be checked (the key store — the database — failed or
 * is resuming): API Gateway's AUTHORIZER_FAILURE response says the same (lib/constructs/api.ts).
 */
export function authorizerUnavailableError(cause?: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError("the API key could not be checked; retry shortly", {
    cause,
    retryAfterSeconds: DATABASE_RESUMING_RETRY_AFTER_SECONDS,
  });
}

/** 503 for a request the database could not take while resuming from auto-pause. */
export function databaseResumingError(cause: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError("the database is resuming after being idle; retry in a few seconds", {
    cause,
    code: "database_resuming",
    retryAfterSeconds: DATABASE_RESUMING_RETRY_AFTER_SECONDS,
  });
}

// ---------------------------------------------------------------------------------------------
// Step errors (thrown inside workflow steps; matched by name in the ASL)
// ---------------------------------------------------------------------------------------------

/** Something a retry can fix: connection loss, serialization failure, deadlock, lock timeout. */
export class TransientError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransientError";
  }
}

/**
 * The database, or the RDS Data API in front of it, is not answering for now: an auto-paused
 * Aurora Serverless v2 instance resuming (`DatabaseResumingException`), a writer failover
 * (`DatabaseUnavailableException`), a Data API 5xx. A `TransientError` (the step's work was rolled
 * back, a retry is safe) with a name of its own, so that the ASL retries it with a backoff long
 * enough for Aurora to resume (15-30 s) while ordinary transient errors keep their short one.
 */
export class DatabaseUnavailableError extends TransientError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatabaseUnavailableError";
  }
}

/** Input that can never succeed as given. */
export class ValidationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ValidationError";
  }
}

/**
 * A rollout stopped starting upgrades: more of its tenants failed than its
 * `toleratedFailurePercent` allows (the rollout run fails with this name; it is not retried).
 */
export class FailureBudgetExceededError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FailureBudgetExceededError";
  }
}

/** A database operation failed in a way a retry will not fix (constraint, syntax, missing object). */
export class DatabaseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatabaseError";
  }
}

/** A tenant migration could not be applied. */
export class MigrationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MigrationError";
  }
}

/** A template's configuration could not be applied to the tenant. */
export class ConfigurationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigurationError";
  }
}

/** An external service answered with a permanent failure. */
export class NetworkError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NetworkError";
  }
}

/** The run was cancelled (or otherwise is no longer wanted); the step did nothing. */
export class RunCancelledError extends Error {
  constructor(progressId: string, status: string) {
    super(`run ${progressId} is ${status}; step not executed`);
    this.name = "RunCancelledError";
  }
}

/** A batch attempt had more failed children than its failure budget tolerates; it started no more. */
export class BatchFailureBudgetExceededError extends ValidationError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BatchFailureBudgetExceededError";
  }
}

/** Names every step error the ASL may match, so the ASL test can check them against this file. */
export const STEP_ERROR_NAMES = [
  "TransientError",
  "DatabaseUnavailableError",
  "ValidationError",
  "DatabaseError",
  "MigrationError",
  "ConfigurationError",
  "NetworkError",
  "RunCancelledError",
  "BatchFailureBudgetExceededError",
] as const;
export type StepErrorName = (typeof STEP_ERROR_NAMES)[number];

// ---------------------------------------------------------------------------------------------
// Classifying database errors
// ---------------------------------------------------------------------------------------------

/** SQLSTATE codes a retry can fix. */
const TRANSIENT_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available (lock_timeout)
  "57014", // query_canceled (statement_timeout)
  "53300", // too_many_connections
  "53400", // configuration_limit_exceeded
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
]);

const TRANSIENT_MESSAGES =
  /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|Connection terminated|connection.*(closed|lost)|Communications link failure|StatementTimeoutException|ThrottlingException|DatabaseResumingException|resuming after being auto-paused/i;

/** Finds a SQLSTATE on an error or any of its causes (drivers wrap errors differently). */
export function sqlState(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Object; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    const message = (current as { message?: unknown }).message;
    if (typeof message === "string") {
      // The Data API reports Postgres errors only in the message text: "ERROR: ...; SQLState: 40001"
      const m = /SQLState: ([0-9A-Z]{5})/.exec(message);
      if (m?.[1]) return m[1];
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function messageChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Object; depth++) {
    const m = (current as { message?: unknown }).message;
    const n = (current as { name?: unknown }).name;
    if (typeof n === "string") parts.push(n);
    if (typeof m === "string") parts.push(m);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join(" | ");
}

/**
 * RDS Data API exceptions that mean the database cannot be reached for now (their classes in
 * @aws-sdk/client-rds-data; HTTP status as modelled). The SDK retries the 5xx ones itself before
 * they reach us; `DatabaseResumingException` is a 400 it does not retry.
 * https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_ExecuteStatement.html#API_ExecuteStatement_Errors
 */
const DATA_API_UNAVAILABLE = new Set([
  // "A request was cancelled because the Aurora Serverless v2 DB instance was paused. The Data API
  // request automatically resumes the DB instance. Wait a few seconds and try again."
  "DatabaseResumingException",
  // 504 "The writer instance in the DB cluster isn't available." (failover, maintenance)
  "DatabaseUnavailableException",
  // 503 "The service specified by the resourceArn parameter isn't available."
  "ServiceUnavailableError",
  // 500 "An internal error occurred."
  "InternalServerErrorException",
]);

/**
 * The Data API exception on an error or its causes that says the database is unavailable for now.
 * Only AWS SDK service exceptions count (they carry `$metadata`): our own HTTP 503
 * `ServiceUnavailableError` shares a name with one of them.
 */
function unavailableDataApiError(error: unknown): { name: string; message: string } | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Object; depth++) {
    const { name, message, $metadata } = current as {
      name?: unknown;
      message?: unknown;
      $metadata?: unknown;
    };
    if (typeof name === "string" && DATA_API_UNAVAILABLE.has(name) && $metadata instanceof Object) {
      return { name, message: typeof message === "string" ? message : "" };
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * True when an error (or one of its causes: drizzle wraps driver errors) is the Data API's
 * `DatabaseResumingException`: Aurora Serverless v2 at 0 ACU is resuming, the request was
 * cancelled before it ran, and sending it again shortly succeeds.
 */
export function isDatabaseResuming(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Object; depth++) {
    if ((current as { name?: unknown }).name === "DatabaseResumingException") return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** True when a database error is one a retry may fix. */
export function isTransientDatabaseError(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (unavailableDataApiError(error)) return true;
  const state = sqlState(error);
  if (state !== undefined) return TRANSIENT_SQLSTATES.has(state) || state.startsWith("08");
  return TRANSIENT_MESSAGES.test(messageChain(error));
}

/**
 * A database error as the step error the state machine retries - `DatabaseUnavailableError` (long
 * backoff) or `TransientError` (short) - or undefined when a retry will not fix it.
 */
export function transientDatabaseError(error: unknown): TransientError | undefined {
  if (error instanceof TransientError) return error;
  const unavailable = unavailableDataApiError(error);
  if (unavailable) {
    return new DatabaseUnavailableError(
      `the database is unavailable for now (${unavailable.name}: ${unavailable.message})`,
      { cause: error },
    );
  }
  if (isTransientDatabaseError(error)) return new TransientError(rootMessage(error), { cause: error });
  return undefined;
}

/** The innermost human message of an error chain (drizzle wraps driver errors as "Failed query: ..."). */
export function rootMessage(error: unknown): string {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && current instanceof Object; depth++) {
    const m = (current as { message?: unknown }).message;
    if (typeof m === "string" && m.length > 0) message = m;
    current = (current as { cause?: unknown }).cause;
  }
  return message;
}
