/**
 * The data directory is private to the service's user: a fresh `$DATA_DIR` (the embedded
 * database, whose WAL holds password hashes and tenant data, the keys, the backups) is 0700 with
 * files 0600, including files PGlite writes after start, and a directory an older version left
 * readable by others is tightened at start. The service runs as an operator starts it, under the
 * usual umask 022 of this test process.
 */
import { chmodSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { provisionBody } from "../support/provision-body.ts";
import { freePort, type ServiceProcess, serviceHarness, urlOf } from "../support/service-process.ts";

const harness = serviceHarness("tp-e2e-modes-");
const { tempDataDir, startService } = harness;

afterEach(() => harness.cleanup());

interface Entry {
  readonly path: string;
  readonly kind: "directory" | "file";
  readonly mode: number;
}

/** Every directory and file under `dir` (itself included), with its permission bits. */
function walk(dir: string): Entry[] {
  const entries: Entry[] = [];
  const visit = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    entries.push({ path, kind: stat.isDirectory() ? "directory" : "file", mode: stat.mode & 0o777 });
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return entries;
}

/** The entries whose mode is not 0700 (directories) / 0600 (files), as "path 0oNNN". */
function readableByOthers(dir: string): string[] {
  return walk(dir)
    .filter((e) => e.mode !== (e.kind === "directory" ? 0o700 : 0o600))
    .map((e) => `${e.path} 0o${e.mode.toString(8)}`);
}

async function stop(service: ServiceProcess): Promise<number | string> {
  if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill("SIGTERM");
  return service.exited;
}

/** Provisions a tenant (writes password hashes and tenant rows through the WAL) and waits for it. */
async function provisionTenant(url: string, key: string): Promise<void> {
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const templates = await fetch(`${url}/api/provisioning/templates`, { headers });
  const template = ((await templates.json()) as { items: { id: string }[] }).items[0]!;
  const started = await fetch(`${url}/api/provisioning/templates/${template.id}/provision`, {
    method: "POST",
    headers,
    body: JSON.stringify(provisionBody("modes", "correct-horse-battery-staple")),
  });
  expect(started.status, await started.clone().text()).toBe(202);
  const { id } = (await started.json()) as { id: string };
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await fetch(`${url}/api/provisioning/progress/${id}`, { headers });
    const body = (await res.json()) as { status: string };
    if (body.status === "completed") return;
    if (body.status === "failed" || body.status === "cancelled" || Date.now() > deadline)
      throw new Error(`provisioning ${body.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("data directory permissions", { timeout: 180_000 }, () => {
  it("creates a fresh data directory 0700 with every file 0600, files written after start included", async () => {
    // Prepare
    const dataDir = tempDataDir();
    const service = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const url = await urlOf(service);
    const key = readFileSync(join(dataDir, "admin-api-key"), "utf8").trim();

    // Act
    await provisionTenant(url, key);
    const whileRunning = readableByOthers(dataDir);
    const exitCode = await stop(service);

    // Assess
    expect(exitCode).toBe(0);
    const entries = walk(dataDir);
    expect(
      entries.filter((e) => e.path.startsWith(join(dataDir, "pglite")) && e.kind === "file").length,
    ).toBeGreaterThan(100);
    expect(whileRunning).toEqual([]);
    expect(readableByOthers(dataDir)).toEqual([]);
  });

  it("tightens a data directory an older version left readable by others, and still opens it", async () => {
    // Prepare: a data directory as an earlier version left it (0755 directories, 0644 files)
    const dataDir = tempDataDir();
    const first = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const firstUrl = await urlOf(first);
    const firstKey = readFileSync(join(dataDir, "admin-api-key"), "utf8").trim();
    await provisionTenant(firstUrl, firstKey);
    expect(await stop(first)).toBe(0);
    for (const e of walk(dataDir)) chmodSync(e.path, e.kind === "directory" ? 0o755 : 0o644);
    expect(readableByOthers(dataDir).length).toBeGreaterThan(100);

    // Act
    const second = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const url = await urlOf(second);
    const key = readFileSync(join(dataDir, "admin-api-key"), "utf8").trim();
    const list = await fetch(`${url}/api/provisioning/templates`, {
      headers: { authorization: `Bearer ${key}` },
    });

    // Assess
    expect(list.status).toBe(200);
    expect(readableByOthers(dataDir)).toEqual([]);
    expect(await stop(second)).toBe(0);
  });
});
