/**
 * The RDS Data API adapter of test/support/data-api-adapter.ts, driven with raw SDK commands against a
 * fresh database on the local PostgreSQL server: parameters and type hints, the Data API's field
 * encoding (jsonb and timestamps as strings), errors, single statements, transactions, batches; and
 * the Data API's limits (row, response, request and SQL sizes, the statement timeout, transaction
 * expiry, one call at a time per transaction), what an error does to its transaction, and the
 * fault hook. Each limit is shown to hold at AWS's value and to bite one unit above it.
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
import {
  AWS_DATA_API_LIMITS,
  createDataApiAdapter,
  type DataApiAdapter,
  REQUEST_HEADER_BYTES,
  requestBytes,
} from "../support/data-api-adapter.ts";
import { createFreshPgDatabase } from "../support/database.ts";
import { until } from "../support/wait.ts";

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

    // Assess: an id AWS does not know may have expired or never existed; it cannot tell which
    for (const error of [onExecute, onCommit, onRollback]) {
      expect(error.name).toBe("TransactionNotFoundException");
      expect(error.$metadata).toMatchObject({ httpStatusCode: 404 });
      expect(error.message).toBe(`Transaction ${bogus} is not found. Transaction may be expired.`);
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
    expect(reuse.name).toBe("TransactionNotFoundException");
    expect(reuse.message).toBe(
      `Transaction ${tx} is not found. One previous call resulted in a termination of your transaction.`,
    );
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

// ---------------------------------------------------------------------------------------------
// Limits: each one bites just above AWS's value and not at it
// ---------------------------------------------------------------------------------------------

async function runOn(
  on: DataApiAdapter,
  sqlText: string,
  parameters: SqlParameter[] = [],
  extra: Partial<ExecuteStatementCommandInput> = {},
): Promise<ExecuteStatementCommandOutput> {
  return on.client.send(new ExecuteStatementCommand({ ...TARGET, sql: sqlText, parameters, ...extra }));
}

/** A uuid of its own for each test that checks a row lock. */
const lockId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/**
 * Whether a row with this id can be written now: an INSERT from another transaction waits at most
 * `lockTimeout` for a transaction that still holds the id (then fails), and is rolled back either way.
 */
async function idIsFree(id: string, lockTimeout = "2s"): Promise<boolean> {
  const check = await begin();
  try {
    await run(`SET LOCAL lock_timeout = '${lockTimeout}'`, [], { transactionId: check });
    await run(
      "INSERT INTO items (id, name) VALUES (:id, 'probe')",
      [{ name: "id", value: { stringValue: id }, typeHint: "UUID" }],
      { transactionId: check },
    );
    return true;
  } catch {
    return false;
  } finally {
    await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: check }));
  }
}

/** The JSON body of a response as it travels (without the SDK's $metadata), in UTF-8 bytes. */
function bodyBytes(output: object): number {
  const { $metadata: _metadata, ...body } = output as { $metadata?: unknown };
  return Buffer.byteLength(JSON.stringify(body), "utf8");
}

