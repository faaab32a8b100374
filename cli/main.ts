/**
 * `tenant-provisioning`: the command line client of the tenant provisioning REST API.
 *
 * This file holds the command table, the global options, argument parsing and the mapping of
 * errors to exit codes; the commands live in `commands/`, the HTTP client in `api-client.ts`.
 * It is a client of the API only (local or deployed), never of the database.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import packageJson from "../package.json" with { type: "json" };
import { ApiClient } from "./api-client.ts";
import {
  type Command,
  type CommandContext,
  commandHelp,
  GLOBAL_OPTIONS,
  type Group,
  groupHelp,
  type OptionSpecs,
  type OutputStream,
  optionLines,
  PROGRAM,
  shortUsage,
} from "./command.ts";
import { alertCommands } from "./commands/alerts.ts";
import { batchCommands } from "./commands/batches.ts";
import { cellCommands } from "./commands/cells.ts";
import { keyCommands } from "./commands/keys.ts";
import { progressCommands } from "./commands/progress.ts";
import { provisionCommands } from "./commands/provision.ts";
import { rolloutCommands } from "./commands/rollouts.ts";
import { statsCommands } from "./commands/stats.ts";
import { templateCommands } from "./commands/templates.ts";
import { tenantCommands } from "./commands/tenants.ts";
import { webhookCommands } from "./commands/webhooks.ts";
import { whoamiCommands } from "./commands/whoami.ts";
import {
  ApiError,
  ApiUnreachableError,
  DeclinedError,
  EXIT,
  EXIT_CODE_HELP,
  exitCodeOf,
  InterruptedError,
  UsageError,
} from "./errors.ts";
import type { InputStream } from "./password.ts";
import { colorWanted, createStyle, json, type Style } from "./render.ts";

export const VERSION: string = packageJson.version;

const GROUPS: readonly Group[] = [
  { name: "template", summary: "Tenant templates: list, show, versions, create, update, delete, restore" },
  {
    name: "provision",
    summary: "Provision a tenant from a template or from a spec file, or many from a CSV/JSON file",
  },
  { name: "batch", summary: "Batches of provisionings: show (--watch), cancel, retry" },
  { name: "progress", summary: "Runs: list, show (--watch), cancel, retry a step, recover, clean up" },
  { name: "deprovision", summary: "Deprovision a tenant now (or --dry-run), or schedule it" },
  { name: "schedules", summary: "Scheduled deprovisionings: list, cancel" },
  { name: "tenants", summary: "Tenants: list, show" },
  { name: "backups", summary: "A tenant's backups" },
  { name: "restore", summary: "Restore a tenant from a backup" },
  { name: "stats", summary: "Run statistics" },
  { name: "alerts", summary: "Alerts raised by the operations sweep: list, resolve" },
  { name: "keys", summary: "API keys: create, list, revoke" },
  { name: "whoami", summary: "The API key in use" },
  { name: "cells", summary: "Cells (tenant databases): list, close to new tenants, open" },
  { name: "webhooks", summary: "Webhooks: add, list, remove, deliveries, redeliver, test, rotate-secret" },
  {
    name: "rollout",
    summary:
      "Template upgrades rolled out to tenants in waves: plan, start, list, show, pause, resume, abort",
  },
];

export const COMMANDS: readonly Command[] = [
  ...templateCommands,
  ...provisionCommands,
  ...batchCommands,
  ...progressCommands,
  ...tenantCommands,
  ...statsCommands,
  ...alertCommands,
  ...keyCommands,
  ...whoamiCommands,
  ...webhookCommands,
  ...rolloutCommands,
  ...cellCommands,
];

const DEFAULT_API_URL = "http://localhost:3000";
const DEFAULT_WATCH_INTERVAL_MS = 1000;
const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export interface CliIo {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: InputStream;
  /** Subscribes to Ctrl-C (the watch stops and says how to resume); returns the unsubscribe. */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => shortUsage(c).length));
  const lines = [
    `${PROGRAM} ${VERSION}: provision, follow and remove tenants through the tenant provisioning API.`,
    "",
    `Usage: ${PROGRAM} <command> [options]`,
    "",
    "Commands:",
  ];
  for (const group of GROUPS) {
    for (const c of COMMANDS.filter((c) => c.path[0] === group.name)) {
      lines.push(`  ${shortUsage(c).padEnd(width)}  ${c.summary}`);
    }
  }
  lines.push(
    "",
    "Global options:",
    ...optionLines({
      ...GLOBAL_OPTIONS,
      version: { type: "boolean", description: "print the CLI's version" },
    }),
    "",
    "Environment:",
    `  TENANT_API_URL                the API's base URL (default ${DEFAULT_API_URL})`,
    "  TENANT_API_KEY                the API key",
    "  DATA_DIR                      where a local server keeps admin-api-key (default .data)",
    "  NO_COLOR                      set to turn colours off",
    `  TENANT_CLI_WATCH_INTERVAL_MS  --watch polling interval (default ${DEFAULT_WATCH_INTERVAL_MS})`,
    "",
    EXIT_CODE_HELP,
    "",
    `Run '${PROGRAM} <command> --help' for a command's options.`,
  );
  return `${lines.join("\n")}\n`;
}

