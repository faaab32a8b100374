/**
 * An RDS Data API stand-in for tests: a real `RDSDataClient` whose `send` is mocked (per instance,
 * with aws-sdk-client-mock) so that every Data API command runs on a local PostgreSQL database and
 * is answered in the Data API's own response shape, quirks and limits included.
 *
 * Shape and typing:
 * - named parameters (`:name`, drizzle sends `:1`, `:2`, ...) become `$n`; `::casts`, quoted
 *   strings and identifiers, dollar-quoted bodies and comments are left alone;
 * - parameters are typed the way the Data API types them (it binds through JDBC with the default
 *   `stringtype=VARCHAR`): `stringValue` is `varchar` unless a `typeHint` says JSON/UUID/TIMESTAMP/
 *   DATE/TIME/DECIMAL, `longValue` is `int8`, `doubleValue` `float8`, `booleanValue` `bool`,
 *   `blobValue` `bytea`, `isNull` untyped. So `uuid_column = :id` without a UUID hint fails with
 *   "operator does not exist: uuid = character varying", exactly as on Aurora. TIMESTAMP/DATE/TIME
 *   hinted strings must be in the Data API's formats (`YYYY-MM-DD HH:MM:SS[.FFF]`, no `T`, no zone);
 *   array parameters are rejected;
 * - PostgreSQL errors become a `DatabaseErrorException` whose message carries the SQLSTATE only as
 *   text (`ERROR: ...\n  Position: 8; SQLState: 42601`), with no `code` property;
 * - result fields: ints are `longValue`, float4/float8 `doubleValue`, numeric a `stringValue`, bool
 *   `booleanValue`, bytea `blobValue`, arrays `arrayValue` (multidimensional arrays are an
 *   `UnsupportedResultException`), NULL `{ isNull: true }`, and everything else - json/jsonb
 *   included - the text as `stringValue`. Timestamps are `2024-01-02 03:04:05.123` (no `T`, no
 *   zone; timestamptz converted to UTC), sessions run in UTC like Aurora's default;
 * - `records` only for statements that return rows, `columnMetadata` only with
 *   `includeResultMetadata`, `formatRecordsAs: "JSON"` gives `formattedRecords` instead of `records`,
 *   `numberOfRecordsUpdated` is 0 for SELECT;
 * - `BatchExecuteStatement` runs once per parameter set (and not at all without parameter sets).
 *
 * Limits (`DataApiLimits`, AWS's values by default; tests may lower them to reach them cheaply):
 * - one SQL statement per call (`BadRequestException` "Multistatement is not supported"), at most
 *   65,536 characters of SQL;
 * - 4 MiB per request - the JSON body as the SDK sends it (blobs in base64) plus an allowance for
 *   the signed HTTP headers - for every command, `BatchExecuteStatement` included;
 * - 64 KB per result row (the UTF-8 bytes of its values as PostgreSQL returns them) and 1 MiB per
 *   response (the UTF-8 bytes of the JSON body): `UnsupportedResultException`;
 * - 45 s per call: `StatementTimeoutException` "Request timed out". The statement is cancelled
 *   (nothing is written), unless `continueAfterTimeout` is set: then it goes on in the background
 *   (and commits if it is autocommit) while the call still fails;
 * - transactions expire 3 minutes after their last call and 24 hours after they began (measured
 *   with the injectable clock `now`): they are rolled back and their id is no longer found;
 * - one call at a time per transaction: a second concurrent call is refused at once with
 *   `DatabaseErrorException` "Transaction is still running a query" (it is not queued).
 *
 * Transactions: `BeginTransaction` pins a connection under a random id. A transaction id that was
 * never begun, has expired, was committed or rolled back, or was aborted answers
 * `TransactionNotFoundException` "Transaction <id> is not found. <cause>", the cause being the one
 * AWS's troubleshooting guide lists. What an error does to the open transaction it happened in:
 * - a PostgreSQL error (`DatabaseErrorException`) leaves it open but aborted, as PostgreSQL does:
 *   later statements fail with SQLSTATE 25P02 until `RollbackTransaction`;
 * - an error the Data API raises itself (a result too large or unsupported, a statement timeout
 *   without `continueAfterTimeout`, an injected 5xx or resume error, an internal error) ends it:
 *   it is rolled back and its id answers "Transaction has been aborted due to an error from a
 *   previous call." - so a client that rolls back after such an error gets `TransactionNotFound`;
 * - a request refused before it reaches the database (too large, too much SQL, several
 *   statements, a bad parameter, a concurrent call) leaves it as it was.
 *
 * Faults: `faults.inject(...)` makes chosen calls fail with the Data API's 5xx errors or
 * `DatabaseResumingException` before they reach the database. The mock replaces `send`, so the
 * SDK's own retries of 5xx answers do not run: an injected fault is what the application sees
 * after them.
 *
 * Sources (the limits and error names):
 * - https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.limitations.html
 *   ("The response size limit is 1 MiB", "the Data API size limit is 64 KB per row")
 * - https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.troubleshooting.html
 *   ("Transaction <transaction_ID> isn't found" and its three causes, "Packet for query is too
 *   large", "Database response exceeded size limit", "DatabaseErrorException: Transaction is still
 *   running a query", "Multi-statements aren't supported")
 * - https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api-timeouts.html
 *   (45 s; `continueAfterTimeout`: "Your application still receives the timeout error. However,
 *   the operation continues running and isn't canceled.")
 * - https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_BeginTransaction.html
 *   ("A transaction can run for a maximum of 24 hours", "times out if no calls use its transaction
 *   ID in three minutes")
 * - https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_BatchExecuteStatement.html
 *   ("the maximum size of the HTTP request submitted through the Data API is 4 MiB ... includes
 *   the size of the HTTP headers and the JSON notation in the request")
 * - https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_ExecuteStatement.html
 *   (`sql`: at most 65,536 characters; the exceptions and their HTTP status codes, also in
 *   @aws-sdk/client-rds-data's models)
 * - https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html
 *   (`DatabaseResumingException` while an auto-paused instance resumes)
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
  DatabaseResumingException,
  DatabaseUnavailableException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type ExecuteStatementCommandOutput,
  type Field,
  InternalServerErrorException,
  RDSDataClient,
  RDSDataServiceException,
  RollbackTransactionCommand,
  type RollbackTransactionCommandInput,
  type RollbackTransactionCommandOutput,
  ServiceUnavailableError,
  type SqlParameter,
  StatementTimeoutException,
  TransactionNotFoundException,
  UnsupportedResultException,
} from "@aws-sdk/client-rds-data";
import { mockClient } from "aws-sdk-client-mock";
import pg from "pg";

/** The limits the adapter enforces; `AWS_DATA_API_LIMITS` holds AWS's documented values. */
export interface DataApiLimits {
  /** Bytes of one result row: the UTF-8 bytes of its values as PostgreSQL returns them. */
  readonly maxRowBytes: number;
  /** Bytes of one response: the UTF-8 bytes of its JSON body. */
  readonly maxResponseBytes: number;
  /** Bytes of one request: its JSON body plus `REQUEST_HEADER_BYTES`. */
  readonly maxRequestBytes: number;
  /** Characters of SQL in one call. */
  readonly maxSqlLength: number;
  /** How long one call may run before it answers `StatementTimeoutException`. */
  readonly statementTimeoutMs: number;
  /** A transaction no call has used for this long is rolled back. */
  readonly transactionIdleTimeoutMs: number;
  /** A transaction older than this is rolled back. */
  readonly transactionMaxLifetimeMs: number;
}

