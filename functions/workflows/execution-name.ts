/**
 * The name of a run's execution: `<progressId>-<attempt>-<epoch ms>`. It tells which attempt of a
 * run an execution belongs to, which a handler of the execution's end needs before the run's
 * `executionRef` is written (startWorkflow writes it after StartExecution returns). Names are at
 * most 80 characters of letters, digits, `-` and `_` (step-functions/latest/apireference/API_StartExecution.html);
 * a uuid, an attempt and a timestamp take 36 + 1 + up to 4 + 1 + 13.
 */

/** The execution name for attempt `attempt` of run `progressId`, started at `at`. */
export function executionName(progressId: string, attempt: number, at: Date): string {
  return `${progressId}-${attempt}-${at.getTime()}`;
}

/**
 * The attempt an execution name says it runs for `progressId`, or undefined for a name of another
 * shape (an execution EventBridge Scheduler started, the local poller's `schedule-…`).
 */
export function executionAttempt(name: string, progressId: string): number | undefined {
  if (!name.startsWith(`${progressId}-`)) return undefined;
  const m = /^(\d+)-\d+$/.exec(name.slice(progressId.length + 1));
  return m ? Number(m[1]) : undefined;
}