/** The command words at the front (after leading global options), resolved against the table. */
function resolveCommand(argv: readonly string[]): {
  command?: Command;
  group?: Group;
  words: string[];
  rest: string[];
} {
  const rest: string[] = [];
  let i = 0;
  // Global options may come before the command: `tenant-provisioning --json template list`.
  while (i < argv.length && argv[i]!.startsWith("-") && argv[i] !== "--") {
    const token = argv[i]!;
    rest.push(token);
    if ((token === "--api-url" || token === "--api-key") && i + 1 < argv.length) rest.push(argv[++i]!);
    i++;
  }
  const first = argv[i];
  if (first === undefined || first.startsWith("-")) return { words: [], rest: [...rest, ...argv.slice(i)] };
  const group = GROUPS.find((g) => g.name === first);
  const single = COMMANDS.find((c) => c.path.length === 1 && c.path[0] === first);
  if (single) return { command: single, words: [first], rest: [...rest, ...argv.slice(i + 1)] };
  if (!group) return { words: [first], rest: [...rest, ...argv.slice(i + 1)] };
  const second = argv[i + 1];
  const command =
    second === undefined ? undefined : COMMANDS.find((c) => c.path[0] === first && c.path[1] === second);
  if (!command)
    return {
      group,
      words: second && !second.startsWith("-") ? [first, second] : [first],
      rest: [...rest, ...argv.slice(i + 1)],
    };
  return { command, group, words: [first, second!], rest: [...rest, ...argv.slice(i + 2)] };
}

/** Node's parseArgs messages, said the CLI's way. */
function parseArgsMessage(error: Error): string {
  const m = error.message;
  let found = /^Unknown option '([^']+)'/.exec(m);
  if (found) return `unknown option ${found[1]}`;
  found = /^Option '(--[\w-]+)(?: <value>)?' argument missing/.exec(m);
  if (found) return `${found[1]} needs a value`;
  found = /^Option '(--[\w-]+)' argument is ambiguous/.exec(m);
  if (found) return `${found[1]} needs a value (for a value that starts with "-", write ${found[1]}=VALUE)`;
  found = /^Option '(--[\w-]+)' does not take an argument/.exec(m);
  if (found) return `${found[1]} takes no value`;
  found = /^Unexpected argument '([^']+)'/.exec(m);
  if (found) return `unexpected argument '${found[1]}'`;
  return m.split("\n")[0] ?? m;
}

/** Where the API key came from, so that a 401 can say what was tried. */
export type KeySource =
  | { readonly kind: "flag" | "env" }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "none"; readonly looked?: string };

