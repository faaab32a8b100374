/** What commands that start or resume a run do with its 202 answer: print it, or `--watch` it. */
import type { ProgressRecord } from "../../functions/schemas/progress.ts";
import type { ApiResponse } from "../api-client.ts";
import type { CommandContext, OptionSpecs } from "../command.ts";
import { RunFailedError } from "../errors.ts";
import { json } from "../render.ts";
import { runStarted } from "../views.ts";
import { watchRun } from "../watch.ts";

export const WATCH_OPTION = {
  type: "boolean",
  description: "follow the run live until it ends; exit 0 if it completed, 4 if it failed or was cancelled",
} as const;

export type AnyContext = CommandContext<OptionSpecs, readonly string[]>;

/**
 * Follows a run to its end (live, line by line, or silently with `--json`, which then prints the
 * last record). Resolves 0 when it completed; a failed or cancelled run is RunFailedError (exit 4).
 */
export async function watchToEnd(ctx: AnyContext, initial: ProgressRecord): Promise<number> {
  const interrupt = new AbortController();
  const stopListening = ctx.watch.onInterrupt(() => interrupt.abort());
  let watched: Awaited<ReturnType<typeof watchRun>>;
  try {
    watched = await watchRun({
      client: ctx.api,
      runId: initial.id,
      out: ctx.stdout,
      style: ctx.style,
      mode: ctx.watch.mode,
      intervalMs: ctx.watch.intervalMs,
      signal: interrupt.signal,
      initial,
    });
  } finally {
    stopListening();
  }
  const { record, raw } = watched;
  if (ctx.json) ctx.stdout.write(json(raw));
  if (record.status !== "completed") throw new RunFailedError(record.id, record.status);
  return 0;
}

/** Without `--watch`: the record (JSON, or a line saying how to follow it). With it: watchToEnd. */
export async function followRun(
  ctx: AnyContext,
  res: ApiResponse<ProgressRecord>,
  options: { readonly watch: boolean; readonly verb: string; readonly note?: string | undefined },
): Promise<number> {
  if (!options.watch) {
    ctx.emit(res.raw, () => runStarted(res.data, options.verb, ctx.style) + (options.note ?? ""));
    return 0;
  }
  if (!ctx.json && options.note) ctx.stdout.write(options.note);
  return watchToEnd(ctx, res.data);
}
