/**
 * The `tenant-provisioning` CLI as an operator runs it: the bundle built by `cli/build.mjs`,
 * started as `node cli/bin.mjs …` in a subprocess without a terminal, against the real local
 * service on a fresh database. `--json` answers are parsed back with the API's own schemas; human
 * output is checked for its tables; exit codes are the documented ones.
 *
 * The subprocesses are spawned asynchronously: the service runs in this process and must keep
 * answering while a CLI waits for it.
 *
 * Runs made to fail use a BEFORE INSERT trigger on `users` that raises a SQLSTATE for one
 * tenant's admin: 23514 (check violation, permanent: the run fails) or 40001 (serialization
 * failure, transient: the step is retried, the run stays running until cancelled).
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  backupListSchema,
  dryRunSchema,
  MAX_GRACE_PERIOD_HOURS,
  tenantDetailSchema,
  tenantPageSchema,
} from "../../functions/schemas/deprovisioning.ts";
import {
  apiKeyListSchema,
  apiKeySchema,
  createdApiKeySchema,
  whoamiSchema,
} from "../../functions/schemas/keys.ts";
import { alertPageSchema, provisioningStatsSchema } from "../../functions/schemas/operations.ts";
import { progressPageSchema, progressRecordSchema } from "../../functions/schemas/progress.ts";
import {
  templatePageSchema,
  templateSchema,
  templateVersionsSchema,
} from "../../functions/schemas/templates.ts";
import { PROVISIONING_STEPS } from "../../functions/workflows/step-catalog.ts";
import { failInserts, tenantWithSlug } from "../support/fault-injection.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { freePort } from "../support/service-process.ts";
import { until } from "../support/wait.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(REPO, "cli", "bin.mjs");
const PASSWORD = `Quartz-Lantern-${randomUUID().slice(0, 8)}`;
const EXIT = { ok: 0, api: 1, usage: 2, notFound: 3, runFailed: 4, unreachable: 5, declined: 6 } as const;
const STEP_NAMES = PROVISIONING_STEPS.map((s) => s.name);
const ANSI = "\x1b[";

let server: TestServer;
let scratch: string;
let basicId: string;
/** A port that nothing listens on (opened, then closed). */
let closedPort: number;
const cleanups: (() => Promise<void>)[] = [];

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface CliOptions {
  /** Written to stdin, which is then closed (stdin is always a pipe: no terminal). */
  readonly input?: string;
  /** Replaces the defaults (the test server's URL and admin key); `undefined` removes one. */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
}

/** Runs the built CLI and collects its output and exit code. */
function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const wanted: Record<string, string | undefined> = {
    TENANT_API_URL: server.url,
    TENANT_API_KEY: server.adminKey,
    TENANT_CLI_WATCH_INTERVAL_MS: "100",
    ...options.env,
  };
  for (const [name, value] of Object.entries(wanted)) if (value !== undefined) env[name] = value;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? scratch,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** util-linux `script` gives the CLI a pseudo-terminal (stdin and stdout), as an operator's shell does. */
const SCRIPT = ["/usr/bin/script", "/bin/script"].find((p) => existsSync(p));

/**
 * Runs the built CLI on a pseudo-terminal; `answer` is typed once `prompt` has appeared. The
 * result's stdout is the terminal's transcript (stdout and stderr together).
 */