/** AWS's values (see the sources in the module comment). */
export const AWS_DATA_API_LIMITS: DataApiLimits = Object.freeze({
  // "64 KB per row": AWS's KB are 1,024 bytes (its MiB limits are powers of two as well).
  maxRowBytes: 64 * 1024,
  maxResponseBytes: 1024 * 1024,
  maxRequestBytes: 4 * 1024 * 1024,
  maxSqlLength: 65_536,
  statementTimeoutMs: 45_000,
  transactionIdleTimeoutMs: 3 * 60_000,
  transactionMaxLifetimeMs: 24 * 60 * 60_000,
});

/**
 * What a request's HTTP headers add to its JSON body: a SigV4 `Authorization` header, the
 * `x-amz-*` headers, the user agent and, in Lambda, a session token of about a kilobyte. AWS counts
 * the headers in the 4 MiB; this is a generous estimate of them.
 */
export const REQUEST_HEADER_BYTES = 2048;

/** The Data API commands, by the names the SDK gives them. */
export type DataApiCommandName =
  | "ExecuteStatement"
  | "BatchExecuteStatement"
  | "BeginTransaction"
  | "CommitTransaction"
  | "RollbackTransaction";

/** The errors `faults.inject` can make a call answer: the Data API's 5xx and resume errors. */
export type DataApiFaultName =
  | "DatabaseResumingException"
  | "DatabaseUnavailableException"
  | "InternalServerErrorException"
  | "ServiceUnavailableError";

