/**
 * The CLI run in-process against a test server (its `runCli`, with the server's URL and admin key
 * in its environment and its output collected): what the api project's CLI tests call.
 */
import { runCli } from "../../cli/main.ts";
import type { TestServer } from "./server.ts";

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A `cli(...argv)` against the server `server()` returns, with `env` added to its environment. */
export function cliAgainst(
  server: () => TestServer,
  env: Record<string, string> = {},
): (...argv: string[]) => Promise<CliResult> {
  return async (...argv) => {
    let stdout = "";
    let stderr = "";
    const s = server();
    const code = await runCli({
      argv,
      env: { TENANT_API_URL: s.url, TENANT_API_KEY: s.adminKey, NO_COLOR: "1", ...env },
      cwd: s.dataDir,
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t) },
      stdin: process.stdin,
    });
    return { code, stdout, stderr };
  };
}