function cliOnTerminal(
  args: readonly string[],
  options: { env?: Record<string, string>; prompt?: string; answer?: string } = {},
): Promise<CliResult> {
  const quote = (v: string) => `'${v.replace(/'/g, "'\\''")}'`;
  const command = `stty cols 160; exec ${[process.execPath, BIN, ...args].map(quote).join(" ")}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? scratch,
    TERM: "xterm",
    TENANT_API_URL: server.url,
    TENANT_API_KEY: server.adminKey,
    TENANT_CLI_WATCH_INTERVAL_MS: "100",
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT!, ["-qec", command, "/dev/null"], {
      cwd: scratch,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let answered = false;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (!answered && options.prompt && stdout.includes(options.prompt)) {
        answered = true;
        child.stdin.write(options.answer ?? "");
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `task` over `items`, a few at a time (the machine has two shared cores). */
async function inBatches<T, R>(items: readonly T[], task: (item: T) => Promise<R>, size = 4): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size)
    results.push(...(await Promise.all(items.slice(i, i + size).map(task))));
  return results;
}

/** Parses stdout as exactly one JSON document with one of the API's schemas. */
function parsed<S extends z.ZodType>(result: CliResult, schema: S): z.output<S> {
  expect(result.code, result.stderr).toBe(EXIT.ok);
  return schema.parse(JSON.parse(result.stdout));
}

function tenantFlags(slug: string, extra: string[] = []): string[] {
  return [
    "--slug",
    slug,
    "--name",
    `Tenant ${slug}`,
    "--admin-name",
    "Ada Admin",
    "--admin-email",
    `ada@${slug}.example.org`,
    "--subdomain",
    slug,
    ...extra,
  ];
}

const uniqueSlug = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function exec(statement: string): Promise<void> {
  await server.database.db.execute(sql.raw(statement));
}

/**
 * Makes inserts of the admin user of tenant `slug` raise `sqlstate`; returns the function that
 * removes the trigger again.
 */
async function failAdminInsert(slug: string, sqlstate: string): Promise<() => Promise<void>> {
  const remove = await failInserts(exec, {
    name: `cli_fail_${slug}`,
    table: "users",
    when: `NEW.role = 'tenant_admin' AND ${tenantWithSlug(slug)}`,
    sqlstate,
    message: "'injected failure for %', NEW.email",
  });
  cleanups.push(remove);
  return remove;
}

/** Polls a run through the API until `done` holds. */
const runUntil = (id: string, done: (run: any) => boolean): Promise<any> =>
  until(
    `run ${id}`,
    async () => (await server.request("GET", `/api/provisioning/progress/${id}`)).body,
    done,
  );

/** Provisions a tenant through the CLI (from Basic, password on stdin) and returns the accepted run. */
async function provision(slug: string, extra: string[] = []): Promise<z.output<typeof progressRecordSchema>> {
  const result = await cli(
    [
      "provision",
      "from-template",
      basicId,
      ...tenantFlags(slug, ["--admin-password-stdin", ...extra]),
      "--json",
    ],
    { input: `${PASSWORD}\n` },
  );
  return parsed(result, progressRecordSchema);
}

beforeAll(async () => {
  // The CLI under test is the bundle, built from the sources as they are now.
  const build = await new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, "cli", "build.mjs")], { cwd: REPO });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout: "", stderr }));
  });
  expect(build.code, build.stderr).toBe(0);
  server = await startTestServer({
    env: {
      STEP_RETRY_INTERVAL_SECONDS: "1",
      STEP_RETRY_MAX_DELAY_SECONDS: "1",
      STEP_RETRY_MAX_ATTEMPTS: "20",
    },
  });
  scratch = mkdtempSync(join(tmpdir(), "tp-cli-"));
  closedPort = await freePort(); // nobody listens there: connections are refused
  const templates = await server.request("GET", "/api/provisioning/templates");
  basicId = templates.body.items.find((t: any) => t.name === "Basic School System").id;
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Help, usage errors, connection
// ---------------------------------------------------------------------------------------------

describe("help and usage", () => {
  it("documents every command with --help (exit 0, on stdout) and lists the exit codes", async () => {
    // Act
    const top = await cli(["--help"]);
    const commands = top.stdout
      .split("\n")
      .slice(top.stdout.split("\n").indexOf("Commands:") + 1)
      .filter((line) => line.startsWith("  "))
      .map((line) =>
        line
          .trim()
          .split(/\s+(?=<|\[|\s)/)[0]!
          .trim(),
      )
      .filter((line) => !line.startsWith("-"));

    // Assess
    expect(top.code).toBe(EXIT.ok);
    for (const code of [
      "0  success",
      "1  API error",
      "2  usage error",
      "3  not found",
      "4  run failed",
      "5  cannot reach",
      "6  not confirmed",
    ]) {
      expect(top.stdout).toContain(code);
    }
    const expected = [
      "template list",
      "template show",
      "template versions",
      "template create",
      "template update",
      "template delete",
      "template restore",
      "provision from-template",
      "provision custom",
      "provision schedule",
      "progress list",
      "progress show",
      "progress cancel",
      "progress retry",
      "progress recover",
      "progress cleanup",
      "deprovision tenant",
      "deprovision schedule",
      "schedules list",
      "schedules cancel",
      "tenants list",
      "tenants show",
      "backups list",
      "restore",
      "stats",
      "alerts list",
      "alerts resolve",
      "keys create",
      "keys list",
      "keys revoke",
      "whoami",
      "cells list",
      "cells close",
      "cells open",
    ];
    expect(commands.map((c) => c.replace(/ \[options\]$/, ""))).toEqual(expect.arrayContaining(expected));
    const helps = await inBatches(expected, (command) => cli([...command.split(" "), "--help"]));
    for (const [i, command] of expected.entries()) {
      const help = helps[i]!;
      expect(help.code, command).toBe(EXIT.ok);
      expect(help.stdout, command).toContain(`Usage: tenant-provisioning ${command}`);
      expect(help.stdout, command).toContain("--api-url");
      expect(help.stdout, command).toContain("Exit codes:");
      expect(help.stderr, command).toBe("");
    }
    const short = await cli(["template", "-h"]);
    expect(short.code).toBe(EXIT.ok);
    expect(short.stdout).toContain("template list");
  });

  it("prints its version", async () => {
    const result = await cli(["--version"]);
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("rejects an unknown command, a missing sub-command and an unknown flag with exit 2 and the help on stderr", async () => {
    // Act
    const unknown = await cli(["frobnicate"]);
    const noSub = await cli(["template"]);
    const unknownSub = await cli(["template", "frobnicate"]);
    const unknownFlag = await cli(["template", "list", "--frobnicate"]);
    const none = await cli([]);

    // Assess
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(unknown.stderr).toContain("Usage: tenant-provisioning <command>");
    expect(noSub.code).toBe(EXIT.usage);
    expect(noSub.stderr).toContain("Usage: tenant-provisioning template <command>");
    expect(unknownSub.code).toBe(EXIT.usage);
    expect(unknownSub.stderr).toContain("unknown command 'template frobnicate'");
    expect(unknownFlag.code).toBe(EXIT.usage);
    expect(unknownFlag.stderr).toContain("unknown option --frobnicate");
    expect(unknownFlag.stderr).toContain("Usage: tenant-provisioning template list");
    expect(none.code).toBe(EXIT.usage);
    for (const r of [unknown, noSub, unknownSub, unknownFlag, none]) expect(r.stdout).toBe("");
  });

  it("checks flags with the API's schemas before any request: each bad value names its flag (exit 2)", async () => {
    // Prepare: an API nobody answers at, so that any request would be exit 5, not 2.
    const env = { TENANT_API_URL: `http://127.0.0.1:${closedPort}` };
    const slug = uniqueSlug("bad");
    const fromTemplate = (flags: string[]) => ["provision", "from-template", basicId, ...flags];
    const withPassword = tenantFlags(slug, ["--admin-password", PASSWORD]);
    const cases: [args: string[], message: string, command: string, input?: string][] = [
      [fromTemplate(withPassword.slice(2)), "--slug is required", "provision from-template"],
      [
        fromTemplate(withPassword.map((v) => (v.startsWith("ada@") ? "not-an-email" : v))),
        "--admin-email: must be an email address",
        "provision from-template",
      ],
      [
        fromTemplate(tenantFlags(slug, ["--admin-password-stdin"])),
        "--admin-password-stdin: must be at least 12 characters",
        "provision from-template",
        "short\n",
      ],
      [fromTemplate(tenantFlags(slug)), "--admin-password-stdin", "provision from-template"],
      [
        fromTemplate(tenantFlags(slug, ["--admin-password", PASSWORD, "--invite"])),
        "give one of --admin-password, --admin-password-stdin and --invite",
        "provision from-template",
      ],
      [
        fromTemplate(tenantFlags("Not A Slug", ["--admin-password", PASSWORD])),
        "--slug: must be a DNS label",
        "provision from-template",
      ],
      [["progress", "retry", randomUUID()], "missing <stepId>", "progress retry"],
      [["progress", "show", randomUUID(), "extra"], "unexpected argument 'extra'", "progress show"],
      [["template", "list", "--limit", "0"], "--limit:", "template list"],
      [["progress", "list", "--status", "exploded"], "--status:", "progress list"],
      [["keys", "create", "--name", "k", "--role", "root"], "--role:", "keys create"],
      [
        ["keys", "create", "--name", "k", "--role", "tenant_admin"],
        "--tenant: is required for role tenant_admin",
        "keys create",
      ],
      [["stats", "--from", "yesterday"], "--from: must be an ISO 8601 date-time", "stats"],
      [["template", "show", randomUUID(), "--version", "0"], "--version:", "template show"],
      [
        ["deprovision", "tenant", randomUUID(), "--grace-period=-1"],
        `--grace-period: must be between 0 and ${MAX_GRACE_PERIOD_HOURS}`,
        "deprovision tenant",
      ],
      [
        ["deprovision", "tenant", randomUUID(), "--grace-period", "-1"],
        "--grace-period needs a value",
        "deprovision tenant",
      ],
      [
        ["deprovision", "tenant", randomUUID(), "--grace-period", String(MAX_GRACE_PERIOD_HOURS + 1)],
        `--grace-period: must be between 0 and ${MAX_GRACE_PERIOD_HOURS}`,
        "deprovision tenant",
      ],
      [
        ["deprovision", "tenant", randomUUID(), "--grace-period", "soon"],
        "--grace-period: must be a number of hours",
        "deprovision tenant",
      ],
      [
        ["deprovision", "schedule", randomUUID(), "--at", "tomorrow"],
        "--at: must be an ISO 8601 date-time",
        "deprovision schedule",
      ],
      [["deprovision", "schedule", randomUUID()], "--at is required", "deprovision schedule"],
      [
        ["provision", "schedule", basicId, ...tenantFlags(slug, ["--invite"])],
        "--at is required",
        "provision schedule",
      ],
      [
        ["template", "list", "--api-url", "ftp://example.org"],
        "--api-url: 'ftp://example.org' is not an http(s) URL",
        "template list",
      ],
    ];

    // Act
    const results = await inBatches(cases, ([args, , , input]) =>
      cli(args, { env, ...(input !== undefined ? { input } : {}) }),
    );

    // Assess
    const expectations = cases.map(([, message, command], i) => [results[i]!, message, command] as const);
    for (const [result, message, command] of expectations) {
      expect(result.code, `${command}: ${result.stderr}`).toBe(EXIT.usage);
      expect(result.stderr, command).toContain(message);
      expect(result.stderr, command).toContain(`Usage: tenant-provisioning ${command}`);
      expect(result.stdout, command).toBe("");
    }
  });

  it("says plainly when the API cannot be reached (exit 5)", async () => {
    // Act
    const result = await cli(["template", "list"], {
      env: { TENANT_API_URL: `http://127.0.0.1:${closedPort}` },
    });
    const json = await cli(["template", "list", "--json"], {
      env: { TENANT_API_URL: `http://127.0.0.1:${closedPort}` },
    });

    // Assess
    expect(result.code).toBe(EXIT.unreachable);
    expect(result.stderr).toContain(`cannot reach the API at http://127.0.0.1:${closedPort}`);
    expect(result.stderr).toContain("ECONNREFUSED");
    expect(json.code).toBe(EXIT.unreachable);
    expect(json.stdout).toBe("");
  });

  it("finds the admin key of a local server in $DATA_DIR/admin-api-key, or .data/ of the current directory", async () => {
    // Prepare
    const project = mkdtempSync(join(tmpdir(), "tp-cli-project-"));
    cleanups.push(async () => rmSync(project, { recursive: true, force: true }));
    mkdirSync(join(project, ".data"));
    copyFileSync(join(server.dataDir, "admin-api-key"), join(project, ".data", "admin-api-key"));
    const empty = mkdtempSync(join(tmpdir(), "tp-cli-empty-"));
    cleanups.push(async () => rmSync(empty, { recursive: true, force: true }));

    // Act
    const viaDataDir = await cli(["template", "list", "--json"], {
      env: { TENANT_API_KEY: undefined, DATA_DIR: server.dataDir },
      cwd: empty,
    });
    const viaCwd = await cli(["template", "list", "--json"], {
      env: { TENANT_API_KEY: undefined },
      cwd: project,
    });
    const none = await cli(["template", "list"], { env: { TENANT_API_KEY: undefined }, cwd: empty });
    const wrong = await cli(["template", "list", "--api-key", "tpk_wrong"]);

    // Assess
    expect(parsed(viaDataDir, templatePageSchema).total).toBe(3);
    expect(parsed(viaCwd, templatePageSchema).total).toBe(3);
    expect(none.code).toBe(EXIT.api);
    expect(none.stderr).toContain("a valid API key is required");
    // The hint says where it looked (absolutely) and how to give a key instead.
    expect(none.stderr).toContain(`looked for ${join(empty, ".data", "admin-api-key")}`);
    expect(none.stderr).toContain("TENANT_API_KEY");
    expect(none.stderr).toContain("--api-key");
    expect(wrong.code).toBe(EXIT.api);
    expect(wrong.stderr).toContain("unauthorized");
    expect(wrong.stderr).toContain("the key given with --api-key was not accepted");
  });
});

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

