/**
 * Raw SQL helpers. Raw results differ by driver (the Data API returns jsonb and timestamps as
 * strings), so every raw query goes through `queryRows`, which hands back plain rows.
 */
import { type SQL, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Database } from "./client.ts";

/** Runs a raw statement and returns its rows. */
export async function queryRows<T extends Record<string, unknown>>(db: Database, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows?: T[] } | T[];
  if (Array.isArray(result)) return result;
  return result.rows ?? [];
}

/** Runs a read and answers its rows: `queryRows` on a database or transaction, or a variant of it. */
export type RowReader = <T extends Record<string, unknown>>(query: SQL) => Promise<T[]>;

/** `queryRows` on `db` (a database, or a transaction) as a `RowReader`. */
export function rowReader(db: Database): RowReader {
  return (query) => queryRows(db, query);
}

/**
 * A reader whose every read is ONE autocommit call that waits at most `lockTimeoutMs` for the locks
 * it takes (migration 0015's `read_with_lock_timeout`; no Begin, SET and Commit around it). Each
 * row comes back through JSON: jsonb as values, numbers as numbers, timestamps as text.
 */
export function lockTimeoutReader(db: Database, lockTimeoutMs: number): RowReader {
  const wait = `${Math.max(1, Math.floor(lockTimeoutMs))}ms`;
  return async <T extends Record<string, unknown>>(query: SQL) => {
    const rows = await queryRows<{ row: unknown }>(
      db,
      sql`SELECT r::text AS row FROM read_with_lock_timeout(${wait}::text, ${inlineSql(query)}::text) r`,
    );
    return rows.map((r) => JSON.parse(String(r.row)) as T);
  };
}

/** jsonb read through raw SQL: an object on PGlite/pg, a string on the Data API. */
export function jsonValue<T>(value: unknown): T {
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}

/** A timestamp read through raw SQL: a Date on pg, a string on PGlite/Data API. Naive values are UTC. */
export function dateValue(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  const s = String(value).replace(" ", "T");
  if (/[zZ]$|[+-]\d\d:?\d\d$/.test(s)) return new Date(s);
  // Postgres prints whole-hour offsets as "+00", which Date cannot parse.
  if (/[+-]\d\d$/.test(s)) return new Date(`${s}:00`);
  return new Date(`${s}Z`);
}

/** Numbers from aggregates come back as strings on some drivers (bigint, numeric). */
export function numberValue(value: unknown): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : Number(value);
}

/** Quotes an identifier we derived ourselves (never user input); rejects anything unexpected. */
export function safeIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
}

