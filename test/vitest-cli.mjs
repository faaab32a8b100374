#!/usr/bin/env node
// `npm test`: `vitest run` with the arguments given, plus `--grep PATTERN` (as the product document
// writes `npm test -- --grep provisioning`), which vitest does not know: it becomes
// `--testNamePattern PATTERN` (vitest's `-t`), the tests whose name matches. Everything else is
// passed to vitest unchanged, and its exit code is this script's.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** `--grep X` / `--grep=X` → `--testNamePattern X`; a `--grep` without a pattern is vitest's to reject. */
export function vitestArgs(args) {
  const out = ["run"];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (arg === "--grep" && i + 1 < args.length) {
      out.push("--testNamePattern", args[++i]);
    } else if (arg.startsWith("--grep=")) {
      out.push("--testNamePattern", arg.slice("--grep=".length));
    } else {
      out.push(arg);
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const require = createRequire(import.meta.url);
  const vitest = join(dirname(require.resolve("vitest/package.json")), "vitest.mjs");
  const child = spawn(process.execPath, [vitest, ...vitestArgs(process.argv.slice(2))], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
}
