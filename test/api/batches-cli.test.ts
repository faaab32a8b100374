/**
 * `provision bulk` and `batch show | retry | cancel` (runCli, in this process) against the real
 * local service: a CSV file becomes a batch whose live summary ends completed (exit 0); `--json`
 * answers parse with the API's schema; an invalid row is refused by the API naming it (exit 1); a
 * malformed file is a usage error naming --file (exit 2), and an unknown batch exit 3; `--at`
 * schedules the batch instead (listed and cancelled with `schedules list | cancel`).
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvItems, parseCsv } from "../../cli/commands/batches.ts";
import { batchSchema } from "../../functions/schemas/batches.ts";
import { scheduledOperationSchema } from "../../functions/schemas/deprovisioning.ts";
import { cliAgainst } from "../support/cli-in-process.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let server: TestServer;
let templateId: string;

beforeAll(async () => {
  server = await startTestServer({ env: { INVITATION_BASE_URL: "https://app.example.org/set-password" } });
  templateId = (await server.request("GET", "/api/provisioning/templates?limit=1")).body.items[0].id;
});

afterAll(async () => {
  await server?.close();
});

const cli = cliAgainst(() => server, { TENANT_CLI_WATCH_INTERVAL_MS: "50" });

function csvFile(rows: string[]): string {
  const path = join(server.dataDir, `tenants-${randomUUID().slice(0, 8)}.csv`);
  writeFileSync(path, `slug,name,admin-email,adminName\n${rows.join("\n")}\n`);
  return path;
}

describe("CSV files", () => {
  it("parses quoted fields, doubled quotes and CRLF line ends", () => {
    expect(parseCsv('a,"b, c","say ""hi"""\r\nd,,f\r\n')).toEqual([
      ["a", "b, c", 'say "hi"'],
      ["d", "", "f"],
    ]);
  });

  it("maps the columns to the API's fields and leaves empty cells out", () => {
    expect(csvItems("Slug,Admin-Email,templateId\nx-1,a@example.org,\n", ["provision", "bulk"])).toEqual([
      { slug: "x-1", adminEmail: "a@example.org" },
    ]);
    expect(() => csvItems("slug,colour\nx,y\n", ["provision", "bulk"])).toThrow(/unknown column "colour"/);
  });
});

describe("tenant-provisioning provision bulk", () => {
  it("provisions a CSV file's tenants as one batch and follows it to the end", async () => {
    const s = randomUUID().slice(0, 6);
    const file = csvFile([
      `cli-a-${s},"School A, North",a@a-${s}.example.org,Ada`,
      `cli-b-${s},School B,b@b-${s}.example.org,Bo`,
    ]);

    const watched = await cli("provision", "bulk", "--file", file, "--template", templateId, "--watch");

    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout.trim().split("\n");
    expect(lines.at(-1)).toMatch(/completed\s+completed 2\/2$/);
    const shown = await cli("--json", "provision", "bulk", "--file", file, "--template", templateId);
    // The same names again: refused whole by the API (exit 1), each item named.
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain("items[0].slug");
    expect(shown.stderr).toContain("items[1].slug");
  });

  it("shows a batch as JSON and as a table, and refuses to retry one that completed", async () => {
    const s = randomUUID().slice(0, 6);
    const file = csvFile([`cli-c-${s},School C,c@c-${s}.example.org,Cy`]);
    const started = await cli(
      "--json",
      "provision",
      "bulk",
      "--file",
      file,
      "--template",
      templateId,
      "--watch",
    );
    expect(started.code, started.stderr).toBe(0);
    const batch = batchSchema.parse(JSON.parse(started.stdout));
    expect(batch.counts.completed).toBe(1);

    const table = await cli("batch", "show", batch.id);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`Batch:\\s+${batch.id}`));
    expect(table.stdout).toContain(`cli-c-${s}`);
    const retried = await cli("batch", "retry", batch.id);
    expect(retried.code).toBe(1);
    expect(retried.stderr).toMatch(/no child to retry/);
    const cancelled = await cli("batch", "cancel", batch.id);
    expect(cancelled.code).toBe(1);
  });

  it("schedules a batch with --at, lists it among the schedules and cancels it", async () => {
    const s = randomUUID().slice(0, 6);
    const file = csvFile([`cli-f-${s},School F,f@f-${s}.example.org,Fy`]);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const refused = await cli(
      "provision",
      "bulk",
      "--file",
      file,
      "--template",
      templateId,
      "--at",
      at,
      "--watch",
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--at schedules the batch/);
    const badAt = await cli(
      "provision",
      "bulk",
      "--file",
      file,
      "--template",
      templateId,
      "--at",
      "tomorrow",
    );
    expect(badAt.code).toBe(2);
    expect(badAt.stderr).toMatch(/--at/);

    const scheduled = await cli(
      "--json",
      "provision",
      "bulk",
      "--file",
      file,
      "--template",
      templateId,
      "--at",
      at,
    );
    expect(scheduled.code, scheduled.stderr).toBe(0);
    const schedule = scheduledOperationSchema.parse(JSON.parse(scheduled.stdout));
    expect(schedule).toMatchObject({ kind: "batch", status: "scheduled", tenantId: null, runAt: at });
    const listed = await cli("schedules", "list", "--kind", "batch");
    expect(listed.stdout).toContain(schedule.id);
    expect(listed.stdout).toMatch(/1 items, 10 at a time/);
    const cancelled = await cli("schedules", "cancel", schedule.id);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const batch = await cli("--json", "batch", "show", (schedule.options as { batchId: string }).batchId);
    expect(batchSchema.parse(JSON.parse(batch.stdout)).status).toBe("cancelled");
  });

  it("names a bad file or flag before sending anything (exit 2), and an unknown batch is exit 3", async () => {
    const missing = await cli("provision", "bulk", "--file", "nope.csv");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--file: cannot read nope\.csv/);
    const s = randomUUID().slice(0, 6);
    const bad = await cli(
      "provision",
      "bulk",
      "--file",
      csvFile([`cli-d-${s},D,not-an-email,Di`]),
      "--template",
      templateId,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--file: items\[0\]\.adminEmail/);
    const concurrency = await cli(
      "provision",
      "bulk",
      "--file",
      csvFile([`cli-e-${s},E,e@e.example.org,E`]),
      "--template",
      templateId,
      "--max-concurrency",
      "0",
    );
    expect(concurrency.code).toBe(2);
    expect(concurrency.stderr).toMatch(/--max-concurrency/);
    expect((await cli("batch", "show", randomUUID())).code).toBe(3);
  });
});
