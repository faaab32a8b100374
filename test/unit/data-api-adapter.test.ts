/**
 * The RDS Data API adapter of test/support/data-api-adapter.ts, driven with raw SDK commands against a
 * fresh database on the local PostgreSQL server: parameters and type hints, the Data API's field
 * encoding (jsonb and timestamps as strings), errors, single statements, transactions, batches.
 */
import {
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type ExecuteStatementCommandOutput,
  type Field,
  RollbackTransactionCommand,
  type SqlParameter,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isTransientDatabaseError, sqlState } from "../../functions/shared/errors.ts";
import { createDataApiAdapter, type DataApiAdapter } from "../support/data-api-adapter.ts";
import { createFreshPgDatabase } from "../support/database.ts";

const TARGET = {
  resourceArn: "arn:aws:rds:eu-west-1:123456789012:cluster:local",
  secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:local",
};

let fresh: { url: string; drop: () => Promise<void> };
let adapter: DataApiAdapter;

async function run(
  sqlText: string,
  parameters: SqlParameter[] = [],
  extra: Partial<ExecuteStatementCommandInput> = {},
): Promise<ExecuteStatementCommandOutput> {
  return adapter.client.send(new ExecuteStatementCommand({ ...TARGET, sql: sqlText, parameters, ...extra }));
}

async function begin(on: DataApiAdapter = adapter): Promise<string> {
  const { transactionId } = await on.client.send(new BeginTransactionCommand({ ...TARGET }));
  return transactionId as string;
}

async function failure(promise: Promise<unknown>): Promise<Error & { $metadata?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the command to fail");
}

async function countItems(name: string, transactionId?: string): Promise<number> {
  const out = await run(
    "SELECT count(*) AS n FROM items WHERE name = :name",
    [{ name: "name", value: { stringValue: name } }],
    transactionId ? { transactionId } : {},
  );
  return out.records?.[0]?.[0]?.longValue as number;
}

const ID = "7b0c1f59-8a9c-4c1e-9d6e-0c5a4e2f1a10";

beforeAll(async () => {
  fresh = await createFreshPgDatabase();
  adapter = createDataApiAdapter(fresh.url);
  await run(`CREATE TABLE items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    n int4,
    big int8,
    price numeric(10, 2),
    ratio float8,
    active bool,
    data jsonb,
    at timestamp,
    at_tz timestamptz,
    day date,
    tags text[],
    blob bytea
  )`);
});

afterAll(async () => {
  await adapter?.close();
  await fresh?.drop();
});

