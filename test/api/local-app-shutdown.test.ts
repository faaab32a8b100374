/**
 * The local service's shutdown (`LocalApp.close`, what SIGTERM and npm going away run): a stage
 * that fails or hangs must not keep the data directory locked, or the next `npm start` is refused.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/shared/config.ts";
import { createLogger } from "../../functions/shared/logger.ts";
import { type LocalApp, startLocalApp } from "../../local/app.ts";

const dirs: string[] = [];
const apps: LocalApp[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) await app.database.close().catch(() => {});
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function startOnEmbeddedDatabase(shutdownTimeoutMs: number) {
  const dir = mkdtempSync(join(tmpdir(), "tp-shutdown-"));
  dirs.push(dir);
  const dataDir = join(dir, "data");
  const logs: string[] = [];
  const app = await startLocalApp({
    config: loadConfig({ PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "debug" }),
    logger: createLogger("debug", (line) => logs.push(line)),
    shutdownTimeoutMs,
  });
  apps.push(app);
  return { app, lockPath: join(dataDir, "server.pid"), logs: () => logs.map((l) => JSON.parse(l)) };
}

describe("local service shutdown", () => {
  it("releases the data directory when a stage hangs past the shutdown timeout, naming the stage", async () => {
    // Prepare
    const { app, lockPath, logs } = await startOnEmbeddedDatabase(300);
    const lockedWhileRunning = existsSync(lockPath);
    app.workflows.close = () => new Promise<void>(() => {}); // never settles

    // Act
    await app.close();

    // Assess
    expect(lockedWhileRunning).toBe(true);
    expect(existsSync(lockPath)).toBe(false);
    expect(logs()).toContainEqual(
      expect.objectContaining({ message: "shutdown timed out", stage: "workflows", timeoutMs: 300 }),
    );
  });

  it("runs the remaining stages and releases the data directory when one stage fails", async () => {
    // Prepare
    const { app, lockPath, logs } = await startOnEmbeddedDatabase(30_000);
    app.sweeper.stop = async () => {
      throw new Error("sweep could not stop");
    };

    // Act
    await app.close();

    // Assess
    expect(existsSync(lockPath)).toBe(false);
    const lines = logs();
    expect(lines).toContainEqual(
      expect.objectContaining({ message: "shutdown stage failed", stage: "sweeper" }),
    );
    const stages = lines.filter((l) => l.message === "shutdown stage").map((l) => l.stage);
    expect(stages).toEqual([
      "http server",
      "sweeper",
      "schedule poller",
      "outbox worker",
      "event worker",
      "webhook agents",
      "workflows",
      "cells",
      "database",
    ]);
    expect(lines.some((l) => l.message === "shutdown timed out")).toBe(false);
  });
});