describe("limits", () => {
  it("defaults to AWS's documented values", () => {
    // Assess
    expect(adapter.limits).toEqual(AWS_DATA_API_LIMITS);
    expect(AWS_DATA_API_LIMITS).toEqual({
      maxRowBytes: 65_536,
      maxResponseBytes: 1_048_576,
      maxRequestBytes: 4_194_304,
      maxSqlLength: 65_536,
      statementTimeoutMs: 45_000,
      transactionIdleTimeoutMs: 180_000,
      transactionMaxLifetimeMs: 86_400_000,
    });
  });

  it("answers a row of 64 KB, counted in UTF-8 bytes, and refuses one byte more", async () => {
    // Act: 'é' is two bytes, so 32,768 of them are 65,536 bytes in half as many characters
    const ascii = await run("SELECT repeat('x', 65536) AS v");
    const multibyte = await run("SELECT repeat('é', 32768) AS v");
    const twoColumns = await run("SELECT repeat('x', 32768) AS a, repeat('é', 16384) AS b");
    const bytes = await run("SELECT decode(repeat('ab', 65536), 'hex') AS v");
    const overAscii = await failure(run("SELECT repeat('x', 65537) AS v"));
    const overMultibyte = await failure(run("SELECT repeat('é', 32768) || 'x' AS v"));
    const overTwoColumns = await failure(run("SELECT repeat('x', 32769) AS a, repeat('é', 16384) AS b"));
    const overBytes = await failure(run("SELECT decode(repeat('ab', 65537), 'hex') AS v"));

    // Assess
    expect(ascii.records?.[0]?.[0]?.stringValue).toHaveLength(65_536);
    expect(multibyte.records?.[0]?.[0]?.stringValue).toHaveLength(32_768);
    expect(twoColumns.records?.[0]).toHaveLength(2);
    expect(bytes.records?.[0]?.[0]?.blobValue).toHaveLength(65_536);
    for (const error of [overAscii, overMultibyte, overTwoColumns, overBytes]) {
      expect(error.name).toBe("UnsupportedResultException");
      expect(error.$metadata).toMatchObject({ httpStatusCode: 400 });
      expect(error.message).toMatch(
        /^Packet for query is too large \(.*row 1 is 65537 bytes, the limit is 65536\)$/,
      );
    }
  });

  it("answers a response of exactly 1 MiB of JSON and refuses one byte more", async () => {
    // Prepare: 17 rows of at most 64 KB whose JSON body comes to 1,048,576 bytes exactly
    const limit = 1_048_576;
    const rows = 17;
    const empty = bodyBytes({
      numberOfRecordsUpdated: 0,
      records: Array.from({ length: rows }, () => [{ stringValue: "" }]),
    });
    const payload = limit - empty;
    const lengths = Array.from(
      { length: rows },
      (_, i) => Math.floor(payload / rows) + (i < payload % rows ? 1 : 0),
    );
    const query = (ls: number[]) =>
      `SELECT repeat('x', n) AS v FROM unnest(ARRAY[${ls.join(",")}]) WITH ORDINALITY AS t(n, i) ORDER BY i`;
    const over = [...lengths];
    over[0] = (over[0] as number) + 1;

    // Act
    const atLimit = await run(query(lengths));
    const error = await failure(run(query(over)));

    // Assess
    expect(Math.max(...lengths)).toBeLessThanOrEqual(65_536);
    expect(atLimit.records).toHaveLength(rows);
    expect(bodyBytes(atLimit)).toBe(limit);
    expect(error.name).toBe("UnsupportedResultException");
    expect(error.message).toMatch(
      /^Database response exceeded size limit \(.*1048577 bytes, the limit is 1048576\)$/,
    );
  });

  it("counts the response as JSON: formattedRecords pay for their escaping twice", async () => {
    // Act: 8 rows of 65,000 quotes are 1,040,000 bytes of records (each quote escaped once) ...
    const sqlText = "SELECT repeat('\"', 65000) AS v FROM generate_series(1, 8)";
    const records = await run(sqlText);
    // ... and over 2 MB as one JSON string, where each quote is escaped inside and then outside
    const formatted = await failure(run(sqlText, [], { formatRecordsAs: "JSON" }));

    // Assess
    expect(records.records).toHaveLength(8);
    expect(bodyBytes(records)).toBeLessThanOrEqual(1_048_576);
    expect(formatted.name).toBe("UnsupportedResultException");
    expect(formatted.message).toMatch(/^Database response exceeded size limit \(.* is 2080\d{3} bytes/);
  });

  it("takes a request of 4 MiB (JSON body and headers) and refuses one byte more, running nothing", async () => {
    // Prepare: the body of the request the SDK would send, plus the headers' allowance
    const limit = 4_194_304;
    const input = (value: string): ExecuteStatementCommandInput => ({
      ...TARGET,
      sql: "INSERT INTO items (name) SELECT 'request-' || length(:v)::text",
      parameters: [{ name: "v", value: { stringValue: value } }],
    });
    const overhead = Buffer.byteLength(JSON.stringify(input("")), "utf8") + REQUEST_HEADER_BYTES;
    const atLimit = "x".repeat(limit - overhead);

    // Act
    const ok = await adapter.client.send(new ExecuteStatementCommand(input(atLimit)));
    const error = await failure(adapter.client.send(new ExecuteStatementCommand(input(`${atLimit}x`))));

    // Assess
    expect(requestBytes(input(atLimit))).toBe(limit);
    expect(ok.numberOfRecordsUpdated).toBe(1);
    expect(error.name).toBe("BadRequestException");
    expect(error.message).toMatch(/Request size 4194305 bytes exceeds the Data API limit of 4194304 bytes/);
    expect(await countItems(`request-${limit - overhead}`)).toBe(1);
    expect(await countItems(`request-${limit - overhead + 1}`)).toBe(0);
  });

  it("counts every parameter set of a BatchExecuteStatement in its 4 MiB", async () => {
    // Prepare: 64 sets of about 64 KB each, the last one padded to reach the limit exactly
    const limit = 4_194_304;
    const sets = (last: string) =>
      Array.from({ length: 64 }, (_, i) => [
        { name: "name", value: { stringValue: "batch-4mib" } },
        { name: "pad", value: { stringValue: i === 63 ? last : "y".repeat(65_000) } },
      ]);
    const input = (last: string) => ({
      ...TARGET,
      sql: "INSERT INTO items (name, n) VALUES (:name, length(:pad))",
      parameterSets: sets(last),
    });
    const overhead = requestBytes(input(""));
    const last = "z".repeat(limit - overhead);

    // Act
    const over = await failure(adapter.client.send(new BatchExecuteStatementCommand(input(`${last}z`))));
    const afterRefusal = await countItems("batch-4mib");
    const ok = await adapter.client.send(new BatchExecuteStatementCommand(input(last)));

    // Assess
    expect(requestBytes(input(last))).toBe(limit);
    expect(over.name).toBe("BadRequestException");
    expect(afterRefusal).toBe(0);
    expect(ok.updateResults).toHaveLength(64);
    expect(await countItems("batch-4mib")).toBe(64);
  });

  it("takes 65,536 characters of SQL (not bytes) and refuses one more", async () => {
    // Prepare: a comment pads the statement; 'é' shows that characters count, not UTF-8 bytes
    const head = "SELECT 1 AS one -- ";
    const atLimit = head + "é".repeat(65_536 - head.length);

    // Act
    const ok = await run(atLimit);
    const error = await failure(run(`${atLimit}é`));

    // Assess
    expect(Buffer.byteLength(atLimit, "utf8")).toBeGreaterThan(65_536);
    expect(ok.records).toEqual([[{ longValue: 1 }]]);
    expect(error.name).toBe("BadRequestException");
    expect(error.message).toMatch(/Member must have length less than or equal to 65536/);
  });
});

describe("statement timeout", () => {
  let slow: DataApiAdapter;

  beforeAll(() => {
    // 45 s scaled down: the rule is the same, the tests do not wait.
    slow = createDataApiAdapter(fresh.url, { limits: { statementTimeoutMs: 300 } });
  });

  afterAll(async () => {
    await slow?.close();
  });

  it("answers a statement that ends within the timeout", async () => {
    // Act
    const out = await runOn(slow, "SELECT pg_sleep(0.05)::text AS slept");

    // Assess
    expect(out.records).toEqual([[{ stringValue: "" }]]);
  });

  it("cancels a statement that runs longer: StatementTimeoutException, nothing written", async () => {
    // Act
    const started = Date.now();
    const error = await failure(
      runOn(slow, "INSERT INTO items (name) SELECT 'timed-out' FROM pg_sleep(1.5)"),
    );
    const waited = Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    // Assess
    expect(error.name).toBe("StatementTimeoutException");
    expect(error.message).toBe("Request timed out");
    expect((error as { dbConnectionId?: unknown }).dbConnectionId).toEqual(expect.any(Number));
    expect(waited).toBeLessThan(1_400);
    expect(await countItems("timed-out")).toBe(0);
  });

  it("with continueAfterTimeout the call still fails but the statement goes on and commits", async () => {
    // Act
    const error = await failure(
      runOn(slow, "INSERT INTO items (name) SELECT 'continued' FROM pg_sleep(0.8)", [], {
        continueAfterTimeout: true,
      }),
    );
    const rightAfter = await countItems("continued");
    await until(
      "the continued statement to commit",
      () => countItems("continued"),
      (n) => n === 1,
    );

    // Assess
    expect(error.name).toBe("StatementTimeoutException");
    expect(rightAfter).toBe(0);
  });

  it("ends the transaction it timed out in: rolled back, its id answers 'aborted'", async () => {
    // Prepare
    const tx = await begin(slow);
    await runOn(
      slow,
      "INSERT INTO items (id, name) VALUES (:id, 'in-timed-out-tx')",
      [{ name: "id", value: { stringValue: lockId(1) }, typeHint: "UUID" }],
      { transactionId: tx },
    );

    // Act
    const timeout = await failure(runOn(slow, "SELECT pg_sleep(1.5)", [], { transactionId: tx }));
    const next = await failure(runOn(slow, "SELECT 1 AS one", [], { transactionId: tx }));

    // Assess
    expect(timeout.name).toBe("StatementTimeoutException");
    expect(next.name).toBe("TransactionNotFoundException");
    expect(next.message).toBe(
      `Transaction ${tx} is not found. Transaction has been aborted due to an error from a previous call.`,
    );
    expect(await idIsFree(lockId(1))).toBe(true);
    expect(await countItems("in-timed-out-tx")).toBe(0);
  });

  it("with continueAfterTimeout in a transaction, the transaction is busy until the statement ends", async () => {
    // Prepare
    const tx = await begin(slow);

    // Act
    const timeout = await failure(
      runOn(slow, "INSERT INTO items (name) SELECT 'continued-in-tx' FROM pg_sleep(0.8)", [], {
        transactionId: tx,
        continueAfterTimeout: true,
      }),
    );
    const meanwhile = await failure(runOn(slow, "SELECT 1 AS one", [], { transactionId: tx }));
    const inside = await until(
      "the statement left running to end",
      () =>
        runOn(slow, "SELECT count(*) AS n FROM items WHERE name = 'continued-in-tx'", [], {
          transactionId: tx,
        }).catch((error: Error) => error),
      (out) => !(out instanceof Error && out.message === "Transaction is still running a query"),
    );
    await slow.client.send(new CommitTransactionCommand({ ...TARGET, transactionId: tx }));

    // Assess
    expect(timeout.name).toBe("StatementTimeoutException");
    expect(meanwhile.name).toBe("DatabaseErrorException");
    expect(meanwhile.message).toBe("Transaction is still running a query");
    expect(inside instanceof Error ? inside.message : inside.records).toEqual([[{ longValue: 1 }]]);
    expect(await countItems("continued-in-tx")).toBe(1);
  });
});

describe("transaction expiry", () => {
  it("keeps a transaction 3 minutes after its last call and rolls it back one millisecond later", async () => {
    // Prepare: a clock the test moves
    let now = Date.parse("2025-01-01T00:00:00Z");
    const timed = createDataApiAdapter(fresh.url, { now: () => now });
    try {
      const tx = await begin(timed);
      await runOn(
        timed,
        "INSERT INTO items (id, name) VALUES (:id, 'idle-tx')",
        [{ name: "id", value: { stringValue: lockId(2) }, typeHint: "UUID" }],
        { transactionId: tx },
      );

      // Act
      now += 180_000;
      const atLimit = await runOn(timed, "SELECT count(*) AS n FROM items WHERE name = 'idle-tx'", [], {
        transactionId: tx,
      });
      now += 180_001;
      const expired = await failure(runOn(timed, "SELECT 1 AS one", [], { transactionId: tx }));
      const commit = await failure(
        timed.client.send(new CommitTransactionCommand({ ...TARGET, transactionId: tx })),
      );

      // Assess
      expect(atLimit.records).toEqual([[{ longValue: 1 }]]);
      expect(expired.name).toBe("TransactionNotFoundException");
      expect(expired.message).toBe(`Transaction ${tx} is not found. Transaction may be expired.`);
      expect(commit.name).toBe("TransactionNotFoundException");
      expect(await idIsFree(lockId(2))).toBe(true);
      expect(await countItems("idle-tx")).toBe(0);
    } finally {
      await timed.close();
    }
  });

  it("ends a transaction 24 hours after it began, however busy", async () => {
    // Prepare: idle expiry out of the way, so only the lifetime counts
    let now = Date.parse("2025-01-01T00:00:00Z");
    const timed = createDataApiAdapter(fresh.url, {
      now: () => now,
      limits: { transactionIdleTimeoutMs: 2 * 86_400_000 },
    });
    try {
      const tx = await begin(timed);

      // Act
      now += 86_400_000;
      const atLimit = await runOn(timed, "SELECT 1 AS one", [], { transactionId: tx });
      now += 1;
      const expired = await failure(runOn(timed, "SELECT 1 AS one", [], { transactionId: tx }));

      // Assess
      expect(atLimit.records).toEqual([[{ longValue: 1 }]]);
      expect(expired.message).toBe(`Transaction ${tx} is not found. Transaction may be expired.`);
    } finally {
      await timed.close();
    }
  });

  it("rolls an idle transaction back by itself, releasing its locks though no call comes", async () => {
    // Prepare: a short idle timeout on the real clock (the sweep runs every quarter of it)
    const timed = createDataApiAdapter(fresh.url, { limits: { transactionIdleTimeoutMs: 1_000 } });
    try {
      const tx = await begin(timed);
      await runOn(
        timed,
        "INSERT INTO items (id, name) VALUES (:id, 'swept')",
        [{ name: "id", value: { stringValue: lockId(3) }, typeHint: "UUID" }],
        { transactionId: tx },
      );
      const heldBefore = !(await idIsFree(lockId(3), "100ms"));

      // Act
      const freed = await until(
        "the idle transaction to be rolled back",
        () => idIsFree(lockId(3), "100ms"),
        (free) => free,
        10_000,
      );

      // Assess
      expect(heldBefore).toBe(true);
      expect(freed).toBe(true);
      const gone = await failure(runOn(timed, "SELECT 1 AS one", [], { transactionId: tx }));
      expect(gone.message).toBe(`Transaction ${tx} is not found. Transaction may be expired.`);
    } finally {
      await timed.close();
    }
  });
});

describe("one call at a time per transaction", () => {
  it("refuses a second concurrent call at once, and takes the next one after the first ended", async () => {
    // Prepare
    const tx = await begin();

    // Act
    const first = run("SELECT pg_sleep(0.3)::text AS slept", [], { transactionId: tx });
    const second = await failure(run("SELECT 1 AS one", [], { transactionId: tx }));
    const firstOut = await first;
    const third = await run("SELECT 1 AS one", [], { transactionId: tx });
    await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: tx }));

    // Assess
    expect(second.name).toBe("DatabaseErrorException");
    expect(second.message).toBe("Transaction is still running a query");
    expect(firstOut.records).toEqual([[{ stringValue: "" }]]);
    expect(third.records).toEqual([[{ longValue: 1 }]]);
  });
});