describe("template", () => {
  it("lists the templates as a table and as the API's JSON", async () => {
    // Act
    const human = await cli(["template", "list"]);
    const json = await cli(["template", "list", "--json"]);
    const filtered = await cli(["template", "list", "--category", "municipality", "--json"]);

    // Assess
    expect(human.code).toBe(EXIT.ok);
    expect(human.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+CATEGORY\s+VERSION\s+DEFAULT\s+UPDATED$/);
    for (const name of ["Basic School System", "Municipality", "School District"])
      expect(human.stdout).toContain(name);
    expect(human.stdout).not.toContain(ANSI);
    const page = parsed(json, templatePageSchema);
    expect(page.items.map((t) => t.name).sort()).toEqual([
      "Basic School System",
      "Municipality",
      "School District",
    ]);
    expect(human.stdout).toContain(basicId);
    expect(parsed(filtered, templatePageSchema).items.map((t) => t.category)).toEqual(["municipality"]);
  });

  it("creates, shows, updates (a new version), lists versions and deletes a template", async () => {
    // Prepare
    const file = join(scratch, "template.json");
    writeFileSync(
      file,
      JSON.stringify({
        limits: { maxUsers: 7 },
        settings: { locale: "fi-FI", currency: "EUR" },
        initialData: { schools: [{ name: "Koulu", code: "K1" }] },
      }),
    );
    const update = join(scratch, "update.json");
    writeFileSync(update, JSON.stringify({ limits: { maxUsers: 9 } }));
    const name = `CLI Template ${randomUUID().slice(0, 6)}`;

    // Act
    const created = await cli([
      "template",
      "create",
      name,
      "--description",
      "Made by the CLI test",
      "--category",
      "custom",
      "--file",
      file,
      "--json",
    ]);
    const template = parsed(created, templateSchema);
    const shown = await cli(["template", "show", template.id]);
    const updated = await cli([
      "template",
      "update",
      template.id,
      "--file",
      update,
      "--description",
      "v2",
      "--json",
    ]);
    const versions = await cli(["template", "versions", template.id]);
    const versionsJson = await cli(["template", "versions", template.id, "--json"]);
    const first = await cli(["template", "show", template.id, "--version", "1", "--json"]);
    const unconfirmed = await cli(["template", "delete", template.id]);
    const stillListed = await cli(["template", "list", "--json"]);
    const deleted = await cli(["template", "delete", template.id, "--yes"]);
    const listed = await cli(["template", "list", "--json"]);
    const deletedList = await cli(["template", "list", "--state", "deleted"]);
    const restored = await cli(["template", "restore", template.id, "--json"]);
    const listedAgain = await cli(["template", "list", "--json"]);

    // Assess
    expect(template).toMatchObject({
      name,
      description: "Made by the CLI test",
      category: "custom",
      version: 1,
      limits: { maxUsers: 7 },
      settings: { locale: "fi-FI", currency: "EUR" },
    });
    expect(shown.code).toBe(EXIT.ok);
    expect(shown.stdout).toMatch(new RegExp(`Name:\\s+${name}`));
    expect(shown.stdout).toMatch(/Category:\s+custom/);
    expect(shown.stdout).toContain("1 schools");
    expect(parsed(updated, templateSchema)).toMatchObject({
      version: 2,
      description: "v2",
      limits: { maxUsers: 9 },
    });
    expect(versions.code).toBe(EXIT.ok);
    expect(versions.stdout.split("\n")[0]).toMatch(/^VERSION\s+NAME\s+CATEGORY\s+CREATED/);
    expect(parsed(versionsJson, templateVersionsSchema).items.map((v) => v.version)).toEqual([2, 1]);
    expect(parsed(first, templateSchema)).toMatchObject({ version: 1, limits: { maxUsers: 7 } });
    // Without a terminal, deleting needs --yes: a usage error, nothing sent.
    expect(unconfirmed.code).toBe(EXIT.usage);
    expect(unconfirmed.stderr).toContain("pass --yes");
    expect(parsed(stillListed, templatePageSchema).items.map((t) => t.id)).toContain(template.id);
    expect(deleted.code, deleted.stderr).toBe(EXIT.ok);
    expect(deleted.stdout).toContain(name);
    expect(deleted.stdout).toContain(`template restore ${template.id}`);
    expect(parsed(listed, templatePageSchema).items.map((t) => t.id)).not.toContain(template.id);
    expect(deletedList.stdout.split("\n")[0]).toMatch(/DELETED$/);
    expect(deletedList.stdout).toContain(template.id);
    expect(parsed(restored, templateSchema)).toMatchObject({ id: template.id, deletedAt: null, version: 2 });
    expect(parsed(listedAgain, templatePageSchema).items.map((t) => t.id)).toContain(template.id);
  });

  it("names the file's bad field, and a file that is missing or not JSON (exit 2)", async () => {
    // Prepare
    const bad = join(scratch, "bad-template.json");
    writeFileSync(bad, JSON.stringify({ limits: { maxUsers: -1 }, colour: "blue" }));
    const broken = join(scratch, "broken.json");
    writeFileSync(broken, "{ not json");

    // Act
    const invalid = await cli(["template", "create", "Bad", "--file", bad]);
    const notJson = await cli(["template", "create", "Bad", "--file", broken]);
    const missing = await cli(["template", "create", "Bad", "--file", join(scratch, "nope.json")]);
    const nothing = await cli(["template", "update", basicId]);

    // Assess
    expect(invalid.code).toBe(EXIT.usage);
    expect(invalid.stderr).toContain("--file: limits.maxUsers: must be positive");
    expect(invalid.stderr).toContain("--file: colour: unknown field");
    expect(notJson.code).toBe(EXIT.usage);
    expect(notJson.stderr).toContain("is not valid JSON");
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.stderr).toContain("ENOENT");
    expect(nothing.code).toBe(EXIT.usage);
    expect(nothing.stderr).toContain("nothing to update");
  });

  it("exits 3 for a template that does not exist, with the API's message on stderr", async () => {
    // Act
    const id = randomUUID();
    const result = await cli(["template", "show", id]);
    const json = await cli(["template", "show", id, "--json"]);

    // Assess
    expect(result.code).toBe(EXIT.notFound);
    expect(result.stderr).toContain(`template ${id} not found`);
    expect(result.stdout).toBe("");
    expect(json.code).toBe(EXIT.notFound);
    expect(json.stdout).toBe("");
  });
});