describe("parameters", () => {
  it("binds named parameters with type hints and answers in the Data API's field encoding", async () => {
    // Prepare
    const parameters: SqlParameter[] = [
      { name: "id", value: { stringValue: ID }, typeHint: "UUID" },
      { name: "name", value: { stringValue: "hinted" } },
      { name: "n", value: { longValue: 42 } },
      { name: "big", value: { longValue: 9_007_199_254_740_991 } },
      { name: "price", value: { stringValue: "12.5" }, typeHint: "DECIMAL" },
      { name: "ratio", value: { doubleValue: 0.25 } },
      { name: "active", value: { booleanValue: true } },
      { name: "data", value: { stringValue: '{"plan":"pro","seats":3}' }, typeHint: "JSON" },
      { name: "at", value: { stringValue: "2024-01-02 03:04:05.123" }, typeHint: "TIMESTAMP" },
      { name: "at_tz", value: { stringValue: "2024-01-02 03:04:05.5" }, typeHint: "TIMESTAMP" },
      { name: "day", value: { stringValue: "2024-02-29" }, typeHint: "DATE" },
      { name: "blob", value: { blobValue: new Uint8Array([0, 1, 254, 255]) } },
    ];

    // Act
    const inserted = await run(
      `INSERT INTO items (id, name, n, big, price, ratio, active, data, at, at_tz, day, blob)
       VALUES (:id, :name, :n, :big, :price, :ratio, :active, :data, :at, :at_tz, :day, :blob)`,
      parameters,
    );
    const selected = await run(
      "SELECT id, name, n, big, price, ratio, active, data, at, at_tz, day, blob, tags FROM items WHERE id = :id",
      [{ name: "id", value: { stringValue: ID }, typeHint: "UUID" }],
      { includeResultMetadata: true },
    );

    // Assess
    expect(inserted.numberOfRecordsUpdated).toBe(1);
    expect(inserted.records).toBeUndefined();
    expect(selected.numberOfRecordsUpdated).toBe(0);
    const fields = selected.records?.[0] as Field[];
    expect(fields.slice(0, 11)).toEqual([
      { stringValue: ID },
      { stringValue: "hinted" },
      { longValue: 42 },
      { longValue: 9_007_199_254_740_991 },
      { stringValue: "12.50" },
      { doubleValue: 0.25 },
      { booleanValue: true },
      // The quirk: jsonb comes back as its text, not as an object.
      { stringValue: '{"plan": "pro", "seats": 3}' },
      // Timestamps: no "T", no zone; a naive value written into timestamptz is read as UTC.
      { stringValue: "2024-01-02 03:04:05.123" },
      { stringValue: "2024-01-02 03:04:05.5" },
      { stringValue: "2024-02-29" },
    ]);
    expect(Array.from(fields[11]?.blobValue ?? [])).toEqual([0, 1, 254, 255]);
    expect(fields[12]).toEqual({ isNull: true });
    expect(selected.columnMetadata?.map((c) => c.typeName)).toEqual([
      "uuid",
      "text",
      "int4",
      "int8",
      "numeric",
      "float8",
      "bool",
      "jsonb",
      "timestamp",
      "timestamptz",
      "date",
      "bytea",
      "_text",
    ]);
    expect(selected.columnMetadata?.[0]).toMatchObject({ name: "id", label: "id", nullable: 0, type: 1111 });
    expect(selected.columnMetadata?.[2]).toMatchObject({
      name: "n",
      type: 4,
      nullable: 1,
      tableName: "items",
    });
    expect(selected.columnMetadata?.[4]).toMatchObject({ precision: 10, scale: 2 });
  });

  it("sends an unhinted string as varchar, so comparing it with a uuid column fails as on Aurora", async () => {
    // Act
    const error = await failure(
      run("SELECT name FROM items WHERE id = :id", [{ name: "id", value: { stringValue: ID } }]),
    );
    const cast = await run("SELECT name FROM items WHERE id = CAST(:id AS uuid)", [
      { name: "id", value: { stringValue: ID } },
    ]);

    // Assess
    expect(error.name).toBe("DatabaseErrorException");
    expect(error.message).toContain("operator does not exist: uuid = character varying");
    expect(sqlState(error)).toBe("42883");
    expect(cast.records).toEqual([[{ stringValue: "hinted" }]]);
  });

  it("rewrites only real placeholders: casts, strings, dollar bodies, identifiers and comments stay", async () => {
    // Prepare
    const sqlText = `SELECT ':v' AS quoted, E'\\':v' AS escaped, $$ :v $$ AS dollar, $t$:v$t$ AS tagged,
      :v::text AS param, :v || :v AS twice, 1 AS ":v" -- :v
      /* :v */`;

    // Act
    const out = await run(sqlText, [{ name: "v", value: { stringValue: "X" } }], {
      includeResultMetadata: true,
    });

    // Assess
    expect(out.records?.[0]).toEqual([
      { stringValue: ":v" },
      { stringValue: "':v" },
      { stringValue: " :v " },
      { stringValue: ":v" },
      { stringValue: "X" },
      { stringValue: "XX" },
      { longValue: 1 },
    ]);
    expect(out.columnMetadata?.[6]?.name).toBe(":v");
  });

  it("binds drizzle's numbered placeholders (:1, :2) and a NULL parameter", async () => {
    // Act
    const out = await run("SELECT :1::int4 + :2 AS sum, :3::text AS missing", [
      { name: "1", value: { longValue: 40 } },
      { name: "2", value: { longValue: 2 } },
      { name: "3", value: { isNull: true } },
    ]);

    // Assess
    expect(out.records).toEqual([[{ longValue: 42 }, { isNull: true }]]);
  });

  it("rejects a TIMESTAMP-hinted string in ISO form with a 'T' and a zone", async () => {
    // Act
    const error = await failure(
      run("SELECT :at AS at", [
        { name: "at", value: { stringValue: "2024-01-02T03:04:05.123Z" }, typeHint: "TIMESTAMP" },
      ]),
    );

    // Assess
    expect(error.name).toBe("BadRequestException");
    expect(error.message).toContain("Timestamp format must be yyyy-mm-dd hh:mm:ss");
  });

  it("rejects array parameters", async () => {
    // Act
    const error = await failure(
      run("SELECT :a AS a", [{ name: "a", value: { arrayValue: { longValues: [1, 2] } } }]),
    );

    // Assess
    expect(error.name).toBe("BadRequestException");
    expect(error.message).toMatch(/Array parameters are not supported/);
  });
});

