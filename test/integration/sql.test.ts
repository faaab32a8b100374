/**
 * Raw SQL helpers (functions/db/sql.ts) on whatever TEST_DATABASE says: `executeScript` runs a
 * multi-statement script as ONE statement — the RDS Data API takes one statement per call — inside
 * the caller's transaction.
 */
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  executeScript,
  queryRows,
  scriptAsStatement,
  splitStatements,
  writesAsOne,
} from "../../functions/db/sql.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;

beforeAll(async () => {
  t = await openTestDatabase({ migrate: false });
});

afterAll(async () => {
  await t?.destroy();
});

describe("executeScript", () => {
  it("runs a script with a function body, comments and a trailing comment inside a transaction", async () => {
    // Prepare
    const script = `
      CREATE TABLE script_a (id INT PRIMARY KEY); -- first; still a comment
      CREATE FUNCTION script_double(x INT) RETURNS INT LANGUAGE plpgsql AS $$
        BEGIN RETURN x * 2; END;
      $$;
      /* a block; comment */
      INSERT INTO script_a VALUES (script_double(21));
      -- the end; no statement after this`;

    // Act
    await t.db.transaction(async (tx) => executeScript(tx, script));
    const rows = await queryRows<{ id: number }>(t.db, sql`SELECT id FROM script_a`);

    // Assess
    expect(rows.map((r) => Number(r.id))).toEqual([42]);
  });

  it("rolls the whole script back with the transaction when a statement in it fails", async () => {
    // Prepare
    const script = `CREATE TABLE script_b (id INT PRIMARY KEY);
      INSERT INTO script_b VALUES (1);
      INSERT INTO script_b VALUES (1);`;

    // Act
    const error = await t.db
      .transaction(async (tx) => executeScript(tx, script))
      .then(
        () => null,
        (e: unknown) => e,
      );
    const left = await queryRows<{ n: string | null }>(t.db, sql`SELECT to_regclass('script_b')::text AS n`);

    // Assess
    expect(error).not.toBeNull();
    expect(left[0]?.n ?? null).toBeNull();
  });

  it("runs statements that return rows and statements quoting $s$, as one statement", async () => {
    // Prepare: a bare SELECT (a function body would reject one without a destination) and text
    // holding the dollar-quote tag the script wrapper would otherwise use
    const script = `CREATE TABLE script_c (v TEXT);
      INSERT INTO script_c VALUES ('$s$ and $ss$');
      SELECT count(*) FROM script_c;
      INSERT INTO script_c SELECT v || '!' FROM script_c;`;

    // Act
    await t.db.transaction(async (tx) => executeScript(tx, script));
    const rows = await queryRows<{ v: string }>(t.db, sql`SELECT v FROM script_c ORDER BY v`);

    // Assess
    expect(splitStatements(scriptAsStatement(script))).toHaveLength(1);
    expect(rows.map((r) => r.v)).toEqual(["$s$ and $ss$", "$s$ and $ss$!"]);
  });
});

describe("writesAsOne", () => {
  it("runs writes as one statement that references rows inserted beside it, values kept as parameters", async () => {
    // Prepare
    await executeScript(
      t.db,
      `CREATE TABLE chain_parent (id INT PRIMARY KEY, name TEXT NOT NULL);
       CREATE TABLE chain_child (id INT PRIMARY KEY, parent_id INT NOT NULL REFERENCES chain_parent(id), note TEXT)`,
    );
    const secret = "O'Brien <personal@example.org>";
    const one = writesAsOne([
      sql`INSERT INTO chain_parent (id, name) VALUES (${1}, ${secret})`,
      {
        ctes: (
          p,
        ) => sql`${sql.raw(`${p}a`)} AS (INSERT INTO chain_child VALUES (${10}, ${1}, ${"a"}) RETURNING id),
          ${sql.raw(`${p}b`)} AS (INSERT INTO chain_child SELECT id + 1, ${1}, ${"b"} FROM ${sql.raw(`${p}a`)})`,
      },
    ]);

    // Act
    await t.db.execute(one!);
    const rows = await queryRows<{ id: number; parent: string }>(
      t.db,
      sql`SELECT c.id, p.name AS parent FROM chain_child c JOIN chain_parent p ON p.id = c.parent_id ORDER BY c.id`,
    );

    // Assess
    expect(rows.map((r) => [Number(r.id), r.parent])).toEqual([
      [10, secret],
      [11, secret],
    ]);
    expect(new PgDialect().sqlToQuery(one!).sql).not.toContain("personal@example.org");
  });

  it("writes nothing when one of the writes fails", async () => {
    // Prepare
    await t.db.execute(sql.raw("CREATE TABLE chain_only (id INT PRIMARY KEY)"));
    await t.db.execute(sql`INSERT INTO chain_only VALUES (${1})`);

    // Act
    const error = await t.db
      .execute(
        writesAsOne([sql`INSERT INTO chain_only VALUES (${2})`, sql`INSERT INTO chain_only VALUES (${1})`])!,
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    const rows = await queryRows<{ id: number }>(t.db, sql`SELECT id FROM chain_only ORDER BY id`);

    // Assess
    expect(error).not.toBeNull();
    expect(rows.map((r) => Number(r.id))).toEqual([1]);
  });

  it("answers undefined for writes longer than one Data API call's SQL text", () => {
    const long = sql.raw(`INSERT INTO chain_only VALUES (1) -- ${"x".repeat(70_000)}\n`);
    expect(writesAsOne([long])).toBeUndefined();
  });
});
