/**
 * Whole-process tests of the service: the start script's command (`node --import tsx
 * local/main.ts`), or `npm start` itself, spawned in its own process group (so cleanup can end
 * every process of it), its output captured, its URL read from stdout.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

/**
 * Starts services and temporary data directories for one test file; `cleanup()` (in afterEach)
 * SIGKILLs what is still running and removes the directories.
 */
export function serviceHarness(dirPrefix: string) {
  const started: ServiceProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  return {
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
}