describe("results", () => {
  it("converts timestamptz to UTC without a zone, whatever the session's time zone", async () => {
    // Prepare
    const tx = await begin();
    await run("SET LOCAL TIME ZONE 'Asia/Kolkata'", [], { transactionId: tx });

    // Act
    const out = await run(
      "SELECT '2024-01-02 08:34:05.123456+05:30'::timestamptz AS tz, '2024-01-02 03:04:05'::timestamp AS naive, '10:11:12'::time AS t",
      [],
      { transactionId: tx },
    );
    await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: tx }));

    // Assess
    expect(out.records).toEqual([
      [
        { stringValue: "2024-01-02 03:04:05.123456" },
        { stringValue: "2024-01-02 03:04:05" },
        { stringValue: "10:11:12" },
      ],
    ]);
  });

  it("encodes NULLs, arrays and json scalars like the Data API", async () => {
    // Act
    const out = await run(
      `SELECT NULL::int4 AS a, NULL::jsonb AS b, ARRAY[1, 2]::int4[] AS ints, ARRAY['x', 'y z']::text[] AS texts,
              ARRAY[true, false] AS bools, '"s"'::jsonb AS scalar, 1.5::float4 AS f`,
    );

    // Assess
    expect(out.records).toEqual([
      [
        { isNull: true },
        { isNull: true },
        { arrayValue: { longValues: [1, 2] } },
        { arrayValue: { stringValues: ["x", "y z"] } },
        { arrayValue: { booleanValues: [true, false] } },
        { stringValue: '"s"' },
        { doubleValue: 1.5 },
      ],
    ]);
  });

  it("refuses multidimensional arrays in a result", async () => {
    // Act
    const error = await failure(run("SELECT ARRAY[[1, 2], [3, 4]] AS m"));

    // Assess
    expect(error.name).toBe("UnsupportedResultException");
  });

  it("answers formatRecordsAs JSON with formattedRecords, jsonb still a string", async () => {
    // Act
    const out = await run(
      `SELECT 7 AS n, 'a' AS s, '{"k": [1]}'::jsonb AS j, NULL::text AS z, true AS b`,
      [],
      { formatRecordsAs: "JSON" },
    );

    // Assess
    expect(out.records).toBeUndefined();
    expect(out.columnMetadata).toBeUndefined();
    expect(JSON.parse(out.formattedRecords as string)).toEqual([
      { n: 7, s: "a", j: '{"k": [1]}', z: null, b: true },
    ]);
  });

  it("reports the rows changed by an UPDATE and returns rows from RETURNING", async () => {
    // Prepare
    await run("INSERT INTO items (name, n) VALUES ('upd', 1), ('upd', 2)");

    // Act
    const out = await run("UPDATE items SET n = n + 10 WHERE name = :name RETURNING n", [
      { name: "name", value: { stringValue: "upd" } },
    ]);

    // Assess
    expect(out.numberOfRecordsUpdated).toBe(2);
    expect(out.records?.map((r) => r[0]?.longValue).sort()).toEqual([11, 12]);
  });
});

