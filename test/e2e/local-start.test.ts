/**
 * `npm start` as an operator runs it: whole processes (`tsx local/main.ts`, the start script) on a
 * fresh data directory, a second process on the same directory, restart after SIGTERM, and
 * DATABASE_URL.
 *
 * The project's own tsx binary is spawned rather than `npx tsx`: npm exec dies on SIGTERM without
 * passing it on (leaving the service orphaned), while tsx relays signals to the service and exits
 * with its code, which is what this test checks.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFreshPgDatabase } from "../support/database.ts";
import { freePort, type ServiceProcess, serviceHarness, urlOf } from "../support/service-process.ts";
import { until } from "../support/wait.ts";

const TEMPLATES = "/api/provisioning/templates";
const DEFAULT_NAMES = ["Basic School System", "Municipality", "School District"];

const harness = serviceHarness("tp-e2e-");
const { tempDataDir, startService } = harness;

/** Sends a signal to the service (tsx relays it to the node process running local/main.ts). */
function signal(service: ServiceProcess, name: NodeJS.Signals): void {
  if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill(name);
}

async function stop(service: ServiceProcess): Promise<number | string> {
  signal(service, "SIGTERM");
  return service.exited;
}

async function get(url: string, key: string | null): Promise<{ status: number; body: any }> {
  const res = await fetch(url, key === null ? {} : { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json() };
}

afterEach(() => harness.cleanup());

// Each test starts one or two whole services; PGlite's first start (initdb) takes seconds, more on a busy machine.
describe("npm start", { timeout: 180_000 }, () => {
  it("serves the API on a fresh data directory with a generated admin key", async () => {
    // Prepare
    const dataDir = tempDataDir();
    const port = await freePort();

    // Act
    const service = startService({ PORT: String(port), DATA_DIR: dataDir });
    const url = await urlOf(service);

    // Assess
    expect(url).toBe(`http://127.0.0.1:${port}`);
    const keyPath = join(dataDir, "admin-api-key");
    expect(service.stdout).toContain(keyPath);
    expect(existsSync(keyPath)).toBe(true);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyPath, "utf8").trim();
    expect(key).toMatch(/^tpk_/);
    expect(service.stdout).not.toContain(key);
    const withKey = await get(`${url}${TEMPLATES}`, key);
    expect(withKey.status).toBe(200);
    expect(withKey.body.total).toBe(3);
    expect(withKey.body.items.map((t: any) => t.name).sort()).toEqual(DEFAULT_NAMES);
    const withoutKey = await get(`${url}${TEMPLATES}`, null);
    expect(withoutKey.status).toBe(401);
    expect(withoutKey.body.error.code).toBe("unauthorized");
  });

  it("refuses a second process on the same data directory, leaving the first one serving", async () => {
    // Prepare
    const dataDir = tempDataDir();
    const first = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const url = await urlOf(first);

    // Act
    const second = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const code = await second.exited;

    // Assess
    expect(code).not.toBe(0);
    expect(typeof code).toBe("number");
    expect(second.stderr).toContain("in use");
    expect(second.stdout).not.toContain("listening on");
    const key = readFileSync(join(dataDir, "admin-api-key"), "utf8").trim();
    expect((await get(`${url}${TEMPLATES}`, key)).status).toBe(200);
  });

  it("stops cleanly on SIGTERM and keeps operator templates across a restart without duplicating defaults", async () => {
    // Prepare
    const dataDir = tempDataDir();
    const first = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const firstUrl = await urlOf(first);
    const key = readFileSync(join(dataDir, "admin-api-key"), "utf8").trim();
    const created = await fetch(`${firstUrl}${TEMPLATES}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Operator Template", category: "custom", limits: { maxUsers: 5 } }),
    });
    expect(created.status).toBe(201);

    // Act
    const exitCode = await stop(first);
    const lockLeftBehind = existsSync(join(dataDir, "server.pid"));
    const second = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const secondUrl = await urlOf(second);
    const list = await get(`${secondUrl}${TEMPLATES}`, key);

    // Assess
    expect(exitCode).toBe(0);
    expect(lockLeftBehind).toBe(false);
    expect(readFileSync(join(dataDir, "admin-api-key"), "utf8").trim()).toBe(key);
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(4);
    expect(list.body.items.map((t: any) => t.name).sort()).toEqual(
      [...DEFAULT_NAMES, "Operator Template"].sort(),
    );
  });

  it("stops cleanly on a SIGTERM that arrives while it is still starting, releasing the data directory", async () => {
    // Prepare
    const dataDir = tempDataDir();
    const service = startService({ PORT: String(await freePort()), DATA_DIR: dataDir, LOG_LEVEL: "debug" });
    // Signal handlers are in place once the modules are loaded (this line), before the database opens.
    await until(
      "the service to load its modules",
      async () => service.stderr,
      (stderr) => stderr.includes('"phase":"process and modules"'),
      60_000,
      20,
    );

    // Act
    const exitCode = await stop(service);

    // Assess
    expect(exitCode).toBe(0);
    expect(service.stderr).toContain('"message":"stopping once started","signal":"SIGTERM"');
    expect(service.stderr).toContain('"message":"shutting down","signal":"SIGTERM"');
    expect(service.stdout).not.toContain("listening on");
    expect(existsSync(join(dataDir, "server.pid"))).toBe(false);
  });

  it("run by npm start, stops cleanly when npm is sent SIGTERM (npm does not pass it on)", async () => {
    // Prepare
    const dataDir = tempDataDir();
    const service = startService(
      { PORT: String(await freePort()), DATA_DIR: dataDir, LOG_LEVEL: "info" },
      { viaNpm: true },
    );
    await urlOf(service);
    const lockPath = join(dataDir, "server.pid");
    const servicePid = Number(readFileSync(lockPath, "utf8").trim().split(/\s+/)[0]);

    // Act: the signal goes to npm alone, as a process manager or `kill <pid of npm>` sends it
    const npmExit = await stop(service);
    const released = await until(
      "the service to release the data directory",
      async () => existsSync(lockPath),
      (exists) => !exists,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nservice stderr:\n${service.stderr}`);
    });
    const second = startService({ PORT: String(await freePort()), DATA_DIR: dataDir });
    const secondUrl = await urlOf(second);

    // Assess
    expect(servicePid).not.toBe(service.child.pid);
    expect(npmExit).not.toBe(-1);
    expect(released).toBe(false);
    expect(service.stderr).toContain('"message":"shutting down","signal":"npm exited"');
    expect(secondUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("serves the three templates from a fresh PostgreSQL database given DATABASE_URL", async () => {
    // Prepare
    const fresh = await createFreshPgDatabase();
    harness.onCleanup(() => fresh.drop());
    const dataDir = tempDataDir();

    // Act
    const service = startService({
      PORT: String(await freePort()),
      DATA_DIR: dataDir,
      DATABASE_URL: fresh.url,
    });
    const url = await urlOf(service);
    const key = readFileSync(join(dataDir, "admin-api-key"), "utf8").trim();
    const list = await get(`${url}${TEMPLATES}`, key);
    const exitCode = await stop(service);

    // Assess
    expect(service.stdout).not.toContain("embedded PostgreSQL");
    expect(existsSync(join(dataDir, "pglite"))).toBe(false);
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);
    expect(list.body.items.map((t: any) => t.name).sort()).toEqual(DEFAULT_NAMES);
    expect(exitCode).toBe(0);
  });
});
