/**
 * Webhook retries (functions/domain/webhooks/retry-policy.ts): exponential backoff with jitter,
 * capped, at least what Retry-After asks, and the default schedule retries for more than 24 hours.
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY_POLICY,
  nextAttemptAt,
  type RetryPolicy,
  retryDelayMs,
} from "../../functions/domain/webhooks/retry-policy.ts";

const POLICY: RetryPolicy = { baseMs: 1000, maxDelayMs: 60_000, windowMs: 3600_000 };

describe("retryDelayMs", () => {
  it("doubles per attempt, jittered within the upper half, up to the cap", () => {
    const lowest = (n: number) => retryDelayMs(n, POLICY, () => 0);
    const highest = (n: number) => retryDelayMs(n, POLICY, () => 1);

    expect([1, 2, 3, 4].map(highest)).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map(lowest)).toEqual([500, 1000, 2000, 4000]);
    expect(highest(30)).toBe(60_000);
    expect(lowest(30)).toBe(30_000);
  });

  it("spreads retries of deliveries that failed together", () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(5, POLICY)));

    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(8000);
      expect(d).toBeLessThanOrEqual(16_000);
    }
  });

  it("waits at least what Retry-After asks, never past the cap", () => {
    expect(retryDelayMs(1, POLICY, () => 0, 20_000)).toBe(20_000);
    expect(retryDelayMs(1, POLICY, () => 0, 3600_000)).toBe(60_000);
  });
});

describe("nextAttemptAt", () => {
  it("stops once the next attempt would fall outside the window", () => {
    const start = new Date("2026-01-01T00:00:00Z");
    const late = new Date(start.getTime() + POLICY.windowMs - 10_000);

    expect(nextAttemptAt(1, start, start, POLICY, () => 1)).toEqual(new Date(start.getTime() + 1000));
    expect(nextAttemptAt(30, start, late, POLICY, () => 1)).toBeNull();
  });

  it("retries with the default policy for more than 24 hours, however the jitter falls", () => {
    for (const random of [() => 0, () => 0.5, () => 1]) {
      const start = new Date("2026-01-01T00:00:00Z");
      let now = start;
      let attempt = 1;
      for (;;) {
        const next = nextAttemptAt(attempt, start, now, DEFAULT_RETRY_POLICY, random);
        if (!next) break;
        now = next;
        attempt++;
      }
      expect(now.getTime() - start.getTime()).toBeGreaterThan(24 * 3600_000);
      expect(attempt).toBeGreaterThan(10);
    }
  });
});