describe("errors", () => {
  it("reports a PostgreSQL error as a DatabaseErrorException with the SQLSTATE in the message only", async () => {
    // Act
    const error = await failure(run("SELECT 1 / 0 AS boom"));

    // Assess
    expect(error.name).toBe("DatabaseErrorException");
    expect(error.$metadata).toMatchObject({ httpStatusCode: 400 });
    expect(error.message).toBe("ERROR: division by zero; SQLState: 22012");
    expect((error as { code?: unknown }).code).toBeUndefined();
    expect(sqlState(error)).toBe("22012");
    expect(isTransientDatabaseError(error)).toBe(false);
  });

  it("includes the position and lets errors.ts classify a serialization failure as transient", async () => {
    // Act
    const syntax = await failure(run("SELEC 1"));
    const serialization = await failure(
      run("DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$"),
    );

    // Assess
    expect(syntax.message).toMatch(
      /^ERROR: syntax error at or near "SELEC"\n {2}Position: 1; SQLState: 42601$/,
    );
    expect(sqlState(serialization)).toBe("40001");
    expect(isTransientDatabaseError(serialization)).toBe(true);
  });

  it("rejects more than one statement and runs none of them", async () => {
    // Act
    const error = await failure(run("INSERT INTO items (name) VALUES ('multi'); DELETE FROM items"));
    const trailing = await run("SELECT ';' AS semi; -- one statement, a trailing semicolon and a comment");

    // Assess
    expect(error.name).toBe("BadRequestException");
    expect(error.message).toMatch(/Multistatement/);
    expect(await countItems("multi")).toBe(0);
    expect(trailing.records).toEqual([[{ stringValue: ";" }]]);
  });

  it("rejects an unknown transaction id on every transactional command", async () => {
    // Prepare
    const bogus = "bm90LWEtcmVhbC10cmFuc2FjdGlvbg==";

    // Act
    const onExecute = await failure(run("SELECT 1 AS one", [], { transactionId: bogus }));
    const onCommit = await failure(
      adapter.client.send(new CommitTransactionCommand({ ...TARGET, transactionId: bogus })),
    );
    const onRollback = await failure(
      adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: bogus })),
    );

    // Assess
    for (const error of [onExecute, onCommit, onRollback]) {
      expect(error.name).toBe("BadRequestException");
      expect(error.message).toBe(`Transaction ${bogus} is not found`);
    }
  });
});

describe("transactions", () => {
  it("rollback discards what the transaction wrote", async () => {
    // Prepare
    const tx = await begin();
    await run(
      "INSERT INTO items (name) VALUES (:name)",
      [{ name: "name", value: { stringValue: "rolled" } }],
      {
        transactionId: tx,
      },
    );
    const insideBefore = await countItems("rolled", tx);

    // Act
    const out = await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: tx }));

    // Assess
    expect(insideBefore).toBe(1);
    expect(out.transactionStatus).toBe("Rollback Complete");
    expect(await countItems("rolled")).toBe(0);
  });

  it("commit persists, and the finished transaction id is no longer known", async () => {
    // Prepare
    const tx = await begin();
    await run("INSERT INTO items (name) VALUES (:name)", [{ name: "name", value: { stringValue: "kept" } }], {
      transactionId: tx,
    });

    // Act
    const out = await adapter.client.send(new CommitTransactionCommand({ ...TARGET, transactionId: tx }));
    const reuse = await failure(run("SELECT 1 AS one", [], { transactionId: tx }));

    // Assess
    expect(out.transactionStatus).toBe("Transaction Committed");
    expect(await countItems("kept")).toBe(1);
    expect(reuse.message).toBe(`Transaction ${tx} is not found`);
  });

  it("keeps two open transactions isolated from each other and from autocommit statements", async () => {
    // Prepare
    const a = await begin();
    const b = await begin();

    // Act
    await run("INSERT INTO items (name) VALUES ('iso-a')", [], { transactionId: a });
    const seenByB = await countItems("iso-a", b);
    const seenOutside = await countItems("iso-a");
    const seenByA = await countItems("iso-a", a);
    await adapter.client.send(new CommitTransactionCommand({ ...TARGET, transactionId: a }));
    const seenByBAfterCommit = await countItems("iso-a", b);
    await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: b }));

    // Assess
    expect(a).not.toBe(b);
    expect([seenByA, seenByB, seenOutside, seenByBAfterCommit]).toEqual([1, 0, 0, 1]);
  });

  it("an error inside a transaction aborts it until rollback, as in PostgreSQL", async () => {
    // Prepare
    const tx = await begin();
    await failure(run("SELECT 1 / 0 AS boom", [], { transactionId: tx }));

    // Act
    const next = await failure(run("SELECT 1 AS one", [], { transactionId: tx }));
    await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: tx }));

    // Assess
    expect(sqlState(next)).toBe("25P02");
  });
});

