/**
 * `npm run bench:startup` (`npx tsx bench/startup.ts`): how long `npm start` takes to answer its
 * first request (GET /api/health) on a fresh data directory and on an existing one, and where that
 * time goes. Each start is a new process — `npm start` as users run it, its command without npm
 * (`node local/start.mjs`: local/main.ts bundled once into node_modules/.cache), and the unbundled
 * `node --import tsx local/main.ts` — timed from spawn to the first 200, then stopped with
 * SIGTERM. The phases come from the service's own debug lines ("start-up phase": Node and module
 * loading until `main`, then each step of `startLocalApp`).
 *
 * Options: `--runs 7` (starts on the existing directory per command), `--json`.
 * Exit codes: 0 done, 1 failed (message on stderr).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "../test/support/service-process.ts";

const { values: args } = parseArgs({
  options: { runs: { type: "string", default: "7" }, json: { type: "boolean", default: false } },
});
const RUNS = Number.parseInt(args.runs, 10);
const REPO = fileURLToPath(new URL("../", import.meta.url));

interface Start {
  readonly firstResponseMs: number;
  readonly phases: Record<string, number>;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
};

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/api/health`)).status === 200;
  } catch {
    return false;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid!, "SIGTERM");
  } catch {
    return;
  }
  await exited;
}

/** One start: spawn, poll /api/health every 10 ms, read the phases, stop. */
async function start(command: "npm" | "bundle" | "tsx", dataDir: string): Promise<Start> {
  const port = await freePort();
  const argv =
    command === "npm"
      ? ["npm", ["start", "--silent"]]
      : command === "bundle"
        ? [process.execPath, ["local/start.mjs"]]
        : [process.execPath, ["--import", "tsx", "local/main.ts"]];
  const t0 = performance.now();
  const child = spawn(argv[0] as string, argv[1] as string[], {
    cwd: REPO,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stderr = "";
  child.stdout!.resume();
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  while (!(await healthy(url))) {
    if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}):\n${stderr}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const firstResponseMs = performance.now() - t0;
  await stop(child);
  const phases: Record<string, number> = {};
  for (const line of stderr.split("\n")) {
    if (!line.includes('"start-up phase"')) continue;
    const { phase, ms } = JSON.parse(line) as { phase: string; ms: number };
    phases[phase] = ms;
  }
  return { firstResponseMs, phases };
}

function summarise(starts: readonly Start[]) {
  const names = [...new Set(starts.flatMap((s) => Object.keys(s.phases)))];
  return {
    firstResponseMs: Math.round(median(starts.map((s) => s.firstResponseMs))),
    minMs: Math.round(Math.min(...starts.map((s) => s.firstResponseMs))),
    maxMs: Math.round(Math.max(...starts.map((s) => s.firstResponseMs))),
    phases: Object.fromEntries(
      names.map((n) => [n, Math.round(median(starts.map((s) => s.phases[n] ?? 0)))]),
    ),
  };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "tp-bench-startup-"));
  try {
    const fresh = await start("npm", dataDir);
    const results: Record<string, ReturnType<typeof summarise>> = {
      "npm start, fresh data directory": summarise([fresh]),
    };
    const labels = {
      npm: "npm start, existing data directory",
      bundle: "node local/start.mjs (npm start's command, bundled), existing",
      tsx: "node --import tsx local/main.ts (unbundled), existing",
    } as const;
    for (const command of ["npm", "bundle", "tsx"] as const) {
      const starts: Start[] = [];
      for (let i = 0; i < RUNS; i++) starts.push(await start(command, dataDir));
      const label = labels[command];
      results[label] = summarise(starts);
    }
    if (args.json) {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      `Start-up to the first answer of GET /api/health (medians of ${RUNS}; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)})\n\n`,
    );
    for (const [label, r] of Object.entries(results)) {
      process.stdout.write(`${label}: ${r.firstResponseMs} ms (min ${r.minMs}, max ${r.maxMs})\n`);
      for (const [phase, ms] of Object.entries(r.phases))
        process.stdout.write(`  ${phase.padEnd(28)} ${ms} ms\n`);
      const accounted = Object.values(r.phases).reduce((a, b) => a + b, 0);
      process.stdout.write(
        `  ${"(rest: spawn, npm, first request)".padEnd(28)} ${r.firstResponseMs - accounted} ms\n`,
      );
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