/** One call as a fault sees it. */
export interface DataApiCall {
  readonly command: DataApiCommandName;
  /** ExecuteStatement and BatchExecuteStatement only. */
  readonly sql?: string;
  readonly parameters?: readonly SqlParameter[];
  readonly parameterSets?: readonly (readonly SqlParameter[])[];
  readonly transactionId?: string;
}

export interface DataApiFaultSpec {
  readonly error: DataApiFaultName;
  /** The commands it applies to; all of them when unset. */
  readonly command?: DataApiCommandName | readonly DataApiCommandName[];
  /** Only calls whose SQL matches (calls without SQL never match). */
  readonly sql?: RegExp;
  /** Any further condition on the call. */
  readonly when?: (call: DataApiCall) => boolean;
  /** How many matching calls fail (default 1); `Infinity` for all of them. */
  readonly times?: number;
  /** The error's message; by default the one AWS gives (or the SDK's "UnknownError" if none). */
  readonly message?: string;
}

export interface DataApiFault {
  /** Calls that failed because of this fault so far. */
  readonly hits: number;
  /** Stops it (calls go through again). */
  remove(): void;
}

export interface DataApiFaults {
  /** The next `times` calls matching `spec` fail with `spec.error`, before reaching the database. */
  inject(spec: DataApiFaultSpec): DataApiFault;
  /** Removes every fault. */
  clear(): void;
}

export interface DataApiAdapterOptions {
  /** Overrides of AWS's limits (tests lower them to reach a limit cheaply). */
  readonly limits?: Partial<DataApiLimits>;
  /** The clock transaction expiry is measured with (ms since the epoch); tests move it forward. */
  readonly now?: () => number;
}

export interface DataApiAdapter {
  /** A real RDSDataClient whose `send` is answered by the local PostgreSQL server. */
  readonly client: RDSDataClient;
  /** The limits in force. */
  readonly limits: DataApiLimits;
  readonly faults: DataApiFaults;
  /** Ends the pools and open transactions and restores the client's `send`. */
  close(): Promise<void>;
}

/** Session settings of an Aurora PostgreSQL cluster reached through the Data API. */
const SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres";

/** pg hands every column back as the server's text; formatting is ours. */
const RAW_TEXT: pg.CustomTypesConfig = {
  getTypeParser: (() => (value: string) => value) as unknown as pg.CustomTypesConfig["getTypeParser"],
};

/** The causes AWS appends to "Transaction <id> is not found" (troubleshooting guide). */
const MAY_BE_EXPIRED = "Transaction may be expired.";
const ENDED_BY_CALL = "One previous call resulted in a termination of your transaction.";
const ABORTED_BY_ERROR = "Transaction has been aborted due to an error from a previous call.";

/** How many ended transaction ids are remembered (for the cause in "not found"). */
const REMEMBERED_ENDED = 10_000;

interface PgType {
  readonly name: string;
  /** For arrays: the element type's oid; 0 otherwise. */
  readonly elem: number;
  readonly category: string;
}

interface OpenTransaction {
  readonly id: string;
  readonly client: pg.PoolClient;
  readonly database: string;
  readonly pid: number;
  readonly begunAt: number;
  lastUsedAt: number;
  /** A call is running on it (AWS refuses a second one meanwhile). */
  busy: boolean;
  /** A statement left running by a timed-out call with `continueAfterTimeout`. */
  running: Promise<void> | undefined;
}

interface StatementResult {
  readonly command: string;
  readonly rowCount: number;
  readonly fields: readonly pg.FieldDef[];
  readonly rows: readonly (readonly (string | null)[])[];
}

type ResponseMetadata = ExecuteStatementCommandOutput["$metadata"];

