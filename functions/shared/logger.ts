/**
 * Structured JSON logs (one line per entry, CloudWatch-friendly). Never log secrets or personal
 * data: callers pass only identifiers and outcomes, and errors are logged without the values a
 * failed query carried (see `serialiseError`).
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * drizzle's DrizzleQueryError message is `Failed query: <sql>\nparams: <values>`: the SQL is
 * parameterised and safe to log, the values are the request's (names, e-mail addresses).
 */
const QUERY_PARAMS = /\nparams:[\s\S]*$/;

/**
 * An anonymous code block's text (`DO $tag$ … $tag$`: a step's work and its completion mark as one
 * statement, functions/domain/steps/run-step.ts) holds its values written in as literals — it can
 * take no parameters — so a failed one is logged without its text.
 */
const INLINED_BLOCK = /^Failed query: DO [\s\S]*$/;

/**
 * An error as a log field: name, message without query parameters, SQLSTATE, stack frames (the
 * stack's first lines repeat the message, parameters included) and the same for its causes. A
 * driver error's `detail` ("Key (email)=(…) already exists") and `where` hold values: left out.
 */
export function serialiseError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return value;
  const code = (value as { code?: unknown }).code;
  const frames = value.stack
    ?.split("\n")
    .filter((line) => /^\s+at /.test(line))
    .join("\n");
  return {
    name: value.name,
    message: value.message
      .replace(QUERY_PARAMS, "")
      .replace(INLINED_BLOCK, "Failed query: DO block (its text holds values and is not logged)"),
    ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
    ...(frames ? { stack: frames } : {}),
    ...(value.cause !== undefined && depth < 4 ? { cause: serialiseError(value.cause, depth + 1) } : {}),
  };
}

/** A logger writing JSON lines to `write` (stderr by default) at or above `level`. */
export function createLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  const log =
    (l: Exclude<LogLevel, "silent">) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      if (ORDER[l] < ORDER[level]) return;
      const entry: Record<string, unknown> = { time: new Date().toISOString(), level: l, message };
      for (const [k, v] of Object.entries(fields)) entry[k] = serialiseError(v);
      write(JSON.stringify(entry));
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

export const silentLogger: Logger = createLogger("silent");
