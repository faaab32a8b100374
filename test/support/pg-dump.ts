/**
 * `pg_dump --data-only` of one schema, for round-trip tests on a PostgreSQL server (the
 * `postgres` and `data-api` test databases; PGlite has no server to dump).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * The schema's data as `pg_dump --data-only` writes it, normalised for comparison: each table's
 * COPY block with its rows sorted (pg_dump writes rows in physical order, which a restore that
 * inserts in key order need not keep), the dump's comments and settings left out. Sequence values
 * (`setval`) stay in.
 */
export async function dataDump(url: string, schema: string): Promise<string[]> {
  const { stdout } = await run(
    "pg_dump",
    ["--data-only", "--no-owner", "--no-privileges", `--schema=${schema}`, url],
    {
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  const out: string[] = [];
  let block: string[] | null = null;
  for (const line of stdout.split("\n")) {
    if (block) {
      if (line === "\\.") {
        // A loop, not a spread: a large table's rows would overflow the call's arguments.
        for (const row of block.sort()) out.push(row);
        out.push(line);
        block = null;
      } else {
        block.push(line);
      }
      continue;
    }
    if (line.startsWith("COPY ")) {
      out.push(line);
      block = [];
    } else if (line.startsWith("SELECT pg_catalog.setval")) {
      out.push(line);
    }
  }
  return out;
}