// ---------------------------------------------------------------------------------------------
// Provisioning and --watch
// ---------------------------------------------------------------------------------------------

describe("provision", () => {
  it("from a template with --watch: shows every step and exits 0 when the run completes", async () => {
    // Prepare
    const slug = uniqueSlug("watch");

    // Act
    const result = await cli(
      ["provision", "from-template", basicId, ...tenantFlags(slug, ["--admin-password-stdin", "--watch"])],
      { input: `${PASSWORD}\n` },
    );

    // Assess
    expect(result.code, result.stderr).toBe(EXIT.ok);
    for (const step of STEP_NAMES) expect(result.stdout).toMatch(new RegExp(`${step}: completed`));
    expect(result.stdout).toMatch(/Run [0-9a-f-]{36} completed/);
    // Not a terminal: one line per change, no cursor movement, no colour.
    expect(result.stdout).not.toContain(ANSI);
    expect(result.stdout).not.toContain(PASSWORD);
    expect(result.stderr).toBe("");
    const runs = await server.request("GET", "/api/provisioning/progress?status=completed&limit=200");
    const run = runs.body.items.find((r: any) => result.stdout.includes(r.id));
    expect(run?.status).toBe("completed");
  });

  it("with --json prints the accepted run, and with --watch --json only the finished run", async () => {
    // Act
    const accepted = await provision(uniqueSlug("json"));
    const watched = await cli([
      "provision",
      "from-template",
      basicId,
      ...tenantFlags(uniqueSlug("jsonw"), ["--admin-password", PASSWORD]),
      "--watch",
      "--json",
    ]);

    // Assess
    expect(accepted).toMatchObject({ kind: "provision", templateId: basicId, totalSteps: STEP_NAMES.length });
    const finished = parsed(watched, progressRecordSchema);
    expect(finished.status).toBe("completed");
    expect(finished.steps.map((s) => s.status)).toEqual(STEP_NAMES.map(() => "completed"));
    await runUntil(accepted.id, (r) => r.status === "completed");
  });

  it("replays a run for a repeated Idempotency-Key instead of starting another", async () => {
    // Prepare
    const slug = uniqueSlug("idem");
    const key = `cli-${randomUUID()}`;
    const args = [
      "provision",
      "from-template",
      basicId,
      ...tenantFlags(slug, ["--admin-password", PASSWORD, "--idempotency-key", key]),
    ];

    // Act
    const first = await cli([...args, "--json"]);
    const again = await cli(args);

    // Assess
    const run = parsed(first, progressRecordSchema);
    expect(again.code, again.stderr).toBe(EXIT.ok);
    expect(again.stdout).toContain(run.id);
    expect(again.stdout).toContain("Idempotency-Key was used before");
    await runUntil(run.id, (r) => r.status === "completed");
  });

  it("custom: provisions from a spec file with --watch", async () => {
    // Prepare
    const spec = join(scratch, "spec.json");
    writeFileSync(
      spec,
      JSON.stringify({
        name: "Pilot",
        category: "custom",
        limits: { maxUsers: 5 },
        initialData: { products: [{ sku: "P-1", name: "Pencil", unitPrice: 0.5 }] },
      }),
    );
    const data = join(scratch, "initial-data.json");
    writeFileSync(data, JSON.stringify({ schools: [{ name: "Pilot School" }] }));

    // Act
    const result = await cli(
      [
        "provision",
        "custom",
        "--file",
        spec,
        ...tenantFlags(uniqueSlug("custom"), [
          "--admin-password-stdin",
          "--initial-data",
          data,
          "--watch",
          "--json",
        ]),
      ],
      { input: `${PASSWORD}\n` },
    );
    const badSpec = await cli(
      [
        "provision",
        "custom",
        "--file",
        data,
        ...tenantFlags(uniqueSlug("custom"), ["--admin-password", PASSWORD]),
      ],
      { env: { TENANT_API_URL: `http://127.0.0.1:${closedPort}` } },
    );

    // Assess
    const run = parsed(result, progressRecordSchema);
    expect(run).toMatchObject({ status: "completed", templateId: null });
    // The initial-data file holds no template name: the spec check names --file.
    expect(badSpec.code).toBe(EXIT.usage);
    expect(badSpec.stderr).toContain("--file: name:");
  });

  it("prints an API 4xx's message on stderr and exits 1 (a slug already taken)", async () => {
    // Prepare
    const slug = uniqueSlug("dup");
    const first = await provision(slug);
    await runUntil(first.id, (r) => r.status === "completed");

    // Act
    const again = await cli([
      "provision",
      "from-template",
      basicId,
      ...tenantFlags(slug, ["--admin-password", PASSWORD]),
    ]);

    // Assess
    expect(again.code).toBe(EXIT.api);
    expect(again.stderr).toContain(`slug: "${slug}" is already taken`);
    expect(again.stderr).toContain("409");
    expect(again.stdout).toBe("");
  });
});

