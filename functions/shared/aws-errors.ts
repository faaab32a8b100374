/**
 * Classifying errors of AWS SDK calls made inside workflow steps: throttling, 5xx answers and
 * network failures become `TransientError` (the state machine's Retry handles them); anything else
 * is a permanent `NetworkError` naming the call.
 */
import { NetworkError, TransientError } from "./errors.ts";

const TRANSIENT_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
  "InternalFailure",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
]);

/** True when an AWS SDK error says a retry may succeed. */
export function isTransientAwsError(error: unknown): boolean {
  if (!(error instanceof Object)) return false;
  const e = error as {
    name?: unknown;
    code?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === "number" && (status >= 500 || status === 429)) return true;
  if (typeof e.name === "string" && TRANSIENT_NAMES.has(e.name)) return true;
  return typeof e.code === "string" && /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN)$/.test(e.code);
}

/** Wraps an AWS SDK error for a step: transient → TransientError, else NetworkError. */
export function awsStepError(error: unknown, what: string): Error {
  const message = `${what}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  return isTransientAwsError(error)
    ? new TransientError(message, { cause: error })
    : new NetworkError(message, { cause: error });
}
