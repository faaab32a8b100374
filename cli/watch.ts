/**
 * `--watch`: polls a run's progress record until it ends and shows each step as it goes.
 *
 * - `live` (stdout is a terminal): redraws one block in place — a spinner on the running step, a
 *   progress bar of completed steps, attempts, durations and errors.
 * - `lines` (a pipe or a file): one line per change, so logs and CI output stay readable.
 * - `silent` (`--json`): nothing until the end; the caller prints the final record.
 *
 * The run goes on on the server whatever happens here: stopping the watch (Ctrl-C) only stops
 * looking.
 */
import type { ProgressRecord, ProgressStep, RunStatus } from "../functions/schemas/progress.ts";
import type { ApiClient } from "./api-client.ts";
import { ApiUnreachableError, InterruptedError } from "./errors.ts";
import {
  colorStatus,
  formatDuration,
  formatTime,
  progressBar,
  type Style,
  truncateVisible,
} from "./render.ts";

export type WatchMode = "live" | "lines" | "silent";

export interface WatchOutput {
  write(text: string): unknown;
  readonly columns?: number | undefined;
}

export interface WatchOptions {
  readonly client: ApiClient;
  readonly runId: string;
  readonly out: WatchOutput;
  readonly style: Style;
  readonly mode: WatchMode;
  /** Between polls of GET /progress/{id}. */
  readonly intervalMs: number;
  /** Aborted on Ctrl-C: the watch stops and says how to pick it up again. */
  readonly signal?: AbortSignal;
  /** The record the caller already has (the 202 answer), shown before the first poll. */
  readonly initial?: ProgressRecord;
}

export interface WatchResult {
  readonly record: ProgressRecord;
  /** The last answer as the API sent it (what `--json` prints). */
  readonly raw: unknown;
}

export const TERMINAL_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled"];
const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const SPINNER_TICK_MS = 100;
/** Consecutive polls without an answer tolerated before giving up (a restarting server, a blip). */
const MAX_UNREACHABLE_POLLS = 5;

const isFinished = (r: ProgressRecord) => TERMINAL_STATUSES.includes(r.status);

/** Polls until the run is completed, failed or cancelled, and returns its last record. */
export async function watchRun(options: WatchOptions): Promise<WatchResult> {
  const { client, runId, mode, signal } = options;
  const view = mode === "live" ? new LiveView(options) : mode === "lines" ? new LineView(options) : null;
  let record: ProgressRecord | undefined = options.initial;
  let raw: unknown = options.initial;
  let unreachable = 0;
  try {
    if (record) view?.update(record);
    for (;;) {
      if (record && isFinished(record)) break;
      if (record) await pause(options.intervalMs, signal, () => view?.tick());
      if (signal?.aborted) throw interrupted(runId);
      try {
        const res = await client.call("getProgress", { params: { id: runId } });
        record = res.data;
        raw = res.raw;
        unreachable = 0;
      } catch (error) {
        if (!(error instanceof ApiUnreachableError) || ++unreachable >= MAX_UNREACHABLE_POLLS) throw error;
        view?.note(`${error.message}; trying again`);
        if (!record) await pause(options.intervalMs, signal, () => {});
        continue;
      }
      view?.update(record);
    }
    view?.finish(record);
    return { record, raw };
  } finally {
    view?.close();
  }
}

function interrupted(runId: string): InterruptedError {
  return new InterruptedError(
    `stopped watching; the run goes on (tenant-provisioning progress show ${runId} --watch)`,
  );
}

/** Waits `ms`, calling `tick` every spinner frame; returns early when `signal` aborts. */
async function pause(ms: number, signal: AbortSignal | undefined, tick: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (!signal?.aborted) {
    const left = end - Date.now();
    if (left <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(left, SPINNER_TICK_MS));
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
    tick();
  }
}

interface View {
  update(record: ProgressRecord): void;
  tick(): void;
  note(message: string): void;
  finish(record: ProgressRecord): void;
  close(): void;
}

/** Elapsed time of a step: its recorded duration, or live since it started. */
function stepElapsed(step: ProgressStep, now: number): number | null {
  if (step.durationMs !== null) return step.durationMs;
  if (step.status === "running" && step.startedAt) return now - Date.parse(step.startedAt);
  if (step.startedAt && step.completedAt) return Date.parse(step.completedAt) - Date.parse(step.startedAt);
  return null;
}