describe("what an error does to its transaction", () => {
  it("a result the Data API refuses ends the transaction: rollback then finds no transaction", async () => {
    // Prepare
    const tx = await begin();
    await run(
      "INSERT INTO items (id, name) VALUES (:id, 'before-too-large')",
      [{ name: "id", value: { stringValue: lockId(4) }, typeHint: "UUID" }],
      { transactionId: tx },
    );

    // Act
    const tooLarge = await failure(run("SELECT repeat('x', 70000) AS v", [], { transactionId: tx }));
    const rollback = await failure(
      adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: tx })),
    );

    // Assess
    expect(tooLarge.name).toBe("UnsupportedResultException");
    expect(rollback.name).toBe("TransactionNotFoundException");
    expect(rollback.message).toBe(
      `Transaction ${tx} is not found. Transaction has been aborted due to an error from a previous call.`,
    );
    expect(await idIsFree(lockId(4))).toBe(true);
  });

  it("a request refused before it reaches the database leaves the transaction as it was", async () => {
    // Prepare
    const tx = await begin();
    await run("INSERT INTO items (name) VALUES ('kept-after-refusal')", [], { transactionId: tx });

    // Act
    const multi = await failure(run("SELECT 1; SELECT 2", [], { transactionId: tx }));
    const badParam = await failure(
      run("SELECT :a AS a", [{ name: "a", value: { arrayValue: { longValues: [1] } } }], {
        transactionId: tx,
      }),
    );
    await adapter.client.send(new CommitTransactionCommand({ ...TARGET, transactionId: tx }));

    // Assess
    expect(multi.name).toBe("BadRequestException");
    expect(badParam.name).toBe("BadRequestException");
    expect(await countItems("kept-after-refusal")).toBe(1);
  });
});

