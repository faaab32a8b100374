/**
 * The shape of a command, its help text, and the checks every command shares: flags validated
 * with the API's own zod schemas before any request, each problem naming its flag.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { z } from "zod";
import { fieldIssues } from "../functions/shared/validation.ts";
import type { ApiClient } from "./api-client.ts";
import { UsageError } from "./errors.ts";
import type { InputStream } from "./password.ts";
import type { Style } from "./render.ts";
import type { WatchMode } from "./watch.ts";

export const PROGRAM = "tenant-provisioning";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly description: string;
  /** Placeholder in help: `--grace-period HOURS`. */
  readonly value?: string;
  /** Checked before the command runs: a missing one is a usage error naming it. */
  readonly required?: boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Parsed flags, typed from the command's option table. */
export type FlagValues<O extends OptionSpecs> = {
  readonly [K in keyof O]: O[K]["type"] extends "boolean"
    ? boolean
    : O[K]["required"] extends true
      ? string
      : string | undefined;
};

export type ArgValues<A extends readonly string[]> = { readonly [K in A[number]]: string };

export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/** What a command gets: its flags and arguments, the API client, and the streams. */
export interface CommandContext<O extends OptionSpecs, A extends readonly string[]> {
  readonly flags: FlagValues<O>;
  readonly args: ArgValues<A>;
  readonly api: ApiClient;
  /** `--json`: stdout holds the API's JSON answer and nothing else. */
  readonly json: boolean;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: InputStream;
  readonly style: Style;
  readonly errStyle: Style;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly watch: {
    readonly mode: WatchMode;
    readonly intervalMs: number;
    /** Calls `handler` on Ctrl-C until the returned function is called. */
    readonly onInterrupt: (handler: () => void) => () => void;
  };
  /** A usage error of this command (its help is printed with it). */
  usage(message: string): UsageError;
  /** `--json`: the raw answer; otherwise the human rendering. */
  emit(raw: unknown, human: () => string): void;
}

export interface Command<
  O extends OptionSpecs = OptionSpecs,
  A extends readonly string[] = readonly string[],
> {
  /** `["template", "list"]`, or `["stats"]` for a command without sub-commands. */
  readonly path: readonly string[];
  readonly summary: string;
  /** More help text, shown under the usage line. */
  readonly description?: string;
  /** Positional arguments, all required, in order. */
  readonly args: A;
  readonly options: O;
  readonly examples?: readonly string[];
  /** Resolves with the exit code (0 unless said otherwise); errors map to theirs in main.ts. */
  run(ctx: CommandContext<O, A>): Promise<number | undefined>;
}

/** Declares a command with its flags and arguments typed from its own tables. */
export function defineCommand<const O extends OptionSpecs, const A extends readonly string[]>(
  command: Command<O, A>,
): Command {
  return command as unknown as Command;
}

export interface Group {
  readonly name: string;
  readonly summary: string;
}

// ---------------------------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------------------------

export const GLOBAL_OPTIONS = {
  "api-url": {
    type: "string",
    value: "URL",
    description: "the API's base URL (env TENANT_API_URL; default http://localhost:3000)",
  },
  "api-key": {
    type: "string",
    value: "KEY",
    description:
      "API key, sent as a bearer token (env TENANT_API_KEY; against localhost the file $DATA_DIR/admin-api-key, DATA_DIR default .data)",
  },
  json: { type: "boolean", description: "print the API's JSON answer on stdout, and nothing else there" },
  "no-color": { type: "boolean", description: "no ANSI colours (also when NO_COLOR is set)" },
  help: { type: "boolean", description: "show help for the command" },
} as const satisfies OptionSpecs;

export const EXIT_CODES_LINE =
  "Exit codes: 0 success, 1 API error, 2 usage error, 3 not found, 4 run failed or cancelled, 5 cannot reach the API, " +
  "6 not confirmed, 130 Ctrl-C";