function runElapsed(record: ProgressRecord, now: number): number | null {
  const start = record.startedAt ?? record.createdAt;
  const end = record.completedAt ? Date.parse(record.completedAt) : now;
  return start ? end - Date.parse(start) : null;
}

const attemptsText = (step: { status: string; attempts: number }) =>
  step.attempts === 0
    ? ""
    : step.status === "running"
      ? `attempt ${step.attempts}`
      : `${step.attempts} attempt${step.attempts === 1 ? "" : "s"}`;

/** The closing lines of a watch: the outcome, and what to do about a failed one. */
function outcomeLines(record: ProgressRecord, style: Style): string[] {
  const elapsed = formatDuration(runElapsed(record, Date.now()));
  if (record.status === "completed") {
    return [style.green(`Run ${record.id} completed${elapsed ? ` in ${elapsed}` : ""}.`)];
  }
  const lines = [style.red(`Run ${record.id} ${record.status}${record.error ? `: ${record.error}` : ""}`)];
  if (record.status === "failed") {
    // Every kind of run resumes (recover, retry); only a provisioning has something to clean up.
    const step = record.steps.find((s) => s.status === "failed");
    lines.push(
      style.dim(
        `Next: tenant-provisioning progress recover ${record.id}` +
          (step ? ` | progress retry ${record.id} ${step.id}` : "") +
          (record.kind === "provision" ? ` | progress cleanup ${record.id}` : ""),
      ),
    );
  }
  return lines;
}

class LiveView implements View {
  readonly #out: WatchOutput;
  readonly #style: Style;
  #record: ProgressRecord | undefined;
  #frame = 0;
  #lines = 0;
  #notes: string[] = [];

  constructor(options: WatchOptions) {
    this.#out = options.out;
    this.#style = options.style;
    this.#out.write("\x1b[?25l"); // hide the cursor while redrawing
  }

  update(record: ProgressRecord): void {
    this.#record = record;
    this.#notes = [];
    this.#draw();
  }

  tick(): void {
    this.#frame = (this.#frame + 1) % SPINNER.length;
    this.#draw();
  }

  note(message: string): void {
    this.#notes = [message];
    this.#draw();
  }

  finish(record: ProgressRecord): void {
    this.#record = record;
    this.#draw();
    this.#out.write(`${outcomeLines(record, this.#style).join("\n")}\n`);
    this.#lines = 0;
  }

  close(): void {
    this.#out.write("\x1b[?25h");
  }