type Outcome<T> =
  | { readonly kind: "value"; readonly value: T }
  | { readonly kind: "error"; readonly error: unknown }
  | { readonly kind: "timeout" };

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

function transactionNotFound(id: string, cause: string): TransactionNotFoundException {
  return new TransactionNotFoundException({
    message: `Transaction ${id} is not found. ${cause}`,
    $metadata: metadata(404),
  });
}

function stillRunning(): DatabaseErrorException {
  return new DatabaseErrorException({
    message: "Transaction is still running a query",
    $metadata: metadata(400),
  });
}

function statementTimeout(pid: number): StatementTimeoutException {
  return new StatementTimeoutException({
    message: "Request timed out",
    dbConnectionId: pid,
    $metadata: metadata(400),
  });
}

/** The error a fault answers, with the HTTP status the SDK models it with. */
function faultError(name: DataApiFaultName, message: string | undefined): RDSDataServiceException {
  switch (name) {
    case "DatabaseResumingException":
      return new DatabaseResumingException({
        // The text Aurora answers with while an auto-paused instance resumes.
        message:
          message ??
          "The Aurora DB instance tp-local-writer is resuming after being auto-paused. Please wait a few seconds and try again.",
        $metadata: metadata(400),
      });
    // These three have no message member in the API model, so the SDK reports "UnknownError".
    case "DatabaseUnavailableException":
      return new DatabaseUnavailableException({
        message: message ?? "UnknownError",
        $metadata: metadata(504),
      });
    case "InternalServerErrorException":
      return new InternalServerErrorException({
        message: message ?? "UnknownError",
        $metadata: metadata(500),
      });
    case "ServiceUnavailableError":
      return new ServiceUnavailableError({ message: message ?? "UnknownError", $metadata: metadata(503) });
  }
}

/** JSON as the SDK writes it: blobs (Uint8Array, or a Buffer's toJSON form) as base64 strings. */
function wireJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
    if (v && typeof v === "object" && (v as { type?: unknown }).type === "Buffer") {
      const data = (v as { data?: unknown }).data;
      if (Array.isArray(data)) return Buffer.from(data as number[]).toString("base64");
    }
    return v;
  });
}

/** The bytes AWS counts against the 4 MiB request limit: the JSON body plus the headers. */
export function requestBytes(input: object): number {
  return Buffer.byteLength(wireJson(input), "utf8") + REQUEST_HEADER_BYTES;
}

/** The bytes of a response's JSON body (what the 1 MiB limit counts). */
export function responseBytes(output: object): number {
  const { $metadata: _ignored, ...body } = output as { $metadata?: unknown };
  return Buffer.byteLength(wireJson(body), "utf8");
}

/** Settles `pending` or gives up waiting after `ms` (the promise itself goes on). */
function settleWithin<T>(ms: number, pending: Promise<T>): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: "timeout" }), ms);
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve({ kind: "value", value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ kind: "error", error });
      },
    );
  });
}

/** An error the Data API raises itself (as opposed to one PostgreSQL raised): it ends a transaction. */
function endsTransaction(error: unknown): boolean {
  return error instanceof RDSDataServiceException && !(error instanceof DatabaseErrorException);
}

