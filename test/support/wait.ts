/** Waiting in tests: polling for a condition with a deadline, instead of fixed sleeps. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` every `intervalMs` until `done` holds and returns the value that satisfied it;
 * fails naming `what` and the last value after `timeoutMs` (generous: the machine is shared).
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 120_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value).slice(0, 3000)}`);
    }
    await sleep(intervalMs);
  }
}