/** The API key: the flag, TENANT_API_KEY, or — against a local server — `$DATA_DIR/admin-api-key`. */
function resolveApiKey(
  flag: string | undefined,
  apiUrl: URL,
  io: CliIo,
): { key: string | undefined; source: KeySource } {
  if (flag) return { key: flag, source: { kind: "flag" } };
  if (io.env.TENANT_API_KEY) return { key: io.env.TENANT_API_KEY, source: { kind: "env" } };
  if (!LOCAL_HOSTS.has(apiUrl.hostname)) return { key: undefined, source: { kind: "none" } };
  const file = resolve(io.cwd, io.env.DATA_DIR || ".data", "admin-api-key");
  try {
    const key = readFileSync(file, "utf8").trim();
    if (key) return { key, source: { kind: "file", path: file } };
  } catch {
    // not there: said in the hint of the 401 that follows
  }
  return { key: undefined, source: { kind: "none", looked: file } };
}

/** What to do about a 401, given where the key came from. */
function unauthorizedHint(source: KeySource): string {
  const set = "pass --api-key KEY or set TENANT_API_KEY (an admin key)";
  switch (source.kind) {
    case "flag":
      return `hint: the key given with --api-key was not accepted (revoked, or for another service?); ${set}`;
    case "env":
      return `hint: the key in TENANT_API_KEY was not accepted (revoked, or for another service?); ${set}`;
    case "file":
      return `hint: the key in ${source.path} was not accepted (from another data directory?); ${set}`;
    case "none":
      return source.looked
        ? `hint: no API key: looked for ${source.looked} (a local server writes it there; run from the\n` +
            "directory you ran 'npm start' in, or set DATA_DIR), found none; or " +
            `${set}, e.g. export TENANT_API_KEY="$(cat /path/to/.data/admin-api-key)"`
        : `hint: no API key; ${set}`;
  }
}

function watchInterval(env: CliIo["env"]): number {
  const value = Number(env.TENANT_CLI_WATCH_INTERVAL_MS);
  return Number.isInteger(value) && value > 0 ? value : DEFAULT_WATCH_INTERVAL_MS;
}

/** Runs the CLI with `io.argv` (without node and the script); resolves with the exit code. */
export async function runCli(io: CliIo): Promise<number> {
  const beforeDashes = io.argv.slice(0, io.argv.includes("--") ? io.argv.indexOf("--") : undefined);
  const wantsHelp = beforeDashes.includes("--help") || beforeDashes.includes("-h");
  const noColorFlag = beforeDashes.includes("--no-color");
  const errStyle = createStyle(colorWanted(io.stderr, noColorFlag, io.env));
  const { command, group, words, rest } = resolveCommand(io.argv);

  const usageFailure = (message: string, help: string): number => {
    io.stderr.write(`${errStyle.red("error:")} ${message}\n\n${help}`);
    return EXIT.usage;
  };

  if (!command) {
    if (words.length === 0) {
      if (beforeDashes.includes("--version")) {
        io.stdout.write(`${VERSION}\n`);
        return EXIT.ok;
      }
      if (wantsHelp) {
        io.stdout.write(topHelp());
        return EXIT.ok;
      }
      return usageFailure("a command is required", topHelp());
    }
    if (!group) return usageFailure(`unknown command '${words[0]}'`, topHelp());
    if (wantsHelp && words.length === 1) {
      io.stdout.write(groupHelp(group, COMMANDS));
      return EXIT.ok;
    }
    const message =
      words.length > 1 ? `unknown command '${words.join(" ")}'` : `'${group.name}' needs a command`;
    return usageFailure(message, groupHelp(group, COMMANDS));
  }
  if (wantsHelp) {
    io.stdout.write(commandHelp(command));
    return EXIT.ok;
  }

  let flags: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    const options = Object.fromEntries(
      Object.entries({ ...GLOBAL_OPTIONS, ...command.options } as OptionSpecs).map(([name, spec]) => [
        name,
        { type: spec.type, ...(name === "help" ? { short: "h" } : {}) },
      ]),
    );
    ({ values: flags, positionals } = parseArgs({
      args: rest,
      options,
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    return usageFailure(parseArgsMessage(error as Error), commandHelp(command));
  }
  if (positionals.length < command.args.length) {
    const missing = command.args.slice(positionals.length).map((a) => `<${a}>`);
    return usageFailure(`missing ${missing.join(" ")}`, commandHelp(command));
  }
  if (positionals.length > command.args.length) {
    return usageFailure(`unexpected argument '${positionals[command.args.length]}'`, commandHelp(command));
  }
  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.required && (flags[name] === undefined || flags[name] === "")) {
      return usageFailure(`--${name} is required`, commandHelp(command));
    }
  }

  const apiUrlText = (flags["api-url"] as string | undefined) ?? (io.env.TENANT_API_URL || DEFAULT_API_URL);
  let apiUrl: URL;
  try {
    apiUrl = new URL(apiUrlText);
    if (apiUrl.protocol !== "http:" && apiUrl.protocol !== "https:") throw new Error("not http");
  } catch {
    return usageFailure(`--api-url: '${apiUrlText}' is not an http(s) URL`, commandHelp(command));
  }
  const jsonMode = flags.json === true;
  const style = createStyle(colorWanted(io.stdout, flags["no-color"] === true, io.env));
  const apiKey = resolveApiKey(flags["api-key"] as string | undefined, apiUrl, io);
  const api = new ApiClient({ baseUrl: apiUrlText, apiKey: apiKey.key, validate: !jsonMode });
  const ctx: CommandContext<OptionSpecs, readonly string[]> = {
    flags: flags as CommandContext<OptionSpecs, readonly string[]>["flags"],
    args: Object.fromEntries(command.args.map((name, i) => [name, positionals[i]!])),
    api,
    json: jsonMode,
    stdout: io.stdout,
    stderr: io.stderr,
    stdin: io.stdin,
    style,
    errStyle,
    env: io.env,
    cwd: io.cwd,
    watch: {
      mode: jsonMode ? "silent" : io.stdout.isTTY ? "live" : "lines",
      intervalMs: watchInterval(io.env),
      onInterrupt: io.onInterrupt ?? (() => () => {}),
    },
    usage: (message) => new UsageError(message, command.path),
    emit: (raw, human) => {
      io.stdout.write(jsonMode ? json(raw) : human());
    },
  };

  try {
    return (await command.run(ctx)) ?? EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      const named = COMMANDS.find((c) => c.path.join(" ") === error.command.join(" "));
      return usageFailure(error.message, commandHelp(named ?? command));
    }
    io.stderr.write(errorText(error, errStyle, apiKey.source));
    return exitCodeOf(error);
  }
}

