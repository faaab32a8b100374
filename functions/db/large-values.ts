/**
 * Reading values larger than one RDS Data API row. The Data API refuses a result row over 64 KB
 * and a response over 1 MiB, so a large text or jsonb value (a template's initial data, a custom
 * spec, a long description in a backup) is read in byte-bounded pieces: its UTF-8 bytes, cut at
 * fixed offsets and sent as base64 (which no JSON escaping can inflate), several pieces per call.
 * The pieces are joined as bytes, so a cut through a multibyte character does no harm.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { numberValue, type RowReader, rowReader } from "./sql.ts";

/** Bytes of one piece: base64 makes it 43 KB, well inside a 64 KB row. */
export const PIECE_BYTES = 32 * 1024;
/** Pieces per call: 256 KB of value, about 350 KB of response, far below 1 MiB. */
export const PIECES_PER_CALL = 8;

/**
 * The value of `query` (one row, one text column named `v`; cast jsonb with `::text`), read in
 * pieces on `db` (or through a `RowReader`). `undefined` when the query has no row, `null` when the
 * value is NULL.
 */
export async function readLargeText(
  db: Database | RowReader,
  query: SQL,
): Promise<string | null | undefined> {
  const read: RowReader = typeof db === "function" ? db : rowReader(db);
  const span = PIECE_BYTES * PIECES_PER_CALL;
  const bytesOf = sql`SELECT convert_to(x.v, 'UTF8') AS b FROM (${query}) x`;
  // The size and the first span's pieces in one call: most values need no other.
  const first = await read<{ n: unknown; i: unknown; p: string | null }>(
    sql`SELECT octet_length(y.b) AS n, i, encode(substring(y.b FROM i FOR ${PIECE_BYTES}::int), 'base64') AS p
        FROM (${bytesOf}) y
        LEFT JOIN generate_series(1, ${span}::int, ${PIECE_BYTES}::int) AS i ON i <= octet_length(y.b)
        ORDER BY i`,
  );
  const [size] = first;
  if (!size) return undefined;
  if (size.n === null || size.n === undefined) return null;
  const total = numberValue(size.n);
  const parts: Buffer[] = first
    .filter((piece) => piece.i !== null)
    .map((piece) => Buffer.from(piece.p ?? "", "base64"));
  for (let from = 1 + span; from <= total; from += span) {
    const last = Math.min(total, from + span - 1);
    const pieces = await read<{ i: unknown; p: string | null }>(
      sql`SELECT i, encode(substring(y.b FROM i FOR ${PIECE_BYTES}::int), 'base64') AS p
          FROM (${bytesOf}) y,
               generate_series(${from}::int, ${last}::int, ${PIECE_BYTES}::int) AS i
          ORDER BY i`,
    );
    for (const piece of pieces) parts.push(Buffer.from(piece.p ?? "", "base64"));
  }
  const bytes = Buffer.concat(parts);
  // The value changed between the calls (a caller outside a transaction): never hand back a mix.
  if (bytes.length !== total)
    throw new Error(`a large value changed while it was read (${bytes.length} of ${total} bytes)`);
  return bytes.toString("utf8");
}

/** `readLargeText` of a jsonb value, parsed. */
export async function readLargeJson<T>(db: Database | RowReader, query: SQL): Promise<T | null | undefined> {
  const text = await readLargeText(db, query);
  return text === null || text === undefined ? text : (JSON.parse(text) as T);
}
