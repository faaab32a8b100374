/**
 * An RDS Data API stand-in for tests: a real `RDSDataClient` whose `send` is mocked (per instance,
 * with aws-sdk-client-mock) so that every Data API command runs on a local PostgreSQL database and
 * is answered in the Data API's own response shape, quirks included:
 *
 * - named parameters (`:name`, drizzle sends `:1`, `:2`, ...) become `$n`; `::casts`, quoted
 *   strings and identifiers, dollar-quoted bodies and comments are left alone;
 * - parameters are typed the way the Data API types them (it binds through JDBC with the default
 *   `stringtype=VARCHAR`): `stringValue` is `varchar` unless a `typeHint` says JSON/UUID/TIMESTAMP/
 *   DATE/TIME/DECIMAL, `longValue` is `int8`, `doubleValue` `float8`, `booleanValue` `bool`,
 *   `blobValue` `bytea`, `isNull` untyped. So `uuid_column = :id` without a UUID hint fails with
 *   "operator does not exist: uuid = character varying", exactly as on Aurora. TIMESTAMP/DATE/TIME
 *   hinted strings must be in the Data API's formats (`YYYY-MM-DD HH:MM:SS[.FFF]`, no `T`, no zone);
 *   array parameters are rejected;
 * - one statement per `ExecuteStatement` (a second statement is a `BadRequestException`);
 * - PostgreSQL errors become a `DatabaseErrorException` whose message carries the SQLSTATE only as
 *   text (`ERROR: ...\n  Position: 8; SQLState: 42601`), with no `code` property;
 * - result fields: ints are `longValue`, float4/float8 `doubleValue`, numeric a `stringValue`, bool
 *   `booleanValue`, bytea `blobValue`, arrays `arrayValue` (multidimensional arrays are an
 *   `UnsupportedResultException`), NULL `{ isNull: true }`, and everything else - json/jsonb
 *   included - the text as `stringValue`. Timestamps are `2024-01-02 03:04:05.123` (no `T`, no
 *   zone; timestamptz converted to UTC), sessions run in UTC like Aurora's default;
 * - `records` only for statements that return rows, `columnMetadata` only with
 *   `includeResultMetadata`, `formatRecordsAs: "JSON"` gives `formattedRecords` instead of `records`,
 *   `numberOfRecordsUpdated` is 0 for SELECT; results over 1 MiB are refused;
 * - `BatchExecuteStatement` runs once per parameter set (and not at all without parameter sets);
 * - transactions: `BeginTransaction` pins a connection under a random id; unknown or finished ids
 *   are a `BadRequestException` "Transaction <id> is not found".
 */
import { randomBytes } from "node:crypto";
import {
  type ArrayValue,
  BadRequestException,
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  type BatchExecuteStatementCommandOutput,
  BeginTransactionCommand,
  type BeginTransactionCommandInput,
  type BeginTransactionCommandOutput,
  type ColumnMetadata,
  CommitTransactionCommand,
  type CommitTransactionCommandInput,
  type CommitTransactionCommandOutput,
  DatabaseErrorException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type ExecuteStatementCommandOutput,
  type Field,
  InternalServerErrorException,
  RDSDataClient,
  RollbackTransactionCommand,
  type RollbackTransactionCommandInput,
  type RollbackTransactionCommandOutput,
  type SqlParameter,
  UnsupportedResultException,
} from "@aws-sdk/client-rds-data";
import { mockClient } from "aws-sdk-client-mock";
import pg from "pg";

export interface DataApiAdapter {
  /** A real RDSDataClient whose `send` is answered by the local PostgreSQL server. */
  readonly client: RDSDataClient;
  /** Ends the pools and open transactions and restores the client's `send`. */
  close(): Promise<void>;
}

/** The Data API refuses result sets larger than this. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Session settings of an Aurora PostgreSQL cluster reached through the Data API. */
const SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres";