/** Creates an RDSDataClient answered by the PostgreSQL database at `pgUrl`. */
export function createDataApiAdapter(pgUrl: string, options: DataApiAdapterOptions = {}): DataApiAdapter {
  const limits: DataApiLimits = Object.freeze({ ...AWS_DATA_API_LIMITS, ...options.limits });
  const now = options.now ?? Date.now;
  const client = new RDSDataClient({
    region: "eu-west-1",
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
  const mock = mockClient(client);
  const defaultDatabase = decodeURIComponent(new URL(pgUrl).pathname.slice(1));
  const pools = new Map<string, pg.Pool>();
  const typeCaches = new Map<string, Map<number, PgType>>();
  const transactions = new Map<string, OpenTransaction>();
  /** Ended transaction ids and why, for the cause in "not found". */
  const ended = new Map<string, string>();
  /** Backend pid of each pooled connection (to cancel its statement). */
  const pids = new WeakMap<pg.PoolClient, number>();
  /** Statements left running in the background by timed-out calls. */
  const background = new Set<Promise<void>>();
  const faults: { spec: DataApiFaultSpec; remaining: number; hits: number }[] = [];
  let closed = false;

  // AWS rolls back an expired transaction whether or not anyone calls again: so does the sweep.
  const sweep = setInterval(
    () => {
      for (const tx of [...transactions.values()]) {
        if (isExpired(tx)) void endTransaction(tx, MAY_BE_EXPIRED);
      }
    },
    Math.max(50, Math.min(10_000, Math.floor(limits.transactionIdleTimeoutMs / 4))),
  );
  sweep.unref();

  function urlFor(database: string): string {
    const url = new URL(pgUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    return url.toString();
  }

  function poolFor(database: string | undefined): pg.Pool {
    if (closed) throw badRequest("the Data API adapter is closed");
    const name = database && database.length > 0 ? database : defaultDatabase;
    let pool = pools.get(name);
    if (!pool) {
      pool = new pg.Pool({ connectionString: urlFor(name), max: 10, options: SESSION_OPTIONS });
      // An idle connection that drops must not crash the test process.
      pool.on("error", () => {});
      pools.set(name, pool);
    }
    return pool;
  }

  async function connect(database: string): Promise<{ conn: pg.PoolClient; pid: number }> {
    let conn: pg.PoolClient;
    try {
      conn = await poolFor(database).connect();
    } catch (error) {
      throw toDataApiError(error);
    }
    let pid = pids.get(conn);
    if (pid === undefined) {
      try {
        const { rows } = await conn.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
        pid = rows[0]?.pid ?? 0;
      } catch (error) {
        conn.release(true);
        throw toDataApiError(error);
      }
      pids.set(conn, pid);
    }
    return { conn, pid };
  }

  /** Cancels the statement running on backend `pid` (a connection of its own: the pool may be full). */
  async function cancelStatement(database: string, pid: number): Promise<void> {
    const admin = new pg.Client({ connectionString: urlFor(database) });
    try {
      await admin.connect();
      await admin.query("SELECT pg_cancel_backend($1)", [pid]);
    } catch {
      // The statement may have ended meanwhile; nothing to cancel.
    } finally {
      await admin.end().catch(() => {});
    }
  }

  function remember(id: string, cause: string): void {
    ended.set(id, cause);
    if (ended.size > REMEMBERED_ENDED) {
      const oldest = ended.keys().next().value;
      if (oldest !== undefined) ended.delete(oldest);
    }
  }

  function isExpired(tx: OpenTransaction): boolean {
    if (tx.busy) return false;
    const t = now();
    return (
      t - tx.lastUsedAt > limits.transactionIdleTimeoutMs || t - tx.begunAt > limits.transactionMaxLifetimeMs
    );
  }

  /** Forgets the transaction at once (later calls do not find it), then rolls it back. */
  async function endTransaction(tx: OpenTransaction, cause: string): Promise<void> {
    if (transactions.get(tx.id) !== tx) return;
    transactions.delete(tx.id);
    remember(tx.id, cause);
    await tx.running;
    try {
      await tx.client.query("ROLLBACK");
      tx.client.release();
    } catch {
      tx.client.release(true);
    }
  }

  /**
   * Takes the transaction for one call. Synchronous up to the claim, so two calls cannot both
   * find it free.
   */
  async function claim(id: string): Promise<OpenTransaction> {
    const tx = transactions.get(id);
    if (!tx) throw transactionNotFound(id, ended.get(id) ?? MAY_BE_EXPIRED);
    if (tx.busy) throw stillRunning();
    if (isExpired(tx)) {
      await endTransaction(tx, MAY_BE_EXPIRED);
      throw transactionNotFound(id, MAY_BE_EXPIRED);
    }
    tx.busy = true;
    return tx;
  }

  function releaseClaim(tx: OpenTransaction): void {
    tx.busy = false;
    tx.lastUsedAt = now();
  }

  /**
   * Runs one call's database work on its transaction's connection or on a pool connection of its
   * own, within the statement timeout, and leaves the transaction as AWS leaves it (module comment).
   */
  async function onConnection<T>(
    input: { database?: string | undefined; transactionId?: string | undefined },
    continueAfterTimeout: boolean,
    work: (conn: pg.PoolClient, database: string) => Promise<T>,
  ): Promise<T> {
    const id = input.transactionId;
    const tx = id === undefined || id === "" ? undefined : await claim(id);
    const database = tx?.database ?? (input.database || defaultDatabase);
    let conn: pg.PoolClient;
    let pid: number;
    if (tx) {
      conn = tx.client;
      pid = tx.pid;
    } else {
      ({ conn, pid } = await connect(database));
    }
    const pending = work(conn, database);
    const outcome = await settleWithin(limits.statementTimeoutMs, pending);
    if (outcome.kind === "timeout") {
      if (continueAfterTimeout) {
        const settled = pending.then(
          () => {},
          () => {},
        );
        const done = settled.then(() => {
          if (tx) {
            tx.running = undefined;
            releaseClaim(tx);
          } else conn.release();
          background.delete(done);
        });
        background.add(done);
        if (tx) tx.running = settled;
      } else {
        await cancelStatement(database, pid);
        await pending.catch(() => {});
        if (tx) await endTransaction(tx, ABORTED_BY_ERROR);
        else conn.release();
      }
      throw statementTimeout(pid);
    }
    if (outcome.kind === "error") {
      const error = toDataApiError(outcome.error);
      const broken = error instanceof InternalServerErrorException;
      if (tx) {
        if (endsTransaction(error)) await endTransaction(tx, ABORTED_BY_ERROR);
        else releaseClaim(tx);
      } else conn.release(broken);
      throw error;
    }
    if (tx) releaseClaim(tx);
    else conn.release();
    return outcome.value;
  }

  function takeFault(call: DataApiCall): RDSDataServiceException | undefined {
    for (const f of faults) {
      if (f.remaining <= 0) continue;
      const { spec } = f;
      const commands =
        spec.command === undefined ? undefined : ([] as DataApiCommandName[]).concat(spec.command);
      if (commands && !commands.includes(call.command)) continue;
      if (spec.sql && (call.sql === undefined || call.sql.search(spec.sql) < 0)) continue;
      if (spec.when && !spec.when(call)) continue;
      f.remaining--;
      f.hits++;
      return faultError(spec.error, spec.message);
    }
    return undefined;
  }

  /**
   * What every command goes through first: the request size, then an injected fault (which ends
   * the transaction the call names, as a failover does).
   */
  async function admit(call: DataApiCall, input: object): Promise<void> {
    if (closed) throw badRequest("the Data API adapter is closed");
    const size = requestBytes(input);
    if (size > limits.maxRequestBytes) {
      // AWS documents that it refuses the request but not the error's text.
      throw badRequest(
        `Request size ${size} bytes exceeds the Data API limit of ${limits.maxRequestBytes} bytes`,
      );
    }
    const fault = takeFault(call);
    if (!fault) return;
    const tx = call.transactionId ? transactions.get(call.transactionId) : undefined;
    if (tx && !tx.busy) await endTransaction(tx, ABORTED_BY_ERROR);
    throw fault;
  }

  function requireSql(sqlText: string | undefined): string {
    if (typeof sqlText !== "string" || sqlText.trim() === "") throw badRequest("SQL statement is empty");
    // The API model's length constraint counts characters (code points).
    let length = 0;
    for (const _ of sqlText) length++;
    if (length > limits.maxSqlLength) {
      throw badRequest(
        `1 validation error detected: Value at 'sql' failed to satisfy constraint: Member must have length less than or equal to ${limits.maxSqlLength}`,
      );
    }
    return sqlText;
  }

  async function typesFor(
    conn: pg.PoolClient,
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

  async function execute(conn: pg.PoolClient, statement: PreparedStatement): Promise<StatementResult> {
    try {
      const result = await conn.query({
        text: statement.text,
        values: statement.values,
        rowMode: "array",
        types: RAW_TEXT,
      });
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

  function tooLarge(
    what: string,
    bytes: number,
    limit: number,
    awsMessage: string,
  ): UnsupportedResultException {
    return new UnsupportedResultException({
      // AWS's text, then what the adapter measured (so a failing test says how far over it was).
      message: `${awsMessage} (local Data API adapter: ${what} is ${bytes} bytes, the limit is ${limit})`,
      $metadata: metadata(400),
    });
  }

  function checkResponse(output: object): void {
    const bytes = responseBytes(output);
    if (bytes > limits.maxResponseBytes) {
      throw tooLarge("the response", bytes, limits.maxResponseBytes, "Database response exceeded size limit");
    }
  }

  async function handleExecute(input: ExecuteStatementCommandInput): Promise<ExecuteStatementCommandOutput> {
    requireTarget(input);
    const sqlText = requireSql(input.sql);
    // Refused before it reaches the database: the transaction (if any) is not touched.
    const statement = prepareStatement(sqlText, input.parameters ?? []);
    return onConnection(input, input.continueAfterTimeout === true, async (conn, database) => {
      const result = await execute(conn, statement);
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
      const columnTypes = result.fields.map((f) => typeOf(types, f.dataTypeID));
      result.rows.forEach((row, i) => {
        const bytes = rowBytes(row, columnTypes);
        if (bytes > limits.maxRowBytes) {
          throw tooLarge(`row ${i + 1}`, bytes, limits.maxRowBytes, "Packet for query is too large");
        }
      });
      const options = {
        decimalAsNumber: input.resultSetOptions?.decimalReturnType === "DOUBLE_OR_LONG",
        longAsString: input.resultSetOptions?.longReturnType === "STRING",
      };
      const records = result.rows.map((row) =>
        row.map((raw, i) => toField(raw, columnTypes[i] ?? UNKNOWN_TYPE, types, options)),
      );
      if (input.formatRecordsAs === "JSON") {
        output.formattedRecords = JSON.stringify(
          records.map((fields) =>
            Object.fromEntries(
              fields.map((f, i) => [(result.fields[i] as pg.FieldDef).name, fieldToJson(f)]),
            ),
          ),
        );
      } else {
        output.records = records;
      }
      if (input.includeResultMetadata) {
        output.columnMetadata = await columnMetadata(conn, result.fields, types);
      }
      checkResponse(output);
      return output;
    });
  }

  async function handleBatch(
    input: BatchExecuteStatementCommandInput,
  ): Promise<BatchExecuteStatementCommandOutput> {
    requireTarget(input);
    const sqlText = requireSql(input.sql);
    const sets = input.parameterSets ?? [];
    const statements = sets.map((set) => prepareStatement(sqlText, set));
    // The Data API does not run a batch that has no parameter sets.
    if (statements.length === 0) return { $metadata: metadata(), updateResults: [] };
    const runAll = async (conn: pg.PoolClient): Promise<BatchExecuteStatementCommandOutput> => {
      const updateResults = [];
      for (const statement of statements) {
        const result = await execute(conn, statement);
        const first = result.rows[0];
        updateResults.push({
          generatedFields: first
            ? first.map((raw): Field => (raw === null ? { isNull: true } : { stringValue: raw }))
            : [],
        });
      }
      const output: BatchExecuteStatementCommandOutput = { $metadata: metadata(), updateResults };
      checkResponse(output);
      return output;
    };
    const inTransaction = input.transactionId !== undefined && input.transactionId !== "";
    return onConnection(input, false, async (conn) => {
      if (inTransaction) return runAll(conn);
      // Outside a transaction the whole batch succeeds or fails together.
      await conn.query("BEGIN");
      try {
        const output = await runAll(conn);
        await conn.query("COMMIT");
        return output;
      } catch (error) {
        await conn.query("ROLLBACK").catch(() => {});
        throw error;
      }
    });
  }

  async function handleBegin(input: BeginTransactionCommandInput): Promise<BeginTransactionCommandOutput> {
    requireTarget(input);
    const database = input.database || defaultDatabase;
    const { conn, pid } = await connect(database);
    try {
      await conn.query("BEGIN");
    } catch (error) {
      conn.release(true);
      throw toDataApiError(error);
    }
    const transactionId = randomBytes(48).toString("base64");
    const t = now();
    transactions.set(transactionId, {
      id: transactionId,
      client: conn,
      database,
      pid,
      begunAt: t,
      lastUsedAt: t,
      busy: false,
      running: undefined,
    });
    return { $metadata: metadata(), transactionId };
  }

  async function finish(id: string | undefined, command: "COMMIT" | "ROLLBACK"): Promise<void> {
    if (id === undefined || id === "") throw badRequest("Transaction ID is required");
    const tx = await claim(id);
    transactions.delete(id);
    remember(id, ENDED_BY_CALL);
    try {
      await tx.client.query(command);
      tx.client.release();
    } catch (error) {
      tx.client.release(true);
      throw toDataApiError(error);
    }
  }

  mock.on(ExecuteStatementCommand).callsFake(async (input: ExecuteStatementCommandInput) => {
    await admit(
      {
        command: "ExecuteStatement",
        ...(input.sql === undefined ? {} : { sql: input.sql }),
        ...(input.parameters === undefined ? {} : { parameters: input.parameters }),
        ...(input.transactionId === undefined ? {} : { transactionId: input.transactionId }),
      },
      input,
    );
    return handleExecute(input);
  });
  mock.on(BatchExecuteStatementCommand).callsFake(async (input: BatchExecuteStatementCommandInput) => {
    await admit(
      {
        command: "BatchExecuteStatement",
        ...(input.sql === undefined ? {} : { sql: input.sql }),
        ...(input.parameterSets === undefined ? {} : { parameterSets: input.parameterSets }),
        ...(input.transactionId === undefined ? {} : { transactionId: input.transactionId }),
      },
      input,
    );
    return handleBatch(input);
  });
  mock.on(BeginTransactionCommand).callsFake(async (input: BeginTransactionCommandInput) => {
    await admit({ command: "BeginTransaction" }, input);
    return handleBegin(input);
  });
  mock
    .on(CommitTransactionCommand)
    .callsFake(async (input: CommitTransactionCommandInput): Promise<CommitTransactionCommandOutput> => {
      await admit(
        {
          command: "CommitTransaction",
          ...(input.transactionId === undefined ? {} : { transactionId: input.transactionId }),
        },
        input,
      );
      await finish(input.transactionId, "COMMIT");
      return { $metadata: metadata(), transactionStatus: "Transaction Committed" };
    });
  mock
    .on(RollbackTransactionCommand)
    .callsFake(async (input: RollbackTransactionCommandInput): Promise<RollbackTransactionCommandOutput> => {
      await admit(
        {
          command: "RollbackTransaction",
          ...(input.transactionId === undefined ? {} : { transactionId: input.transactionId }),
        },
        input,
      );
      await finish(input.transactionId, "ROLLBACK");
      return { $metadata: metadata(), transactionStatus: "Rollback Complete" };
    });

  return {
    client,
    limits,
    faults: {
      inject(spec) {
        const times = spec.times ?? 1;
        if (!(times >= 0)) throw new Error(`fault times must be >= 0, got ${times}`);
        const fault = { spec, remaining: times, hits: 0 };
        faults.push(fault);
        return {
          get hits() {
            return fault.hits;
          },
          remove() {
            const i = faults.indexOf(fault);
            if (i >= 0) faults.splice(i, 1);
          },
        };
      },
      clear() {
        faults.length = 0;
      },
    },
    close: async () => {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      await Promise.all([...background]);
      for (const tx of [...transactions.values()]) await endTransaction(tx, ENDED_BY_CALL);
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

/**
 * The bytes of one result row as the database returns it: the UTF-8 text of each value (bytea
 * counted as its bytes, NULL as nothing) - the measure of the 64 KB row limit.
 */
function rowBytes(row: readonly (string | null)[], types: readonly PgType[]): number {
  let bytes = 0;
  row.forEach((raw, i) => {
    if (raw === null) return;
    if (types[i]?.name === "bytea" && raw.startsWith("\\x")) bytes += (raw.length - 2) / 2;
    else bytes += Buffer.byteLength(raw, "utf8");
  });
  return bytes;
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
  conn: pg.PoolClient,
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
      // Each catalog row by its key (index lookups): a join could read all of pg_class, and the
      // catalog-scoping test counts the catalog rows a transaction reads, these included.
      `SELECT a.attrelid::int AS relid, a.attnum::int AS attnum, a.attnotnull,
              (SELECT c.relname FROM pg_class c WHERE c.oid = a.attrelid) AS relname,
              (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.oid = a.attrelid) AS nspname,
              coalesce((SELECT pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%' FROM pg_attrdef d
                WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum), false) OR a.attidentity <> '' AS serial
         FROM pg_attribute a
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
  // Errors the Data API raised itself pass as they are.
  if (error instanceof RDSDataServiceException) return error;
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
