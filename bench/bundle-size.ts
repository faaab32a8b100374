/**
 * `npm run bench:bundle-size`: bundles every Lambda entry with the options CDK deploys with
 * (lib/bundling.ts) and prints each bundle's minified and gzipped size. Target: none above 1 MB
 * minified. `--json` prints the rows as JSON.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { esbuildOptions, REPO_ROOT } from "../lib/bundling.ts";
import { lambdaEntries } from "../lib/lambda-entries.ts";

const LIMIT_BYTES = 1024 * 1024;

interface Row {
  readonly lambda: string;
  readonly entry: string;
  readonly minifiedBytes: number;
  readonly gzipBytes: number;
  readonly overLimit: boolean;
}

function bytes(n: number): string {
  return n.toLocaleString("en-US");
}

const outDir = mkdtempSync(join(tmpdir(), "bundle-size-"));
const rows: Row[] = [];
try {
  for (const { name, role, entry } of lambdaEntries()) {
    const outfile = join(outDir, role, name, "index.mjs");
    await build(esbuildOptions(entry, outfile));
    const code = readFileSync(outfile);
    rows.push({
      lambda: role === name ? name : `${role}:${name}`,
      entry: relative(REPO_ROOT, entry),
      minifiedBytes: code.length,
      gzipBytes: gzipSync(code, { level: 9 }).length,
      overLimit: code.length > LIMIT_BYTES,
    });
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}

if (process.argv.includes("--json")) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const header = ["lambda", "entry", "minified bytes", "gzip bytes", ""];
  const table = rows.map((r) => [
    r.lambda,
    r.entry,
    bytes(r.minifiedBytes),
    bytes(r.gzipBytes),
    r.overLimit ? "OVER 1 MB" : "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 2 && i <= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${line(header)}\n${line(widths.map((w) => "-".repeat(w)))}\n`);
  for (const row of table) process.stdout.write(`${line(row)}\n`);
  const over = rows.filter((r) => r.overLimit).length;
  process.stdout.write(
    `\n${rows.length} bundles; largest ${bytes(Math.max(...rows.map((r) => r.minifiedBytes)))} bytes minified; ${over} over 1 MB\n`,
  );
}
if (rows.some((r) => r.overLimit)) process.exitCode = 1;