/**
 * Splits a SQL script into statements. The Data API runs one statement per call, so scripts are
 * split here; dollar-quoted bodies, quoted strings and comments are respected.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = "";
  let i = 0;
  while (i < script.length) {
    const ch = script[i] as string;
    const rest = script.slice(i);
    if (rest.startsWith("--")) {
      const end = script.indexOf("\n", i);
      i = end === -1 ? script.length : end + 1;
      current += "\n";
      continue;
    }
    if (rest.startsWith("/*")) {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      let j = i + 2;
      while (j < script.length && depth > 0) {
        if (script.startsWith("/*", j)) {
          depth++;
          j += 2;
        } else if (script.startsWith("*/", j)) {
          depth--;
          j += 2;
        } else j++;
      }
      i = j;
      current += " ";
      continue;
    }
    const dollar = /^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$/.exec(rest);
    if (dollar) {
      const tag = dollar[0];
      const end = script.indexOf(tag, i + tag.length);
      const stop = end === -1 ? script.length : end + tag.length;
      current += script.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < script.length) {
        if (script[j] === ch) {
          if (script[j + 1] === ch) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      current += script.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ";") {
      if (current.trim()) statements.push(current.trim());
      current = "";
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/** A dollar-quote tag that does not occur in `text`. */
export function dollarTag(text: string): string {
  let tag = "$s$";
  while (text.includes(tag)) tag = `$s${tag.slice(1)}`;
  return tag;
}

/**
 * A multi-statement script as ONE statement: an anonymous code block that executes each
 * statement in order (`DO $$ BEGIN EXECUTE '...'; EXECUTE '...'; END $$`). Every driver takes it
 * in a single round trip — the RDS Data API runs one statement per call, and PGlite's and
 * node-postgres' parameterised queries one statement each — and it runs in the caller's
 * transaction, so a failing statement rolls the whole script back. Statements that cannot run
 * inside a function (VACUUM, CREATE INDEX CONCURRENTLY, transaction control) are not allowed in
 * the scripts this runs.
 */
export function scriptAsStatement(script: string): string {
  const statements = splitStatements(script);
  if (statements.length === 1) return statements[0]!;
  const body = statements
    .map((statement) => {
      const tag = dollarTag(statement);
      return `EXECUTE ${tag}${statement}${tag};`;
    })
    .join("\n");
  const outer = dollarTag(body);
  return `DO ${outer} BEGIN\n${body}\nEND ${outer}`;
}

/** The SQL text one RDS Data API call takes (ExecuteStatement `sql`: at most 65,536 characters). */
export const MAX_STATEMENT_CHARS = 65_536;

/**
 * A write to run with others as one statement (`writesAsOne`): a single data-modifying statement
 * (INSERT, UPDATE, DELETE without a WITH of its own), or CTEs (`name AS (…)`, comma-separated)
 * whose names start with the prefix given, for a write that is itself several (an event and its
 * deliveries).
 */
export type ChainedWrite = SQL | { readonly ctes: (prefix: string) => SQL };

/**
 * Writes as ONE statement with bind parameters: the CTEs of a top-level WITH (`WITH w0 AS
 * (INSERT …), w1 AS (INSERT …) SELECT 1`). PostgreSQL runs every data-modifying CTE exactly once,
 * to completion, in one snapshot — so none sees another's rows, but foreign keys are checked at
 * the end of the statement and a row may reference one inserted beside it — and all commit or
 * none, in one round trip with no Begin or Commit call. The values stay parameters: never written
 * into the SQL text, where a failed statement's text would carry them into logs (the service's
 * and the database server's). `undefined` when the text is longer than one Data API call takes
 * (the caller runs the writes in a transaction instead).
 */
export function writesAsOne(writes: readonly ChainedWrite[]): SQL | undefined {
  const parts = writes.map((w, i) => (isSql(w) ? sql`${sql.raw(`w${i}`)} AS (${w})` : w.ctes(`w${i}_`)));
  const statement = sql`WITH ${sql.join(parts, sql`, `)} SELECT 1`;
  return inliningDialect.sqlToQuery(statement).sql.length <= MAX_STATEMENT_CHARS ? statement : undefined;
}

function isSql(w: ChainedWrite): w is SQL {
  return !("ctes" in w && typeof w.ctes === "function");
}

/** Runs a multi-statement script (DDL, a migration file) in one round trip; inside a transaction, pass the `tx`. */
export async function executeScript(db: Database, script: string): Promise<void> {
  if (splitStatements(script).length === 0) return;
  await db.execute(sql.raw(scriptAsStatement(script)));
}

/**
 * A value as a PostgreSQL literal: strings (and JSON for objects and arrays) as escape-string
 * constants (`E'…'`, which mean the same whatever `standard_conforming_strings` says), numbers
 * parenthesised (a negative one never makes `--`), dates as ISO text. For statements that cannot
 * take bind parameters: an anonymous code block (`DO`) has none.
 */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return `(${value})`;
  }
  if (typeof value === "bigint") return `(${value.toString()})`;
  const text =
    value instanceof Date ? value.toISOString() : typeof value === "string" ? value : JSON.stringify(value);
  // PostgreSQL text cannot hold NUL; refusing it here keeps the literal exactly the value.
  if (text.includes("\0")) throw new Error("a SQL literal cannot hold a NUL character");
  return `E'${text.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

const inliningDialect = new PgDialect();

/**
 * A query with its parameters written in as literals (`sqlLiteral`): the same statement as one
 * text, to run inside an anonymous code block. Only for SQL this code writes: its text holds no
 * `$n` of its own outside the parameters.
 */
export function inlineSql(query: SQL): string {
  const { sql: text, params } = inliningDialect.sqlToQuery(query);
  return text.replace(/\$(\d+)(?!\d)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) throw new Error(`no parameter $${n}`);
    return sqlLiteral(params[index]);
  });
}
