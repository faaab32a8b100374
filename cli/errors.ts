/**
 * The CLI's errors and exit codes. Every failure the CLI reports is one of these classes; `main.ts`
 * maps each to its exit code and writes its message on stderr.
 */

/** Exit codes, documented in `--help` and docs/cli.md. Scripts depend on them: never renumber. */
export const EXIT = {
  ok: 0,
  apiError: 1,
  usage: 2,
  notFound: 3,
  runFailed: 4,
  unreachable: 5,
  declined: 6,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  API error (the API answered 4xx or 5xx; its message and field on stderr)
  2  usage error (unknown command, missing or invalid flag; the command's help on stderr)
  3  not found (the API answered 404)
  4  run failed or cancelled (--watch)
  5  cannot reach the API
  6  not confirmed (a question before deleting was answered no); nothing was changed
  130  interrupted by Ctrl-C (a watch stops; the run goes on)`;

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/** Bad command line: unknown command, missing or invalid flag. `command` names whose help to print. */
export class UsageError extends Error {
  readonly command: readonly string[];
  constructor(message: string, command: readonly string[] = []) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** The API answered with an error status; `fields` comes from `details.fields` of its error body. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: readonly FieldIssue[];
  constructor(status: number, code: string, message: string, fields: readonly FieldIssue[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

/** No HTTP answer at all: connection refused, DNS failure, timeout. */
export class ApiUnreachableError extends Error {
  readonly url: string;
  constructor(url: string, reason: string, options?: ErrorOptions) {
    super(`cannot reach the API at ${url}: ${reason}`, options);
    this.name = "ApiUnreachableError";
    this.url = url;
  }
}

/** The API answered 2xx with a body the CLI's schema does not accept (a CLI older than the server). */
export class UnexpectedResponseError extends Error {
  constructor(what: string, issues: string) {
    super(
      `the API's answer to ${what} does not match the CLI's schema (${issues}); ` +
        "is the CLI older than the server? --json prints the answer as it came",
    );
    this.name = "UnexpectedResponseError";
  }
}

/** A watched run ended failed or cancelled (exit 4); its details were already shown. */
export class RunFailedError extends Error {
  readonly status: string;
  constructor(runId: string, status: string) {
    super(`run ${runId} ${status}`);
    this.name = "RunFailedError";
    this.status = status;
  }
}

/** The operator answered no to a confirmation question (exit 6): nothing was sent. */
export class DeclinedError extends Error {
  constructor(message = "not confirmed; nothing was changed") {
    super(message);
    this.name = "DeclinedError";
  }
}

/** The operator interrupted an interactive prompt or a watch (Ctrl-C). */
export class InterruptedError extends Error {
  constructor(message = "interrupted") {
    super(message);
    this.name = "InterruptedError";
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof ApiError) return error.status === 404 ? EXIT.notFound : EXIT.apiError;
  if (error instanceof ApiUnreachableError) return EXIT.unreachable;
  if (error instanceof RunFailedError) return EXIT.runFailed;
  if (error instanceof DeclinedError) return EXIT.declined;
  if (error instanceof InterruptedError) return 130;
  return EXIT.apiError;
}