  #draw(): void {
    const record = this.#record;
    if (!record) return;
    const width = Math.max(20, (this.#out.columns || 80) - 1);
    // Lines longer than the terminal would wrap and break the cursor arithmetic: cut them.
    const lines = frameLines(record, this.#style, SPINNER[this.#frame]!, Date.now())
      .concat(this.#notes.map((n) => this.#style.yellow(n)))
      .map((l) => truncateVisible(l, width));
    const up = this.#lines > 0 ? `\x1b[${this.#lines}A\r` : "";
    this.#out.write(`${up}\x1b[0J${lines.join("\n")}\n`);
    this.#lines = lines.length;
  }
}

/** One frame of the live view. */
export function frameLines(record: ProgressRecord, style: Style, spinner: string, now: number): string[] {
  const elapsed = formatDuration(runElapsed(record, now));
  const tenant = record.tenantId ? `  tenant ${record.tenantId}` : "";
  const lines = [
    `${style.bold(`Run ${record.id}`)}  ${record.kind}  ${colorStatus(record.status, style)}${tenant}`,
    `${progressBar(record.completedSteps, record.totalSteps, 24, true)} steps${elapsed ? `  ${elapsed}` : ""}`,
  ];
  const nameWidth = Math.max(...record.steps.map((s) => s.name.length), 4);
  for (const step of record.steps) {
    const icon = stepIcon(step.status, style, spinner);
    const cols = [
      step.name.padEnd(nameWidth),
      colorStatus(step.status, style) + " ".repeat(Math.max(0, 10 - step.status.length)),
      attemptsText(step).padEnd(10),
      formatDuration(stepElapsed(step, now)).padEnd(9),
    ];
    let line = `  ${icon} ${cols.join(" ")}`;
    if (step.error) line += ` ${style.red(`${step.error.name}: ${step.error.message}`)}`;
    lines.push(line.trimEnd());
    for (const action of step.actions ?? []) {
      let sub = `      ${stepIcon(action.status, style, spinner)} ${action.name} ${colorStatus(action.status, style)}`;
      if (action.attempts > 1) sub += ` ${attemptsText(action)}`;
      if (action.error) sub += ` ${style.red(`${action.error.name}: ${action.error.message}`)}`;
      lines.push(sub);
    }
  }
  const waiting = gracePeriodEnd(record);
  if (waiting) lines.push(style.dim(`  waiting for the grace period to end at ${formatTime(waiting)}`));
  for (const w of record.warnings) lines.push(style.yellow(`  warning: ${w.message}`));
  return lines;
}

/**
 * The end of a deprovisioning's grace period while the run waits for it: no step is running and
 * the next is pending. The time is in the run's metadata (`access.deleteAfter`), which the
 * schema leaves open; without it nothing is shown.
 */
export function gracePeriodEnd(record: ProgressRecord): string | undefined {
  if (record.kind !== "deprovision" || record.status !== "running") return undefined;
  if (record.steps.some((s) => s.status === "running")) return undefined;
  const access = record.metadata.access;
  const deleteAfter =
    typeof access === "object" && access !== null
      ? (access as { deleteAfter?: unknown }).deleteAfter
      : undefined;
  return typeof deleteAfter === "string" && Date.parse(deleteAfter) > Date.now() ? deleteAfter : undefined;
}

function stepIcon(status: string, style: Style, spinner: string): string {
  switch (status) {
    case "completed":
      return style.green("✔");
    case "failed":
      return style.red("✖");
    case "running":
      return style.cyan(spinner);
    case "skipped":
      return style.dim("-");
    default:
      return style.dim("·");
  }
}

class LineView implements View {
  readonly #out: WatchOutput;
  readonly #style: Style;
  #previous: ProgressRecord | undefined;

  constructor(options: WatchOptions) {
    this.#out = options.out;
    this.#style = options.style;
  }

  update(record: ProgressRecord): void {
    const before = this.#previous;
    this.#previous = record;
    const out: string[] = [];
    if (!before) {
      out.push(
        `run ${record.id} (${record.kind}): ${colorStatus(record.status, this.#style)}, ` +
          `${record.completedSteps}/${record.totalSteps} steps`,
      );
    }
    if (before && before.status !== record.status && !isFinished(record)) {
      out.push(`run ${record.id}: ${colorStatus(record.status, this.#style)}`);
    }
    const waiting = gracePeriodEnd(record);
    if (waiting && (!before || !gracePeriodEnd(before))) {
      out.push(`run ${record.id}: waiting for the grace period to end at ${formatTime(waiting)}`);
    }
    record.steps.forEach((step, i) => {
      const old = before?.steps.find((s) => s.name === step.name);
      const changed = old
        ? old.status !== step.status || old.attempts !== step.attempts
        : step.status !== "pending" || step.attempts > 0;
      if (changed) out.push(`[${i + 1}/${record.steps.length}] ${this.#stepLine(step)}`);
      for (const action of step.actions ?? []) {
        const oldAction = old?.actions?.find((a) => a.name === action.name);
        const actionChanged = oldAction
          ? oldAction.status !== action.status || oldAction.attempts !== action.attempts
          : action.status !== "pending";
        if (actionChanged) out.push(`      ${step.name} › ${this.#stepLine(action)}`);
      }
    });
    for (const w of record.warnings.slice(before?.warnings.length ?? 0)) {
      out.push(this.#style.yellow(`warning: ${w.code}: ${w.message}`));
    }
    if (out.length > 0) this.#out.write(`${out.join("\n")}\n`);
  }

  #stepLine(step: {
    name: string;
    status: string;
    attempts: number;
    error: { name: string; message: string } | null;
    durationMs?: number | null;
  }): string {
    const info = [attemptsText(step)];
    if (step.status !== "running") info.push(formatDuration(step.durationMs));
    const extra = info.filter((s) => s !== "").join(", ");
    let line = `${step.name}: ${colorStatus(step.status, this.#style)}${extra ? ` (${extra})` : ""}`;
    if (step.error && step.status === "failed") {
      line += ` ${this.#style.red(`${step.error.name}: ${step.error.message}`)}`;
    }
    return line;
  }

  tick(): void {}

  note(message: string): void {
    this.#out.write(`${this.#style.yellow(message)}\n`);
  }

  finish(record: ProgressRecord): void {
    this.#out.write(`${outcomeLines(record, this.#style).join("\n")}\n`);
  }

  close(): void {}
}
