/**
 * Human output: tables for lists, key/value views for one record, durations, status colours.
 * Colours are ANSI escapes, used only when the stream is a terminal and neither `--no-color` nor
 * NO_COLOR (https://no-color.org) says otherwise; every function here also works without them.
 */
import type { RunStatus, StepStatus } from "../functions/schemas/progress.ts";

export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const wrap = (enabled: boolean, open: number, close: number) => (text: string) =>
  enabled && text !== "" ? `\x1b[${open}m${text}\x1b[${close}m` : text;

export function createStyle(enabled: boolean): Style {
  return {
    enabled,
    bold: wrap(enabled, 1, 22),
    dim: wrap(enabled, 2, 22),
    red: wrap(enabled, 31, 39),
    green: wrap(enabled, 32, 39),
    yellow: wrap(enabled, 33, 39),
    cyan: wrap(enabled, 36, 39),
  };
}

/** Colour for a stream: a terminal, and no `--no-color`, and NO_COLOR unset or empty. */
export function colorWanted(
  stream: { readonly isTTY?: boolean | undefined },
  noColorFlag: boolean,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  return stream.isTTY === true && !noColorFlag && (env.NO_COLOR ?? "") === "";
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what this matches
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above, anchored
const ANSI_AT_START = /^\x1b\[[0-9;?]*[A-Za-z]/;

/** Length as the terminal shows it: without ANSI escapes. */
export function visibleLength(text: string): number {
  return [...text.replace(ANSI, "")].length;
}

/** Cuts a line to `width` visible characters (ANSI escapes kept, a reset appended when cut). */
export function truncateVisible(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = "";
  let shown = 0;
  let i = 0;
  while (i < text.length && shown < width - 1) {
    if (text[i] === "\x1b") {
      const m = ANSI_AT_START.exec(text.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length;
        continue;
      }
    }
    const ch = String.fromCodePoint(text.codePointAt(i)!);
    out += ch;
    i += ch.length;
    shown++;
  }
  return `${out}…${text.includes("\x1b[") ? "\x1b[0m" : ""}`;
}

const pad = (text: string, width: number) => text + " ".repeat(Math.max(0, width - visibleLength(text)));

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  /** Right-align (numbers). */
  readonly right?: boolean;
}

/** A plain-text table: a header line, then one line per row; "(none)" for no rows. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], style: Style): string {
  if (rows.length === 0) return `${style.dim("(none)")}\n`;
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((r) => visibleLength(r[i] ?? ""))),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const w = widths[i]!;
        if (i === values.length - 1 && !columns[i]!.right) return v;
        return columns[i]!.right ? " ".repeat(Math.max(0, w - visibleLength(v))) + v : pad(v, w);
      })
      .join("  ")
      .trimEnd();
  const header = style.bold(line(columns.map((c) => c.header)));
  return `${[header, ...cells.map(line)].join("\n")}\n`;
}

/** `Label:  value` lines, labels aligned; entries with an undefined value are left out. */
export function details(entries: readonly (readonly [string, string | undefined])[], style: Style): string {
  const shown = entries.filter((e): e is readonly [string, string] => e[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return `${shown.map(([k, v]) => `${style.bold(pad(`${k}:`, width))}  ${v}`).join("\n")}\n`;
}

/** `120 ms`, `3.4 s`, `2 m 05 s`, `1 h 02 m`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

/** An ISO time as `2026-03-01 12:00:05Z`-ish, shorter than ISO but unambiguous (UTC). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 19).replace("T", " ")}Z`;
}

export function formatPercent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "-" : `${(rate * 100).toFixed(1)}%`;
}

/** Status words coloured by meaning: green done, red failed, yellow cancelled, cyan running. */
export function colorStatus(status: RunStatus | StepStatus | string, style: Style): string {
  switch (status) {
    case "completed":
    case "active":
      return style.green(status);
    case "failed":
      return style.red(status);
    case "cancelled":
    case "suspended":
    case "deprovisioning":
      return style.yellow(status);
    case "running":
    case "provisioning":
      return style.cyan(status);
    case "pending":
    case "skipped":
      return style.dim(status);
    default:
      return status;
  }
}

/** `[██████░░░░░░] 3/6`; ASCII `#`/`-` when the stream is not a terminal. */
export function progressBar(done: number, total: number, width: number, unicode: boolean): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(ratio * width);
  const [on, off] = unicode ? ["█", "░"] : ["#", "-"];
  return `[${on.repeat(filled)}${off.repeat(width - filled)}] ${done}/${total}`;
}

/** JSON for `--json`: indented, one trailing newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