describe("faults", () => {
  it("fails the next N matching calls with DatabaseResumingException before they reach the database", async () => {
    // Prepare
    const fault = adapter.faults.inject({
      error: "DatabaseResumingException",
      command: "ExecuteStatement",
      sql: /INSERT INTO items/,
      times: 2,
    });
    const insert = () => run("INSERT INTO items (name) VALUES ('after-resume')");

    // Act
    const first = await failure(insert());
    const unrelated = await run("SELECT 1 AS one");
    const second = await failure(insert());
    const third = await insert();

    // Assess
    for (const error of [first, second]) {
      expect(error.name).toBe("DatabaseResumingException");
      expect(error.$metadata).toMatchObject({ httpStatusCode: 400 });
      expect(error.message).toMatch(
        /is resuming after being auto-paused\. Please wait a few seconds and try again\./,
      );
      expect(isTransientDatabaseError(error)).toBe(true);
    }
    expect(unrelated.records).toEqual([[{ longValue: 1 }]]);
    expect(third.numberOfRecordsUpdated).toBe(1);
    expect(fault.hits).toBe(2);
    expect(await countItems("after-resume")).toBe(1);
  });

  it.each([
    ["DatabaseUnavailableException", 504],
    ["InternalServerErrorException", 500],
    ["ServiceUnavailableError", 503],
  ] as const)("answers %s as a server fault with HTTP %i", async (name, status) => {
    // Prepare
    adapter.faults.inject({ error: name, command: "BeginTransaction" });

    // Act
    const error = await failure(begin());
    const afterwards = await begin();
    await adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: afterwards }));

    // Assess
    expect(error.name).toBe(name);
    expect((error as { $fault?: unknown }).$fault).toBe("server");
    expect(error.$metadata).toMatchObject({ httpStatusCode: status });
    expect(afterwards).toEqual(expect.any(String));
  });

  it("a fault on a call in a transaction ends the transaction, as a failover does", async () => {
    // Prepare
    const tx = await begin();
    await run(
      "INSERT INTO items (id, name) VALUES (:id, 'before-failover')",
      [{ name: "id", value: { stringValue: lockId(5) }, typeHint: "UUID" }],
      { transactionId: tx },
    );
    adapter.faults.inject({
      error: "DatabaseUnavailableException",
      when: (call) => call.transactionId === tx,
    });

    // Act
    const failover = await failure(run("SELECT 1 AS one", [], { transactionId: tx }));
    const rollback = await failure(
      adapter.client.send(new RollbackTransactionCommand({ ...TARGET, transactionId: tx })),
    );

    // Assess
    expect(failover.name).toBe("DatabaseUnavailableException");
    expect(rollback.message).toMatch(/Transaction has been aborted due to an error from a previous call\.$/);
    expect(await idIsFree(lockId(5))).toBe(true);
    expect(await countItems("before-failover")).toBe(0);
  });

  it("stops failing once removed, and clear() removes every fault", async () => {
    // Prepare
    const fault = adapter.faults.inject({
      error: "ServiceUnavailableError",
      sql: /removed-fault/,
      times: Infinity,
    });
    adapter.faults.inject({ error: "ServiceUnavailableError", sql: /cleared-fault/, times: Infinity });

    // Act
    const before = await failure(run("SELECT 'removed-fault' AS v"));
    fault.remove();
    const after = await run("SELECT 'removed-fault' AS v");
    adapter.faults.clear();
    const cleared = await run("SELECT 'cleared-fault' AS v");

    // Assess
    expect(before.name).toBe("ServiceUnavailableError");
    expect(after.records).toEqual([[{ stringValue: "removed-fault" }]]);
    expect(cleared.records).toEqual([[{ stringValue: "cleared-fault" }]]);
    expect(fault.hits).toBe(1);
  });
});
