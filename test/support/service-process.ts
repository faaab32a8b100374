/**
 * Whole-process tests of the service: the start script's command (`node --import tsx
 * local/main.ts`), or `npm start` itself, spawned in its own process group (so cleanup can end
 * every process of it), its output captured, its URL read from stdout.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** What `npm start` runs (package.json's start script). */
const START_COMMAND = [process.execPath, "--import", "tsx", "local/main.ts"] as const;

export interface ServiceProcess {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or the signal name) when the process has exited. */
  readonly exited: Promise<number | string>;
}

/** A port nobody listens on right now (the service prints its URL, so PORT must be fixed). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Waits until the service prints its URL; fails if it exits first. */
export async function urlOf(service: ServiceProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(service.stdout);
      if (m) {
        service.child.stdout!.off("data", check);
        resolve(m[1]!);
      }
    };
    service.child.stdout!.on("data", check);
    check();
    void service.exited.then((code) =>
      reject(new Error(`service exited (${code}) before listening:\n${service.stdout}\n${service.stderr}`)),
    );
  });
}

/** SIGKILL to the service's process group (no shutdown code runs); resolves with its exit. */
export async function killService(service: ServiceProcess): Promise<number | string> {
  const group = -service.child.pid!;
  process.kill(group, "SIGKILL");
  const code = await service.exited;
  // tsx exits first; wait (bounded) until the service process of the group is gone too, so a
  // restart does not race its last moments. A dead but unreaped one counts as gone for the lock.
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(group, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return code;
}

/**
 * SIGTERM to the service's process group; resolves with its exit. Not worth asserting on: tsx
 * relays SIGTERM and SIGKILLs the service when it has not acknowledged within 30 ms, which a busy
 * machine can miss (exit 143).
 */
export async function stopService(service: ServiceProcess): Promise<number | string> {
  process.kill(-service.child.pid!, "SIGTERM");
  return service.exited;
}

/** A JSON request to a running service with the admin key. */
export type ServiceApi = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: any }>;

/**
 * A client of the service at `url`. A GET is retried (twice) on a dropped keep-alive connection:
 * the server may close an idle socket just as it is reused while the embedded database keeps the
 * event loop busy.
 */
export function serviceApi(url: string, key: string): ServiceApi {
  return async (method, path, body) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${key}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: res.status, body: await res.json() };
      } catch (error) {
        if (method !== "GET" || attempt >= 3) throw error;
      }
    }
  };
}

/** The admin API key the service wrote into its data directory at first start. */
export const adminKeyOf = (dataDir: string): string =>
  readFileSync(join(dataDir, "admin-api-key"), "utf8").trim();

/**
 * Starts services and temporary data directories for one test file; `cleanup()` (in afterEach)
 * SIGKILLs what is still running and removes the directories.
 */
export function serviceHarness(dirPrefix: string) {
  const started: ServiceProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  const harness = {
    tempDataDir(): string {
      const dir = mkdtempSync(join(tmpdir(), dirPrefix));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return join(dir, "data");
    },
    /**
     * Starts the service with only the given configuration (plus PATH, HOME and the like): the
     * start script's command, or with `viaNpm` the `npm start` an operator types.
     */
    startService(env: Record<string, string>, options: { viaNpm?: boolean } = {}): ServiceProcess {
      const baseEnv: Record<string, string> = {};
      for (const name of ["PATH", "HOME", "TMPDIR", "LANG", "npm_config_cache"]) {
        const value = process.env[name];
        if (value !== undefined) baseEnv[name] = value;
      }
      const [command, ...args] = options.viaNpm ? ["npm", "start", "--silent"] : START_COMMAND;
      const child = spawn(command, args, {
        cwd: REPO,
        env: { ...baseEnv, LOG_LEVEL: "warn", ...env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      const service: ServiceProcess = {
        child,
        stdout: "",
        stderr: "",
        exited: new Promise((resolve) => {
          child.once("exit", (code, signal) => resolve(code ?? signal ?? -1));
        }),
      };
      child.stdout!.on("data", (chunk: Buffer) => {
        service.stdout += chunk.toString("utf8");
      });
      child.stderr!.on("data", (chunk: Buffer) => {
        service.stderr += chunk.toString("utf8");
      });
      started.push(service);
      return service;
    },
    /**
     * Starts the service on a free port with `DATA_DIR: dataDir` and the given configuration, waits
     * until it listens, and returns it with a client holding its admin key.
     */
    async startWithApi(
      env: Record<string, string>,
      dataDir: string,
    ): Promise<{ service: ServiceProcess; api: ServiceApi }> {
      const service = harness.startService({ ...env, PORT: String(await freePort()), DATA_DIR: dataDir });
      const url = await urlOf(service);
      return { service, api: serviceApi(url, adminKeyOf(dataDir)) };
    },
    /** Registers more cleanup (dropped databases, …), run after the services are gone. */
    onCleanup(fn: () => Promise<void> | void): void {
      cleanups.push(fn);
    },
    async cleanup(): Promise<void> {
      for (const service of started.splice(0)) {
        // The whole process group, even when its leader has exited: `npm start`'s service
        // outlives npm when npm alone is signalled.
        if (service.child.pid) {
          try {
            process.kill(-service.child.pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        await service.exited;
      }
      for (const fn of cleanups.splice(0).reverse()) await fn();
    },
  };
  return harness;
}

/**
 * The environment the SIGKILL tests start the service with: the given PostgreSQL database, a short
 * step lock timeout and quick, many step retries (a killed process's locks and half-done steps
 * are met again after the restart).
 */
export function crashTestEnv(
  databaseUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: "info",
    STEP_LOCK_TIMEOUT_MS: "300",
    STEP_RETRY_INTERVAL_SECONDS: "1",
    STEP_RETRY_MAX_DELAY_SECONDS: "1",
    STEP_RETRY_MAX_ATTEMPTS: "20",
    ...extra,
  };
}