// ---------------------------------------------------------------------------------------------
// Progress: show, failure, retry, recover, cancel, cleanup
// ---------------------------------------------------------------------------------------------

describe("progress", () => {
  it("lists and shows runs as tables and as the API's JSON", async () => {
    // Prepare
    const slug = uniqueSlug("list");
    const run = await provision(slug);
    await runUntil(run.id, (r) => r.status === "completed");

    // Act
    const list = await cli(["progress", "list"]);
    const json = await cli(["progress", "list", "--status", "completed", "--kind", "provision", "--json"]);
    const byTenant = await cli(["progress", "list", "--tenant", run.tenantId!, "--limit", "5", "--json"]);
    const show = await cli(["progress", "show", run.id]);
    const showJson = await cli(["progress", "show", run.id, "--json"]);
    const watchDone = await cli(["progress", "show", run.id, "--watch"]);

    // Assess
    expect(list.code).toBe(EXIT.ok);
    expect(list.stdout.split("\n")[0]).toMatch(
      /^ID\s+KIND\s+STATUS\s+STEPS\s+CURRENT STEP\s+TENANT\s+TENANT ID\s+CREATED$/,
    );
    // The tenant by its slug beside its id, not only a UUID.
    const line = list.stdout.split("\n").find((l) => l.startsWith(run.id));
    expect(line).toContain(slug);
    expect(line).toContain(run.tenantId);
    const page = parsed(json, progressPageSchema);
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.every((r) => r.status === "completed" && r.kind === "provision")).toBe(true);
    expect(parsed(byTenant, progressPageSchema).items.map((r) => r.id)).toEqual([run.id]);
    expect(show.code).toBe(EXIT.ok);
    expect(show.stdout).toMatch(new RegExp(`Run:\\s+${run.id}`));
    expect(show.stdout).toMatch(new RegExp(`Tenant:\\s+Tenant ${slug} \\(${slug}\\) ${run.tenantId}`));
    expect(show.stdout).toMatch(/Status:\s+completed/);
    expect(show.stdout).toMatch(/STEP\s+NAME\s+STATUS\s+ATTEMPTS\s+DURATION\s+ERROR/);
    for (const step of PROVISIONING_STEPS) expect(show.stdout).toContain(step.id);
    expect(parsed(showJson, progressRecordSchema).id).toBe(run.id);
    expect(watchDone.code).toBe(EXIT.ok);
    expect(watchDone.stdout).toContain("completed");
  });

  it("exits 4 when a watched run fails, names the step and error, and retry --watch completes it", async () => {
    // Prepare
    const slug = uniqueSlug("fail");
    const fix = await failAdminInsert(slug, "23514");

    // Act
    const failed = await cli(
      ["provision", "from-template", basicId, ...tenantFlags(slug, ["--admin-password-stdin", "--watch"])],
      { input: `${PASSWORD}\n` },
    );
    const id = /Run ([0-9a-f-]{36}) failed/.exec(failed.stdout)?.[1];
    const show = await cli(["progress", "show", id!]);
    const watchFailed = await cli(["progress", "show", id!, "--watch", "--json"]);
    const notYet = await cli(["progress", "retry", id!, "run-migrations"]);
    await fix();
    const retried = await cli(["progress", "retry", id!, "create-admin-user", "--watch"]);
    const again = await cli(["progress", "retry", id!, "create-admin-user"]);

    // Assess
    expect(failed.code, failed.stderr).toBe(EXIT.runFailed);
    expect(failed.stdout).toMatch(/CreateTenant: completed/);
    expect(failed.stdout).toMatch(/CreateAdminUser: failed .*DatabaseError: .*injected failure/);
    expect(failed.stdout).toContain(`progress retry ${id} create-admin-user`);
    expect(failed.stderr).toContain(`run ${id} failed`);
    expect(show.code).toBe(EXIT.ok);
    expect(show.stdout).toMatch(/Status:\s+failed/);
    expect(show.stdout).toContain("injected failure");
    expect(watchFailed.code).toBe(EXIT.runFailed);
    expect(progressRecordSchema.parse(JSON.parse(watchFailed.stdout)).status).toBe("failed");
    expect(notYet.code).toBe(EXIT.api);
    expect(notYet.stderr).toContain("retry that step first");
    expect(retried.code, retried.stderr).toBe(EXIT.ok);
    for (const step of STEP_NAMES.slice(1)) expect(retried.stdout).toMatch(new RegExp(`${step}: completed`));
    expect(again.code).toBe(EXIT.api);
    expect(again.stderr).toContain("only failed or cancelled runs can be retried");
  });

  it("recover resumes a failed run from its first unfinished step", async () => {
    // Prepare
    const slug = uniqueSlug("recover");
    const fix = await failAdminInsert(slug, "23514");
    const run = await provision(slug);
    await runUntil(run.id, (r) => r.status === "failed");
    await fix();

    // Act
    const recovered = await cli(["progress", "recover", run.id, "--json"]);

    // Assess
    const record = parsed(recovered, progressRecordSchema);
    expect(record.id).toBe(run.id);
    expect(record.attempt).toBe(2);
    expect((await runUntil(run.id, (r) => r.status === "completed")).status).toBe("completed");
  });

  it("cancels a running run (a watch of it then exits 4) and cleans it up", async () => {
    // Prepare: the admin insert keeps failing with a transient error, so the step retries.
    const slug = uniqueSlug("cancel");
    await failAdminInsert(slug, "40001");
    const run = await provision(slug);
    await runUntil(run.id, (r) => r.status === "running" && r.steps[1].attempts >= 1);

    // Act
    const cancelled = await cli(["progress", "cancel", run.id, "--json"]);
    const watch = await cli(["progress", "show", run.id, "--watch"]);
    const cancelAgain = await cli(["progress", "cancel", run.id]);
    const cleanup = await cli(["progress", "cleanup", run.id]);

    // Assess
    expect(parsed(cancelled, progressRecordSchema).status).toBe("cancelled");
    expect(watch.code).toBe(EXIT.runFailed);
    expect(watch.stdout).toContain("cancelled");
    expect(cancelAgain.code).toBe(EXIT.api);
    expect(cancelAgain.stderr).toContain("only pending or running runs can be cancelled");
    expect(cleanup.code, cleanup.stderr).toBe(EXIT.ok);
    expect(cleanup.stdout).toMatch(/Status:\s+cancelled/);
    // The tenant stays as a tombstone without its data.
    const tenant = await server.request("GET", `/api/provisioning/tenants/${run.tenantId}`);
    expect(tenant.body.status).toBe("deprovisioned");
  });

  it("exits 3 for a run that does not exist", async () => {
    const result = await cli(["progress", "show", randomUUID()]);
    expect(result.code).toBe(EXIT.notFound);
    expect(result.stderr).toContain("not found");
  });
});