/** An error as the operator reads it on stderr: the API's message, then each field it named. */
function errorText(error: unknown, style: Style, keySource: KeySource): string {
  if (error instanceof InterruptedError || error instanceof DeclinedError) return `${error.message}\n`;
  const message = error instanceof Error ? error.message : String(error);
  const lines = [`${style.red("error:")} ${message}`];
  if (error instanceof ApiError) {
    lines[0] += style.dim(` (HTTP ${error.status} ${error.code})`);
    for (const f of error.fields) {
      if (!message.includes(`${f.field}: ${f.message}`)) lines.push(`  ${f.field}: ${f.message}`);
    }
    if (error.status === 401) lines.push(style.dim(unauthorizedHint(keySource)));
  }
  if (error instanceof ApiUnreachableError) {
    lines.push(
      style.dim(
        `hint: is the service running (npm start)? Point the CLI at it with --api-url or TENANT_API_URL.`,
      ),
    );
  }
  if (!(error instanceof Error) || error.name === "Error" || error.name === "TypeError") {
    // Not one of the CLI's errors: a bug; the stack helps whoever reports it.
    if (error instanceof Error && error.stack) lines.push(style.dim(error.stack));
  }
  return `${lines.join("\n")}\n`;
}

/** The process entry point (cli/bin.mjs): real streams, Ctrl-C, and the exit code. */
export async function main(): Promise<void> {
  const code = await runCli({
    argv: process.argv.slice(2),
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    onInterrupt: (handler) => {
      process.on("SIGINT", handler);
      return () => process.off("SIGINT", handler);
    },
  });
  // Exit once what was written has been flushed (stdout may be a pipe read by a script).
  await new Promise((r) => process.stdout.write("", r));
  await new Promise((r) => process.stderr.write("", r));
  process.exit(code);
}
