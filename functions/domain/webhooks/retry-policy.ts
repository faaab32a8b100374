/**
 * When a failed webhook delivery is tried again: exponential backoff (doubling from `baseMs`,
 * capped at `maxDelayMs`) with "equal jitter" (a random point in the upper half of the delay, so
 * retries of many deliveries that failed together spread out but never come back at once), at
 * least what the receiver's `Retry-After` asked for, and only while the delivery's retry window
 * lasts. The defaults retry for three days — past the 24 hours the issue asks for, like the
 * Standard Webhooks example schedule — with at most six hours between two attempts.
 */

export interface RetryPolicy {
  readonly baseMs: number;
  readonly maxDelayMs: number;
  /** How long after its first attempt (or a redelivery) a delivery is retried. */
  readonly windowMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseMs: 5_000,
  maxDelayMs: 6 * 3600_000,
  windowMs: 72 * 3600_000,
};

/** The delay before the attempt after `attempt` (1 = after the first attempt failed). */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  retryAfterMs: number | null = null,
): number {
  const exponential = policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40);
  const capped = Math.min(policy.maxDelayMs, exponential);
  const jittered = Math.round(capped / 2 + random() * (capped / 2));
  return Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
}

/** When to try again after a failed attempt, or null when the window is over (the delivery fails). */
export function nextAttemptAt(
  attempt: number,
  windowStartedAt: Date,
  now: Date,
  policy: RetryPolicy,
  random: () => number = Math.random,
  retryAfterMs: number | null = null,
): Date | null {
  const next = now.getTime() + retryDelayMs(attempt, policy, random, retryAfterMs);
  return next > windowStartedAt.getTime() + policy.windowMs ? null : new Date(next);
}
