/**
 * Raw SQL helpers. Raw results differ by driver (the Data API returns jsonb and timestamps as
 * strings), so every raw query goes through `queryRows`, which hands back plain rows.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "./client.ts";

/** Runs a raw statement and returns its rows. */
export async function queryRows<T extends Record<string, unknown>>(db: Database, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows?: T[] } | T[];
  if (Array.isArray(result)) return result;
  return result.rows ?? [];
}

/** Runs a raw statement for its effect. */
export async function execute(db: Database, query: SQL | string): Promise<void> {
  await db.execute(typeof query === "string" ? sql.raw(query) : query);
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