export function optionLines(options: OptionSpecs): string[] {
  const entries = Object.entries(options).map(([name, spec]) => {
    const flag = `${name === "help" ? "-h, " : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`;
    return [flag, `${spec.description}${spec.required ? " (required)" : ""}`] as const;
  });
  const width = Math.max(...entries.map(([f]) => f.length));
  return entries.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

export function usageLine(command: Command): string {
  const args = command.args.map((a) => ` <${a}>`).join("");
  const required = Object.entries(command.options)
    .filter(([, o]) => o.required)
    .map(([n, o]) => ` --${n} ${o.value ?? "VALUE"}`)
    .join("");
  const more = Object.values(command.options).some((o) => !o.required) ? " [options]" : "";
  return `${PROGRAM} ${command.path.join(" ")}${args}${required}${more}`;
}

/** The help of one command: usage, description, options, global options, examples, exit codes. */
export function commandHelp(command: Command): string {
  const parts = [`Usage: ${usageLine(command)}`, "", command.summary];
  if (command.description) parts.push("", command.description);
  if (Object.keys(command.options).length > 0) parts.push("", "Options:", ...optionLines(command.options));
  parts.push("", "Global options:", ...optionLines(GLOBAL_OPTIONS));
  if (command.examples?.length) parts.push("", "Examples:", ...command.examples.map((e) => `  ${e}`));
  parts.push("", EXIT_CODES_LINE);
  return `${parts.join("\n")}\n`;
}

/** `template show <id> [options]`: what lists of commands show (the command's help has the rest). */
export function shortUsage(command: Command): string {
  const args = command.args.map((a) => ` <${a}>`).join("");
  return `${command.path.join(" ")}${args}${Object.keys(command.options).length > 0 ? " [options]" : ""}`;
}

/** The help of a group (`template`): its sub-commands. */
export function groupHelp(group: Group, commands: readonly Command[]): string {
  const mine = commands.filter((c) => c.path[0] === group.name);
  const width = Math.max(...mine.map((c) => shortUsage(c).length));
  return `${[
    `Usage: ${PROGRAM} ${group.name} <command> [options]`,
    "",
    group.summary,
    "",
    "Commands:",
    ...mine.map(
      (c) =>
        `  ${usageLine(c)
          .slice(PROGRAM.length + 1)
          .padEnd(width)}  ${c.summary}`,
    ),
    "",
    `Run '${PROGRAM} ${group.name} <command> --help' for a command's options.`,
    "",
    EXIT_CODES_LINE,
  ].join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Validation with the API's schemas
// ---------------------------------------------------------------------------------------------

/**
 * Parses `value` with one of the API's schemas; every problem becomes a line naming its flag.
 * `flags` maps a top-level field to its flag (`adminEmail` → `--admin-email`); fields not in it
 * are reported under `rest` (`--file: limits.maxUsers: must be positive`).
 */
export function parseFlags<S extends z.ZodType>(
  schema: S,
  value: unknown,
  flags: Readonly<Record<string, string>>,
  rest: string,
  command: readonly string[],
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const lines = fieldIssues(result.error).map(({ field, message }) => {
    const top = /^[^.[]+/.exec(field)?.[0] ?? field;
    const flag = flags[top];
    if (flag && field === top) return `${flag}: ${message}`;
    if (flag) return `${flag}: ${field.slice(top.length).replace(/^\./, "")}: ${message}`;
    return field === "(body)" ? `${rest}: ${message}` : `${rest}: ${field}: ${message}`;
  });
  throw new UsageError([...new Set(lines)].join("\n"), command);
}

/** A JSON file named by a flag; unreadable or malformed is a usage error naming the flag. */
export async function readJsonFlag(
  path: string,
  flag: string,
  cwd: string,
  command: readonly string[],
): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`${flag}: cannot read ${path} (${reason})`, command);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${path} is not valid JSON (${(error as Error).message})`, command);
  }
}

/** The object without its undefined values (a strict schema treats a present `undefined` as given). */
export function definedOnly<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
