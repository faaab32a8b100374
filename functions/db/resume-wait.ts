/**
 * Waiting out an auto-paused Aurora cluster. With a minimum capacity of 0 ACU, Aurora Serverless
 * v2 pauses an idle instance and resumes it on the next connection; meanwhile the Data API
 * answers `DatabaseResumingException`: "A request was cancelled because the Aurora Serverless v2
 * DB instance was paused. The Data API request automatically resumes the DB instance. Wait a few
 * seconds and try again." (RDS Data API reference; AuroraUserGuide/aurora-serverless-v2-auto-pause.html).
 * The request was cancelled before it ran, so sending the same command again is safe — even a
 * `BeginTransaction` or an `ExecuteStatement` that writes. The SDK does not retry it (the error is
 * a client fault), so this does, up to a budget the caller chooses: the API's Lambdas must answer
 * within API Gateway's 29 seconds, a workflow step can leave the rest to its state's Retry.
 */
import type { RDSDataClient } from "@aws-sdk/client-rds-data";
import { isDatabaseResuming } from "../shared/errors.ts";

export interface ResumeWaitOptions {
  /** The longest one call waits in total; the error is rethrown when the next wait would pass it. */
  readonly maxWaitMs: number;
  /** First wait; doubled after each attempt up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `send` again while it fails with DatabaseResumingException, within the budget. */
export async function sendWaitingForResume<T>(
  send: () => Promise<T>,
  options: ResumeWaitOptions,
): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const maxDelay = options.maxDelayMs ?? 5000;
  const started = now();
  let delay = options.initialDelayMs ?? 1000;
  for (;;) {
    try {
      return await send();
    } catch (error) {
      if (!isDatabaseResuming(error)) throw error;
      const waited = now() - started;
      if (waited + delay > options.maxWaitMs) throw error;
      await sleep(delay);
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}

/**
 * The client with a `send` that waits for a resuming cluster (drizzle's Data API driver only calls
 * `send`). A budget of 0 returns the client unchanged.
 */
export function waitingForResume(client: RDSDataClient, options: ResumeWaitOptions): RDSDataClient {
  if (options.maxWaitMs <= 0) return client;
  // `send` is overloaded (promise and callback forms); drizzle uses the one-argument promise form.
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const waitingSend = (command: unknown) => sendWaitingForResume(() => send(command), options);
  return new Proxy(client, {
    get: (target, property, receiver) =>
      property === "send" ? waitingSend : Reflect.get(target, property, receiver),
  });
}