// ---------------------------------------------------------------------------------------------
// Tenants, deprovisioning, backups, restore
// ---------------------------------------------------------------------------------------------

describe("tenants and deprovisioning", () => {
  it("lists and shows tenants", async () => {
    // Prepare
    const slug = uniqueSlug("tenant");
    const run = await provision(slug);
    await runUntil(run.id, (r) => r.status === "completed");

    // Act
    const list = await cli(["tenants", "list"]);
    const json = await cli(["tenants", "list", "--status", "active", "--json"]);
    const show = await cli(["tenants", "show", run.tenantId!]);
    const showJson = await cli(["tenants", "show", run.tenantId!, "--json"]);
    const missing = await cli(["tenants", "show", randomUUID()]);

    // Assess
    expect(list.code).toBe(EXIT.ok);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+SLUG\s+NAME\s+STATUS\s+TEMPLATE\s+CELL\s+CREATED$/);
    expect(list.stdout).toContain(slug);
    expect(list.stdout.split("\n").find((l) => l.includes(slug))).toMatch(/Basic School System v1\s+main\s/);
    const page = parsed(json, tenantPageSchema);
    expect(page.items.map((t) => t.slug)).toContain(slug);
    expect(page.items.every((t) => t.status === "active")).toBe(true);
    expect(show.code).toBe(EXIT.ok);
    expect(show.stdout).toMatch(new RegExp(`Slug:\\s+${slug}`));
    expect(show.stdout).toMatch(/Template:\s+Basic School System/);
    expect(parsed(showJson, tenantDetailSchema)).toMatchObject({ id: run.tenantId, slug, status: "active" });
    expect(missing.code).toBe(EXIT.notFound);
  });

  it("deprovision --dry-run reports what would be removed and changes nothing", async () => {
    // Prepare
    const run = await provision(uniqueSlug("dry"));
    await runUntil(run.id, (r) => r.status === "completed");

    // Act
    const human = await cli(["deprovision", "tenant", run.tenantId!, "--dry-run", "--preserve-audit-logs"]);
    const json = await cli(["deprovision", "tenant", run.tenantId!, "--dry-run", "--json"]);
    const unknown = await cli(["deprovision", "tenant", randomUUID(), "--dry-run"]);

    // Assess
    expect(human.code, human.stderr).toBe(EXIT.ok);
    expect(human.stdout).toContain("nothing was changed");
    expect(human.stdout).toMatch(/TABLE\s+ROWS\s+ACTION/);
    expect(human.stdout).toMatch(/users\s+\d+\s+remove/);
    expect(human.stdout).toContain("none (the schema is what its migrations make)");
    const report = parsed(json, dryRunSchema);
    expect(report.schemaDrift).toMatchObject({ none: true, restorable: true });
    expect(report.tenantId).toBe(run.tenantId);
    expect(report.wouldRemove.controlPlane.users).toBeGreaterThan(0);
    expect(unknown.code).toBe(EXIT.notFound);
    const tenant = await server.request("GET", `/api/provisioning/tenants/${run.tenantId}`);
    expect(tenant.body.status).toBe("active");
  });

  it("deprovisions with --watch, lists the kept backup and restores the tenant from it with --watch", async () => {
    // Prepare
    const slug = uniqueSlug("gone");
    const run = await provision(slug);
    await runUntil(run.id, (r) => r.status === "completed");

    // Act
    const gone = await cli([
      "deprovision",
      "tenant",
      run.tenantId!,
      "--preserve-backups",
      "--notify-users",
      "--grace-period",
      "0",
      "--yes",
      "--watch",
    ]);
    const backups = await cli(["backups", "list", run.tenantId!]);
    const backupsJson = await cli(["backups", "list", run.tenantId!, "--json"]);
    const backup = parsed(backupsJson, backupListSchema).items.find((b) => b.kind === "full");
    const restored = await cli(["restore", run.tenantId!, backup?.id ?? randomUUID(), "--watch"]);
    const shown = await cli(["tenants", "show", run.tenantId!, "--json"]);

    // Assess
    expect(gone.code, gone.stdout + gone.stderr).toBe(EXIT.ok);
    for (const step of ["BackupData", "NotifyUsers", "DisableAccess", "CleanupData", "CleanupAuditLogs"]) {
      expect(gone.stdout).toContain(step);
    }
    expect(backups.code).toBe(EXIT.ok);
    expect(backups.stdout.split("\n")[0]).toMatch(/^ID\s+KIND\s+SIZE/);
    expect(backup).toBeDefined();
    expect(restored.code, restored.stdout + restored.stderr).toBe(EXIT.ok);
    expect(parsed(shown, tenantDetailSchema)).toMatchObject({ slug, status: "active" });
  });

  it("without a terminal, deprovisioning needs --yes: a usage error otherwise, with nothing sent", async () => {
    // Prepare
    const run = await provision(uniqueSlug("noyes"));
    await runUntil(run.id, (r) => r.status === "completed");

    // Act
    const result = await cli(["deprovision", "tenant", run.tenantId!, "--grace-period", "0"]);
    const contradicting = await cli([
      "deprovision",
      "tenant",
      run.tenantId!,
      "--preserve-backups",
      "--delete-backup",
    ]);

    // Assess
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toContain("without one (a script), pass --yes");
    expect(result.stderr).toContain("Usage: tenant-provisioning deprovision tenant");
    expect(contradicting.code).toBe(EXIT.usage);
    expect(contradicting.stderr).toContain("--preserve-backups and --delete-backup contradict each other");
    const tenant = await server.request("GET", `/api/provisioning/tenants/${run.tenantId}`);
    expect(tenant.body.status).toBe("active");
    const runs = await server.request(
      "GET",
      `/api/provisioning/progress?tenantId=${run.tenantId}&kind=deprovision`,
    );
    expect(runs.body.total).toBe(0);
  });

  it("schedules a deprovisioning, lists it and cancels it", async () => {
    // Prepare
    const run = await provision(uniqueSlug("sched"));
    await runUntil(run.id, (r) => r.status === "completed");
    const at = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();

    // Act
    const scheduled = await cli([
      "deprovision",
      "schedule",
      run.tenantId!,
      "--at",
      at,
      "--grace-period",
      "48",
      "--json",
    ]);
    const list = await cli(["schedules", "list", "--tenant", run.tenantId!]);
    const schedule = JSON.parse(scheduled.stdout);
    const cancelled = await cli(["schedules", "cancel", schedule.id]);
    const past = await cli(["deprovision", "schedule", run.tenantId!, "--at", "2001-01-01T00:00:00Z"]);

    // Assess
    expect(scheduled.code, scheduled.stderr).toBe(EXIT.ok);
    expect(schedule).toMatchObject({
      tenantId: run.tenantId,
      status: "scheduled",
      options: { gracePeriodHours: 48 },
    });
    expect(list.code).toBe(EXIT.ok);
    expect(list.stdout).toContain(schedule.id);
    expect(list.stdout).toContain("grace 48 h");
    expect(cancelled.code, cancelled.stderr).toBe(EXIT.ok);
    expect(cancelled.stdout).toMatch(/Status:\s+cancelled/);
    expect(past.code).toBe(EXIT.api);
    expect(past.stderr).toContain("at");
  });

  it("schedules a provisioning, which holds its slug until cancelled", async () => {
    // Prepare
    const slug = uniqueSlug("psched");
    const at = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();

    // Act
    const scheduled = await cli(
      [
        "provision",
        "schedule",
        basicId,
        "--at",
        at,
        ...tenantFlags(slug, ["--admin-password-stdin"]),
        "--json",
      ],
      { input: `${PASSWORD}\n` },
    );
    const schedule = JSON.parse(scheduled.stdout);
    const list = await cli(["schedules", "list", "--kind", "provision"]);
    const taken = await cli([
      "provision",
      "from-template",
      basicId,
      ...tenantFlags(slug, ["--admin-password", PASSWORD]),
    ]);
    const cancelled = await cli(["schedules", "cancel", schedule.id]);
    const free = await cli([
      "provision",
      "from-template",
      basicId,
      ...tenantFlags(slug, ["--admin-password", PASSWORD]),
      "--json",
    ]);

    // Assess
    expect(scheduled.code, scheduled.stderr).toBe(EXIT.ok);
    expect(schedule).toMatchObject({
      kind: "provision",
      status: "scheduled",
      options: { slug, invited: false },
    });
    expect(scheduled.stdout).not.toContain(PASSWORD);
    expect(list.code).toBe(EXIT.ok);
    expect(list.stdout).toContain(schedule.id);
    expect(list.stdout).toContain(`provision ${slug}`);
    expect(taken.code).toBe(EXIT.api);
    expect(taken.stderr).toContain("already taken");
    expect(cancelled.code, cancelled.stderr).toBe(EXIT.ok);
    expect(free.code, free.stderr).toBe(EXIT.ok);
    await runUntil(JSON.parse(free.stdout).id, (r) => r.status === "completed");
  });
});