describe("batches", () => {
  it("runs the statement once per parameter set and not at all without parameter sets", async () => {
    // Act
    const out = await adapter.client.send(
      new BatchExecuteStatementCommand({
        ...TARGET,
        sql: "INSERT INTO items (name, n) VALUES (:name, :n)",
        parameterSets: [1, 2, 3].map((n) => [
          { name: "name", value: { stringValue: "batch" } },
          { name: "n", value: { longValue: n } },
        ]),
      }),
    );
    const empty = await adapter.client.send(
      new BatchExecuteStatementCommand({ ...TARGET, sql: "INSERT INTO items (name) VALUES ('empty-batch')" }),
    );

    // Assess
    expect(out.updateResults).toHaveLength(3);
    expect(await countItems("batch")).toBe(3);
    expect(empty.updateResults).toEqual([]);
    expect(await countItems("empty-batch")).toBe(0);
  });

  it("writes nothing when one parameter set of a batch fails", async () => {
    // Act
    const error = await failure(
      adapter.client.send(
        new BatchExecuteStatementCommand({
          ...TARGET,
          sql: "INSERT INTO items (name) VALUES (:name)",
          parameterSets: [
            [{ name: "name", value: { stringValue: "half" } }],
            [{ name: "name", value: { isNull: true } }],
          ],
        }),
      ),
    );

    // Assess
    expect(sqlState(error)).toBe("23502");
    expect(await countItems("half")).toBe(0);
  });
});

describe("close", () => {
  it("rolls back open transactions, releases their locks and restores the client's send", async () => {
    // Prepare
    const other = createDataApiAdapter(fresh.url);
    const tx = await begin(other);
    await other.client.send(
      new ExecuteStatementCommand({
        ...TARGET,
        sql: "INSERT INTO items (id, name) VALUES (:id, 'closing')",
        parameters: [
          { name: "id", value: { stringValue: "00000000-0000-4000-8000-00000000c105" }, typeHint: "UUID" },
        ],
        transactionId: tx,
      }),
    );
    const mockedBefore = Object.hasOwn(other.client, "send");

    // Act
    await other.close();
    const check = await begin();
    await run("SET LOCAL lock_timeout = '2s'", [], { transactionId: check });
    const reinsert = await run(
      "INSERT INTO items (id, name) VALUES (:id, 'reinsert')",
      [{ name: "id", value: { stringValue: "00000000-0000-4000-8000-00000000c105" }, typeHint: "UUID" }],
      { transactionId: check },
    );
    await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: check }));

    // Assess
    expect(mockedBefore).toBe(true);
    expect(Object.hasOwn(other.client, "send")).toBe(false);
    expect(await countItems("closing")).toBe(0);
    expect(reinsert.numberOfRecordsUpdated).toBe(1);
  });
});