/** pg hands every column back as the server's text; formatting is ours. */
const RAW_TEXT: pg.CustomTypesConfig = {
  getTypeParser: (() => (value: string) => value) as unknown as pg.CustomTypesConfig["getTypeParser"],
};

interface PgType {
  readonly name: string;
  /** For arrays: the element type's oid; 0 otherwise. */
  readonly elem: number;
  readonly category: string;
}

interface OpenTransaction {
  readonly client: pg.PoolClient;
  /** Serialises statements sent to one transaction concurrently. */
  queue: Promise<unknown>;
}

interface StatementResult {
  readonly command: string;
  readonly rowCount: number;
  readonly fields: readonly pg.FieldDef[];
  readonly rows: readonly (readonly (string | null)[])[];
}

type Queryable = pg.Pool | pg.PoolClient;

type ResponseMetadata = ExecuteStatementCommandOutput["$metadata"];

function metadata(status = 200): ResponseMetadata {
  return {
    httpStatusCode: status,
    requestId: randomBytes(16).toString("hex"),
    attempts: 1,
    totalRetryDelay: 0,
  };
}

function badRequest(message: string): BadRequestException {
  return new BadRequestException({ message, $metadata: metadata(400) });
}

/** Creates an RDSDataClient answered by the PostgreSQL database at `pgUrl`. */
export function createDataApiAdapter(pgUrl: string): DataApiAdapter {
  const client = new RDSDataClient({
    region: "eu-west-1",
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
  const mock = mockClient(client);
  const defaultDatabase = decodeURIComponent(new URL(pgUrl).pathname.slice(1));
  const pools = new Map<string, pg.Pool>();
  const typeCaches = new Map<string, Map<number, PgType>>();
  const transactions = new Map<string, OpenTransaction>();
  let closed = false;

  function poolFor(database: string | undefined): pg.Pool {
    if (closed) throw badRequest("the Data API adapter is closed");
    const name = database && database.length > 0 ? database : defaultDatabase;
    let pool = pools.get(name);
    if (!pool) {
      const url = new URL(pgUrl);
      url.pathname = `/${encodeURIComponent(name)}`;
      pool = new pg.Pool({ connectionString: url.toString(), max: 10, options: SESSION_OPTIONS });
      // An idle connection that drops must not crash the test process.
      pool.on("error", () => {});
      pools.set(name, pool);
    }
    return pool;
  }

  function transaction(id: string | undefined): OpenTransaction | undefined {
    if (id === undefined || id === "") return undefined;
    const tx = transactions.get(id);
    if (!tx) throw badRequest(`Transaction ${id} is not found`);
    return tx;
  }

  /** Runs `fn` on the transaction's connection (one at a time) or on a pool connection. */
  async function withConnection<T>(
    input: { database?: string | undefined; transactionId?: string | undefined },
    fn: (conn: Queryable) => Promise<T>,
  ): Promise<T> {
    const tx = transaction(input.transactionId);
    if (!tx) return fn(poolFor(input.database));
    const run = tx.queue.then(
      () => fn(tx.client),
      () => fn(tx.client),
    );
    tx.queue = run.catch(() => {});
    return run;
  }

  async function typesFor(
    conn: Queryable,
    database: string,
    oids: Iterable<number>,
  ): Promise<Map<number, PgType>> {
    let cache = typeCaches.get(database);
    if (!cache) {
      cache = new Map();
      typeCaches.set(database, cache);
    }
    const missing = [...new Set(oids)].filter((oid) => !cache.has(oid));
    if (missing.length > 0) {
      const { rows } = await conn.query<{
        oid: number;
        typname: string;
        typelem: number;
        typcategory: string;
      }>(
        "SELECT oid::int AS oid, typname, typelem::int AS typelem, typcategory FROM pg_type WHERE oid = ANY($1::oid[]) OR oid IN (SELECT typelem FROM pg_type WHERE oid = ANY($1::oid[]))",
        [missing],
      );
      for (const r of rows) cache.set(r.oid, { name: r.typname, elem: r.typelem, category: r.typcategory });
    }
    return cache;
  }

  async function execute(
    conn: Queryable,
    sqlText: string,
    parameters: readonly SqlParameter[] | undefined,
  ): Promise<StatementResult> {
    const { text, values } = prepareStatement(sqlText, parameters ?? []);
    try {
      const result = await conn.query({ text, values, rowMode: "array", types: RAW_TEXT });
      return {
        command: result.command,
        rowCount: result.rowCount ?? 0,
        fields: result.fields ?? [],
        rows: result.rows as (string | null)[][],
      };
    } catch (error) {
      throw toDataApiError(error);
    }
  }

  async function handleExecute(input: ExecuteStatementCommandInput): Promise<ExecuteStatementCommandOutput> {
    requireTarget(input);
    if (typeof input.sql !== "string" || input.sql.trim() === "") throw badRequest("SQL statement is empty");
    const database = input.database || defaultDatabase;
    return withConnection(input, async (conn) => {
      const result = await execute(conn, input.sql as string, input.parameters);
      const output: ExecuteStatementCommandOutput = {
        $metadata: metadata(),
        numberOfRecordsUpdated: isRowCountCommand(result.command) ? result.rowCount : 0,
      };
      if (isRowCountCommand(result.command)) output.generatedFields = [];
      if (result.fields.length === 0) return output;
      const types = await typesFor(
        conn,
        database,
        result.fields.map((f) => f.dataTypeID),
      );
      const options = {
        decimalAsNumber: input.resultSetOptions?.decimalReturnType === "DOUBLE_OR_LONG",
        longAsString: input.resultSetOptions?.longReturnType === "STRING",
      };
      const records = result.rows.map((row) =>
        row.map((raw, i) =>
          toField(raw, typeOf(types, (result.fields[i] as pg.FieldDef).dataTypeID), types, options),
        ),
      );
      if (input.formatRecordsAs === "JSON") {
        const formatted = JSON.stringify(
          records.map((fields) =>
            Object.fromEntries(
              fields.map((f, i) => [(result.fields[i] as pg.FieldDef).name, fieldToJson(f)]),
            ),
          ),
        );
        if (formatted.length > MAX_RESPONSE_BYTES) throw tooLarge();
        output.formattedRecords = formatted;
      } else {
        if (approximateSize(records) > MAX_RESPONSE_BYTES) throw tooLarge();
        output.records = records;
      }
      if (input.includeResultMetadata) {
        output.columnMetadata = await columnMetadata(conn, result.fields, types);
      }
      return output;
    });
  }

  async function handleBatch(
    input: BatchExecuteStatementCommandInput,
  ): Promise<BatchExecuteStatementCommandOutput> {
    requireTarget(input);
    if (typeof input.sql !== "string" || input.sql.trim() === "") throw badRequest("SQL statement is empty");
    const sets = input.parameterSets ?? [];
    // The Data API does not run a batch that has no parameter sets.
    if (sets.length === 0) return { $metadata: metadata(), updateResults: [] };
    const runAll = async (conn: Queryable) => {
      const updateResults = [];
      for (const set of sets) {
        const result = await execute(conn, input.sql as string, set);
        const first = result.rows[0];
        updateResults.push({
          generatedFields: first
            ? first.map((raw) => (raw === null ? { isNull: true } : { stringValue: raw }))
            : [],
        });
      }
      return { $metadata: metadata(), updateResults } as BatchExecuteStatementCommandOutput;
    };
    if (input.transactionId) return withConnection(input, runAll);
    // Outside a transaction the whole batch succeeds or fails together.
    const conn = await poolFor(input.database).connect();
    try {
      await conn.query("BEGIN");
      const output = await runAll(conn);
      await conn.query("COMMIT");
      conn.release();
      return output;
    } catch (error) {
      await conn.query("ROLLBACK").catch(() => {});
      conn.release();
      throw error;
    }
  }

  async function handleBegin(input: BeginTransactionCommandInput): Promise<BeginTransactionCommandOutput> {
    requireTarget(input);
    const conn = await poolFor(input.database).connect();
    try {
      await conn.query("BEGIN");
    } catch (error) {
      conn.release(true);
      throw toDataApiError(error);
    }
    const transactionId = randomBytes(48).toString("base64");
    transactions.set(transactionId, { client: conn, queue: Promise.resolve() });
    return { $metadata: metadata(), transactionId };
  }

  async function finish(id: string | undefined, command: "COMMIT" | "ROLLBACK"): Promise<void> {
    const tx = transaction(id);
    if (!tx || id === undefined) throw badRequest("Transaction ID is required");
    transactions.delete(id);
    await tx.queue;
    try {
      await tx.client.query(command);
      tx.client.release();
    } catch (error) {
      tx.client.release(true);
      throw toDataApiError(error);
    }
  }

  mock.on(ExecuteStatementCommand).callsFake((input: ExecuteStatementCommandInput) => handleExecute(input));
  mock
    .on(BatchExecuteStatementCommand)
    .callsFake((input: BatchExecuteStatementCommandInput) => handleBatch(input));
  mock.on(BeginTransactionCommand).callsFake((input: BeginTransactionCommandInput) => handleBegin(input));
  mock
    .on(CommitTransactionCommand)
    .callsFake(async (input: CommitTransactionCommandInput): Promise<CommitTransactionCommandOutput> => {
      await finish(input.transactionId, "COMMIT");
      return { $metadata: metadata(), transactionStatus: "Transaction Committed" };
    });
  mock
    .on(RollbackTransactionCommand)
    .callsFake(async (input: RollbackTransactionCommandInput): Promise<RollbackTransactionCommandOutput> => {
      await finish(input.transactionId, "ROLLBACK");
      return { $metadata: metadata(), transactionStatus: "Rollback Complete" };
    });

  return {
    client,
    close: async () => {
      if (closed) return;
      closed = true;
      const open = [...transactions.values()];
      transactions.clear();
      for (const tx of open) {
        await tx.queue;
        await tx.client.query("ROLLBACK").catch(() => {});
        tx.client.release();
      }
      await Promise.all([...pools.values()].map((p) => p.end()));
      pools.clear();
      mock.restore();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

function requireTarget(input: { resourceArn?: string | undefined; secretArn?: string | undefined }): void {
  if (!input.resourceArn) throw badRequest("resourceArn is required");
  if (!input.secretArn) throw badRequest("secretArn is required");
}

const TYPE_HINT_CASTS: Record<string, string> = {
  JSON: "jsonb",
  UUID: "uuid",
  TIMESTAMP: "timestamp",
  DATE: "date",
  TIME: "time",
  DECIMAL: "numeric",
};

/** The formats the Data API accepts for hinted strings (it parses them with java.sql.*.valueOf). */
const TYPE_HINT_FORMATS: Record<string, { pattern: RegExp; message: string }> = {
  TIMESTAMP: {
    pattern: /^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}(\.\d{1,9})?$/,
    message: "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]",
  },
  DATE: { pattern: /^\d{4}-\d{1,2}-\d{1,2}$/, message: "Date format must be yyyy-mm-dd" },
  TIME: { pattern: /^\d{1,2}:\d{2}:\d{2}(\.\d{1,9})?$/, message: "Time format must be hh:mm:ss[.fff]" },
};

interface PreparedStatement {
  readonly text: string;
  readonly values: unknown[];
}

/** Binds one Data API parameter: the `$n` expression (with its cast) and the value pg sends. */
function bindParameter(param: SqlParameter, n: number): { expression: string; value: unknown } {
  const v = param.value;
  const name = param.name ?? "";
  if (!v) throw badRequest(`Parameter ${name} has no value`);
  if (v.isNull) return { expression: `$${n}`, value: null };
  if (v.stringValue !== undefined) {
    const hint = param.typeHint;
    if (hint) {
      const cast = TYPE_HINT_CASTS[hint];
      if (!cast) throw badRequest(`Invalid type hint ${hint} for parameter ${name}`);
      const format = TYPE_HINT_FORMATS[hint];
      if (format && !format.pattern.test(v.stringValue)) throw badRequest(format.message);
      return { expression: `$${n}::${cast}`, value: v.stringValue };
    }
    return { expression: `$${n}::varchar`, value: v.stringValue };
  }
  if (v.longValue !== undefined) return { expression: `$${n}::int8`, value: String(v.longValue) };
  if (v.doubleValue !== undefined) return { expression: `$${n}::float8`, value: String(v.doubleValue) };
  if (v.booleanValue !== undefined)
    return { expression: `$${n}::bool`, value: v.booleanValue ? "true" : "false" };
  if (v.blobValue !== undefined) return { expression: `$${n}::bytea`, value: Buffer.from(v.blobValue) };
  if (v.arrayValue !== undefined) throw badRequest("Array parameters are not supported.");
  throw badRequest(`Parameter ${name} has no value`);
}

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * Rewrites `:name` placeholders to `$n` (with the parameter's cast) and checks that the text holds a
 * single statement. Quoted strings (including E'' escapes), quoted identifiers, dollar-quoted bodies,
 * comments and `::` casts are copied unchanged; `:name` with no such parameter is left as written.
 */
function prepareStatement(sqlText: string, parameters: readonly SqlParameter[]): PreparedStatement {
  const byName = new Map<string, SqlParameter>();
  for (const p of parameters) {
    if (!p.name) throw badRequest("Parameter name must not be empty");
    byName.set(p.name, p);
  }
  const bound = new Map<string, string>();
  const values: unknown[] = [];
  let out = "";
  let i = 0;
  let ended = false; // a top-level `;` was seen
  const n = sqlText.length;
  const afterEnd = (pos: number) => {
    if (ended) throw badRequest(`Multistatement is not supported: ${sqlText.slice(pos, pos + 40)}`);
  };
  while (i < n) {
    const ch = sqlText[i] as string;
    const next = sqlText[i + 1];
    if (ch === "-" && next === "-") {
      const end = sqlText.indexOf("\n", i);
      const stop = end === -1 ? n : end;
      out += sqlText.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === "/" && next === "*") {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sqlText.startsWith("/*", j)) {
          depth++;
          j += 2;
        } else if (sqlText.startsWith("*/", j)) {
          depth--;
          j += 2;
        } else j++;
      }
      out += sqlText.slice(i, j);
      i = j;
      continue;
    }
    if (/\s/.test(ch)) {
      out += ch;
      i++;
      continue;
    }
    if (ch === ";") {
      ended = true;
      out += ch;
      i++;
      continue;
    }
    afterEnd(i);
    if (ch === "'") {
      const prev = sqlText[i - 1];
      const escapes = (prev === "E" || prev === "e") && !IDENT_CHAR.test(sqlText[i - 2] ?? " ");
      let j = i + 1;
      while (j < n) {
        const c = sqlText[j];
        if (escapes && c === "\\") {
          j += 2;
          continue;
        }
        if (c === "'") {
          if (sqlText[j + 1] === "'") {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      out += sqlText.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      while (j < n) {
        if (sqlText[j] === '"') {
          if (sqlText[j + 1] === '"') {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      out += sqlText.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === "$" && !IDENT_CHAR.test(sqlText[i - 1] ?? " ")) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sqlText.slice(i));
      if (tag) {
        const end = sqlText.indexOf(tag[0], i + tag[0].length);
        const stop = end === -1 ? n : end + tag[0].length;
        out += sqlText.slice(i, stop);
        i = stop;
        continue;
      }
    }
    if (ch === ":") {
      if (next === ":") {
        out += "::";
        i += 2;
        continue;
      }
      const m = /^:([A-Za-z0-9_]+)/.exec(sqlText.slice(i));
      const param = m ? byName.get(m[1] as string) : undefined;
      if (m && param) {
        const name = m[1] as string;
        let expression = bound.get(name);
        if (expression === undefined) {
          const b = bindParameter(param, values.length + 1);
          values.push(b.value);
          expression = b.expression;
          bound.set(name, expression);
        }
        out += expression;
        i += m[0].length;
        continue;
      }
    }
    if (IDENT_CHAR.test(ch)) {
      // Copy a whole word so `$` inside identifiers and `E'...'` prefixes are seen in context.
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(sqlText[j] as string)) j++;
      if (sqlText[j] === "'" && (sqlText[j - 1] === "E" || sqlText[j - 1] === "e") && j - i === 1) {
        out += ch;
        i++;
        continue;
      }
      out += sqlText.slice(i, j);
      i = j;
      continue;
    }
    out += ch;
    i++;
  }
  return { text: out, values };
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

function isRowCountCommand(command: string): boolean {
  return command === "INSERT" || command === "UPDATE" || command === "DELETE" || command === "MERGE";
}

function tooLarge(): BadRequestException {
  return badRequest("Database returned more than the allowed response size limit");
}

function approximateSize(records: readonly (readonly Field[])[]): number {
  let size = 0;
  for (const row of records) {
    for (const f of row) {
      if (f.stringValue !== undefined) size += f.stringValue.length;
      else if (f.blobValue !== undefined) size += f.blobValue.length;
      else size += 8;
    }
  }
  return size;
}

const UNKNOWN_TYPE: PgType = { name: "unknown", elem: 0, category: "X" };

function typeOf(types: Map<number, PgType>, oid: number): PgType {
  return types.get(oid) ?? UNKNOWN_TYPE;
}

interface FieldOptions {
  readonly decimalAsNumber: boolean;
  readonly longAsString: boolean;
}

const LONG_TYPES = new Set(["int2", "int4", "int8", "oid", "xid", "cid", "regclass", "regtype", "regproc"]);
const DOUBLE_TYPES = new Set(["float4", "float8"]);

/** Encodes one value (pg's text form) as the Data API does. */
function toField(raw: string | null, type: PgType, types: Map<number, PgType>, options: FieldOptions): Field {
  if (raw === null) return { isNull: true };
  if (type.category === "A" && type.elem !== 0) {
    return { arrayValue: toArrayValue(parseArrayLiteral(raw), typeOf(types, type.elem)) };
  }
  const name = type.name;
  if (LONG_TYPES.has(name)) {
    if (options.longAsString && name === "int8") return { stringValue: raw };
    return { longValue: Number(raw) };
  }
  if (DOUBLE_TYPES.has(name)) return { doubleValue: Number(raw) };
  if (name === "numeric" && options.decimalAsNumber) {
    return /^-?\d+$/.test(raw) ? { longValue: Number(raw) } : { doubleValue: Number(raw) };
  }
  if (name === "bool") return { booleanValue: raw === "t" };
  if (name === "bytea") return { blobValue: decodeBytea(raw) };
  return { stringValue: formatText(name, raw) };
}

/** Strings as the Data API shows them: timestamptz in UTC without a zone. */
function formatText(typeName: string, raw: string): string {
  if (typeName === "timestamptz") return timestamptzToUtc(raw);
  return raw;
}

/** `2024-01-02 05:04:05.123+02` → `2024-01-02 03:04:05.123` (fraction kept as the server wrote it). */
function timestamptzToUtc(raw: string): string {
  const m =
    /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(raw);
  if (!m) return raw; // infinity, BC dates: as written
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os] = m;
  const offsetSeconds =
    (sign === "-" ? -1 : 1) * (Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0));
  const utc = new Date(0);
  utc.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  utc.setUTCHours(Number(h), Number(mi), Number(s) - offsetSeconds, 0);
  const pad = (v: number, w = 2) => String(v).padStart(w, "0");
  return (
    `${pad(utc.getUTCFullYear(), 4)}-${pad(utc.getUTCMonth() + 1)}-${pad(utc.getUTCDate())} ` +
    `${pad(utc.getUTCHours())}:${pad(utc.getUTCMinutes())}:${pad(utc.getUTCSeconds())}${frac ?? ""}`
  );
}

function decodeBytea(raw: string): Uint8Array {
  if (raw.startsWith("\\x")) return new Uint8Array(Buffer.from(raw.slice(2), "hex"));
  // Escape format (bytea_output = escape): octal escapes and doubled backslashes.
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "\\") {
      if (raw[i + 1] === "\\") {
        bytes.push(92);
        i++;
      } else {
        bytes.push(Number.parseInt(raw.slice(i + 1, i + 4), 8));
        i += 3;
      }
    } else bytes.push(raw.charCodeAt(i));
  }
  return new Uint8Array(bytes);
}

type ArrayItem = string | null | ArrayItem[];

/** Parses a PostgreSQL array literal (`{1,2}`, `{"a b",NULL}`, `{{1},{2}}`, `[0:1]={1,2}`). */
function parseArrayLiteral(raw: string): ArrayItem[] {
  let i = raw.startsWith("[") ? raw.indexOf("=") + 1 : 0;
  const parse = (): ArrayItem[] => {
    const items: ArrayItem[] = [];
    i++; // {
    if (raw[i] === "}") {
      i++;
      return items;
    }
    for (;;) {
      if (raw[i] === "{") items.push(parse());
      else if (raw[i] === '"') {
        let value = "";
        i++;
        while (i < raw.length && raw[i] !== '"') {
          if (raw[i] === "\\") i++;
          value += raw[i];
          i++;
        }
        i++;
        items.push(value);
      } else {
        let j = i;
        while (j < raw.length && raw[j] !== "," && raw[j] !== "}") j++;
        const token = raw.slice(i, j);
        items.push(token === "NULL" ? null : token);
        i = j;
      }
      if (raw[i] === ",") {
        i++;
        continue;
      }
      i++; // }
      return items;
    }
  };
  return parse();
}

function toArrayValue(items: ArrayItem[], elem: PgType): ArrayValue {
  if (items.some((item) => Array.isArray(item))) {
    throw new UnsupportedResultException({
      message: "The result contains the unsupported data type: multidimensional array",
      $metadata: metadata(400),
    });
  }
  const scalars = items as (string | null)[];
  if (LONG_TYPES.has(elem.name))
    return { longValues: scalars.map((s) => (s === null ? s : Number(s))) as number[] };
  if (DOUBLE_TYPES.has(elem.name)) {
    return { doubleValues: scalars.map((s) => (s === null ? s : Number(s))) as number[] };
  }
  if (elem.name === "bool")
    return { booleanValues: scalars.map((s) => (s === null ? s : s === "t")) as boolean[] };
  return { stringValues: scalars.map((s) => (s === null ? s : formatText(elem.name, s))) as string[] };
}

/** A field as it appears in `formattedRecords`. */
function fieldToJson(field: Field): unknown {
  if (field.isNull) return null;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return Buffer.from(field.blobValue).toString("base64");
  if (field.arrayValue !== undefined) {
    const a = field.arrayValue;
    return a.stringValues ?? a.longValues ?? a.doubleValues ?? a.booleanValues ?? [];
  }
  return null;
}

/** JDBC `java.sql.Types` codes as the PostgreSQL JDBC driver reports them. */
const JDBC_TYPES: Record<string, number> = {
  bool: -7,
  bit: -7,
  int2: 5,
  int4: 4,
  int8: -5,
  oid: -5,
  float4: 7,
  float8: 8,
  money: 8,
  numeric: 2,
  char: 1,
  bpchar: 1,
  varchar: 12,
  text: 12,
  name: 12,
  bytea: -2,
  date: 91,
  time: 92,
  timetz: 92,
  timestamp: 93,
  timestamptz: 93,
};
const JDBC_OTHER = 1111;
const JDBC_ARRAY = 2003;

function precisionAndScale(type: PgType, modifier: number): { precision: number; scale: number } {
  switch (type.name) {
    case "int2":
      return { precision: 5, scale: 0 };
    case "int4":
      return { precision: 10, scale: 0 };
    case "int8":
      return { precision: 19, scale: 0 };
    case "float4":
      return { precision: 8, scale: 8 };
    case "float8":
      return { precision: 17, scale: 17 };
    case "bool":
      return { precision: 1, scale: 0 };
    case "numeric":
      return modifier >= 4
        ? { precision: ((modifier - 4) >> 16) & 0xffff, scale: (modifier - 4) & 0xffff }
        : { precision: 0, scale: 0 };
    case "varchar":
    case "bpchar":
      return { precision: modifier >= 4 ? modifier - 4 : 2147483647, scale: 0 };
    case "date":
      return { precision: 13, scale: 0 };
    case "timestamp":
    case "timestamptz":
      return { precision: 29, scale: 6 };
    default:
      return { precision: 2147483647, scale: 0 };
  }
}

async function columnMetadata(
  conn: Queryable,
  fields: readonly pg.FieldDef[],
  types: Map<number, PgType>,
): Promise<ColumnMetadata[]> {
  const tableIds = [...new Set(fields.map((f) => f.tableID).filter((id) => id !== 0))];
  const columns = new Map<string, { table: string; schema: string; notNull: boolean; serial: boolean }>();
  if (tableIds.length > 0) {
    const { rows } = await conn.query<{
      relid: number;
      attnum: number;
      relname: string;
      nspname: string;
      attnotnull: boolean;
      serial: boolean;
    }>(
      `SELECT c.oid::int AS relid, a.attnum::int AS attnum, c.relname, n.nspname, a.attnotnull,
              coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false) OR a.attidentity <> '' AS serial
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0`,
      [tableIds],
    );
    for (const r of rows) {
      columns.set(`${r.relid}:${r.attnum}`, {
        table: r.relname,
        schema: r.nspname,
        notNull: r.attnotnull,
        serial: r.serial,
      });
    }
  }
  return fields.map((f) => {
    const type = typeOf(types, f.dataTypeID);
    const column = columns.get(`${f.tableID}:${f.columnID}`);
    const isArray = type.category === "A" && type.elem !== 0;
    const { precision, scale } = precisionAndScale(type, f.dataTypeModifier);
    return {
      name: f.name,
      label: f.name,
      type: isArray ? JDBC_ARRAY : (JDBC_TYPES[type.name] ?? JDBC_OTHER),
      typeName: type.name,
      schemaName: column?.schema ?? "",
      tableName: column?.table ?? "",
      isAutoIncrement: column?.serial ?? false,
      isSigned: type.category === "N",
      isCurrency: type.name === "money",
      isCaseSensitive: type.category === "S" || type.category === "U",
      // java.sql.ResultSetMetaData: 0 = no nulls, 1 = nullable, 2 = unknown (expressions).
      nullable: column ? (column.notNull ? 0 : 1) : 2,
      precision,
      scale,
      arrayBaseColumnType: isArray ? (JDBC_TYPES[typeOf(types, type.elem).name] ?? JDBC_OTHER) : 0,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** A pg error as the Data API reports it: the SQLSTATE only in the message text. */
function toDataApiError(error: unknown): Error {
  if (error instanceof BadRequestException || error instanceof UnsupportedResultException) return error;
  if (error instanceof pg.DatabaseError) {
    let message = `ERROR: ${error.message}`;
    if (error.detail) message += `\n  Detail: ${error.detail}`;
    if (error.hint) message += `\n  Hint: ${error.hint}`;
    if (error.where) message += `\n  Where: ${error.where}`;
    if (error.position) message += `\n  Position: ${error.position}`;
    message += `; SQLState: ${error.code ?? "XX000"}`;
    return new DatabaseErrorException({ message, $metadata: metadata(400) });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InternalServerErrorException({ message, $metadata: metadata(500) });
}