// ---------------------------------------------------------------------------------------------
// Alerts, the key in use
// ---------------------------------------------------------------------------------------------

describe("alerts and whoami", () => {
  it("lists the alerts the sweep raised and resolves one", async () => {
    // Prepare: a failed run, and a sweep that raises its alert
    const slug = uniqueSlug("alert");
    await failAdminInsert(slug, "23514");
    const run = await provision(slug);
    await runUntil(run.id, (r) => r.status === "failed");
    await server.app.sweeper.runOnce();

    // Act
    const json = await cli(["alerts", "list", "--kind", "run_failed", "--json"]);
    const alert = parsed(json, alertPageSchema).items.find((a) => a.subjectId === run.id);
    const human = await cli(["alerts", "list"]);
    const resolved = await cli(["alerts", "resolve", alert?.id ?? randomUUID()]);
    const unresolvedAfter = await cli(["alerts", "list", "--json"]);
    const resolvedList = await cli(["alerts", "list", "--state", "resolved", "--json"]);
    const bad = await cli(["alerts", "list", "--state", "forgotten"]);
    const unknown = await cli(["alerts", "resolve", randomUUID()]);

    // Assess
    expect(alert).toMatchObject({ kind: "run_failed", subjectType: "progress", resolvedAt: null });
    expect(human.code).toBe(EXIT.ok);
    expect(human.stdout.split("\n")[0]).toMatch(
      /^ID\s+SEVERITY\s+KIND\s+SUBJECT\s+MESSAGE\s+RAISED\s+RESOLVED$/,
    );
    expect(human.stdout).toContain(alert!.id);
    expect(resolved.code, resolved.stderr).toBe(EXIT.ok);
    expect(resolved.stdout).toMatch(/Resolved:\s+\d{4}-/);
    expect(parsed(unresolvedAfter, alertPageSchema).items.map((a) => a.id)).not.toContain(alert!.id);
    expect(parsed(resolvedList, alertPageSchema).items.map((a) => a.id)).toContain(alert!.id);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toContain("--state:");
    expect(unknown.code).toBe(EXIT.notFound);
  });

  it("says which key is in use", async () => {
    // Prepare
    const run = await provision(uniqueSlug("whoami"));
    await runUntil(run.id, (r) => r.status === "completed");
    const key = await server.request("POST", "/api/provisioning/keys", {
      body: { name: "cli whoami", role: "tenant_admin", tenantId: run.tenantId },
    });

    // Act
    const admin = await cli(["whoami"]);
    const tenant = await cli(["whoami", "--json"], { env: { TENANT_API_KEY: key.body.key } });

    // Assess
    expect(admin.code, admin.stderr).toBe(EXIT.ok);
    expect(admin.stdout).toMatch(/Role:\s+admin/);
    expect(parsed(tenant, whoamiSchema)).toMatchObject({
      role: "tenant_admin",
      tenantId: run.tenantId,
      name: "cli whoami",
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Statistics, API keys
// ---------------------------------------------------------------------------------------------

describe("stats and keys", () => {
  it("shows run statistics", async () => {
    // Prepare
    const run = await provision(uniqueSlug("stats"));
    await runUntil(run.id, (r) => r.status === "completed");

    // Act
    const human = await cli(["stats"]);
    const json = await cli(["stats", "--from", "2000-01-01T00:00:00Z", "--json"]);
    const empty = await cli([
      "stats",
      "--from",
      "2000-01-01T00:00:00Z",
      "--to",
      "2000-01-02T00:00:00Z",
      "--json",
    ]);

    // Assess
    expect(human.code, human.stderr).toBe(EXIT.ok);
    expect(human.stdout).toMatch(/Success rate:\s+\d+\.\d%/);
    expect(human.stdout).toMatch(/TEMPLATE\s+RUNS\s+COMPLETED\s+FAILED\s+SUCCESS/);
    expect(human.stdout).toMatch(/Basic School System\s+\d+/);
    expect(human.stdout).toMatch(/STEP\s+COMPLETED\s+FAILURES\s+AVG DURATION/);
    expect(human.stdout).toMatch(/CreateTenant\s+\d+/);
    const stats = parsed(json, provisioningStatsSchema);
    expect(stats.window.from).toBe("2000-01-01T00:00:00.000Z");
    expect(stats.totals.byStatus.completed).toBeGreaterThanOrEqual(1);
    expect(stats.totals.byKind.provision.runs).toBeGreaterThanOrEqual(1);
    expect(parsed(empty, provisioningStatsSchema).totals.runs).toBe(0);
  });

  it("creates a key (shown once), lists it, and revokes it: it stops working", async () => {
    // Prepare
    const name = `cli-key-${randomUUID().slice(0, 6)}`;

    // Act
    const created = await cli(["keys", "create", "--name", name, "--role", "admin", "--json"]);
    const key = parsed(created, createdApiKeySchema);
    const withKey = await cli(["template", "list", "--json"], { env: { TENANT_API_KEY: key.key } });
    const list = await cli(["keys", "list"]);
    const human = await cli(["keys", "create", "--name", `${name}-2`, "--role", "admin"]);
    const revoked = await cli(["keys", "revoke", key.id, "--json"]);
    const afterRevoke = await cli(["template", "list"], { env: { TENANT_API_KEY: key.key } });
    const listRevoked = await cli(["keys", "list", "--include-revoked", "--json"]);
    const listActive = await cli(["keys", "list", "--json"]);

    // Assess
    expect(key).toMatchObject({ name, role: "admin", tenantId: null });
    const templates = await server.request("GET", "/api/provisioning/templates");
    expect(parsed(withKey, templatePageSchema).total).toBe(templates.body.total);
    expect(list.stdout.split("\n")[0]).toMatch(
      /^ID\s+NAME\s+ROLE\s+TENANT\s+PREFIX\s+CREATED\s+LAST USED\s+REVOKED$/,
    );
    expect(list.stdout).toContain(name);
    expect(list.stdout).not.toContain(key.key);
    // The key was used (template list) before it was listed: CREATED and LAST USED both show a time.
    const row = list.stdout.split("\n").find((line) => line.includes(name))!;
    expect(row.match(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z/g)).toHaveLength(2);
    expect(human.code).toBe(EXIT.ok);
    expect(human.stdout).toMatch(/Key: tpk_/);
    expect(human.stdout).toContain("only time the key is shown");
    expect(parsed(revoked, apiKeySchema).revokedAt).not.toBeNull();
    expect(afterRevoke.code).toBe(EXIT.api);
    expect(parsed(listRevoked, apiKeyListSchema).items.map((k) => k.id)).toContain(key.id);
    expect(parsed(listActive, apiKeyListSchema).items.map((k) => k.id)).not.toContain(key.id);
  });
});

// ---------------------------------------------------------------------------------------------
// On a terminal
// ---------------------------------------------------------------------------------------------

describe.skipIf(!SCRIPT)("on a terminal", () => {
  it("asks for the password without echoing it, and --watch redraws the run live in colour", async () => {
    // Prepare
    const slug = uniqueSlug("tty");

    // Act
    const result = await cliOnTerminal(
      ["provision", "from-template", basicId, ...tenantFlags(slug, ["--watch"])],
      {
        prompt: "Admin password: ",
        answer: `${PASSWORD}\r`,
      },
    );

    // Assess
    expect(result.code, result.stdout).toBe(EXIT.ok);
    expect(result.stdout).toContain("Admin password: ");
    expect(result.stdout).not.toContain(PASSWORD);
    expect(result.stdout).toContain("\x1b[?25l"); // the cursor hidden while redrawing…
    expect(result.stdout).toContain("\x1b[?25h"); // …and shown again
    expect(result.stdout).toMatch(/\[\d+A\r/); // redrawn in place: cursor up, back to column 0…
    expect(result.stdout).toContain("\x1b[0J"); // …and cleared below
    expect(result.stdout).toContain("[████████████████████████] 6/6 steps");
    expect(result.stdout).toContain("\x1b[32m✔\x1b[39m"); // green ticks
    for (const step of STEP_NAMES) expect(result.stdout).toContain(step);
    expect(result.stdout).toMatch(/Run [0-9a-f-]{36} completed/);
  });

  it("asks before deprovisioning, naming the tenant and what will be left; no is exit 6, nothing changed", async () => {
    // Prepare
    const slug = uniqueSlug("ask");
    const run = await provision(slug);
    await runUntil(run.id, (r) => r.status === "completed");
    const prompt = "Continue? [y/N] ";

    // Act
    const safe = await cliOnTerminal(["deprovision", "tenant", run.tenantId!], { prompt, answer: "n\r" });
    const unsafe = await cliOnTerminal(
      [
        "deprovision",
        "tenant",
        run.tenantId!,
        "--grace-period",
        "0",
        "--delete-backup",
        "--preserve-audit-logs",
      ],
      { prompt, answer: "\r" },
    );

    // Assess: the defaults keep the backup and wait 24 h; both questions name the tenant
    expect(safe.code, safe.stdout).toBe(EXIT.declined);
    for (const said of [safe.stdout, unsafe.stdout]) {
      expect(said).toContain(`Tenant ${slug}`);
      expect(said).toContain(`(${slug})`);
      expect(said).toContain(run.tenantId!);
      expect(said).toContain("not confirmed; nothing was changed");
    }
    expect(safe.stdout).toContain("after a 24 h grace period");
    expect(safe.stdout).toContain("KEPT: 'restore <tenantId> <backupId>' brings the tenant back");
    expect(safe.stdout).toContain("audit logs are deleted with the data");
    expect(unsafe.code, unsafe.stdout).toBe(EXIT.declined);
    expect(unsafe.stdout).toContain("right after the backup (no grace period)");
    expect(unsafe.stdout).toContain("DELETED with the data: nothing can bring the tenant back");
    expect(unsafe.stdout).toContain("audit logs are KEPT");
    const tenant = await server.request("GET", `/api/provisioning/tenants/${run.tenantId}`);
    expect(tenant.body.status).toBe("active");
    const runs = await server.request(
      "GET",
      `/api/provisioning/progress?tenantId=${run.tenantId}&kind=deprovision`,
    );
    expect(runs.body.total).toBe(0);
  });

  it("leaves colours out with --no-color or NO_COLOR", async () => {
    // Act
    const flag = await cliOnTerminal(["template", "list", "--no-color"]);
    const env = await cliOnTerminal(["template", "list"], { env: { NO_COLOR: "1" } });
    const coloured = await cliOnTerminal(["template", "list"]);

    // Assess
    for (const result of [flag, env, coloured]) {
      expect(result.code, result.stdout).toBe(EXIT.ok);
      expect(result.stdout).toContain("Basic School System");
    }
    expect(flag.stdout).not.toContain(ANSI);
    expect(env.stdout).not.toContain(ANSI);
    expect(coloured.stdout).toContain("\x1b[1mID "); // a bold header
  });
});
