/**
 * docs/cli.md says the CLI does every operation of the API but five: each route of the route
 * table is called by some command (`api.call("<operationId>", …)`), so a new endpoint without a
 * command fails here rather than making the documentation untrue.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type OperationId, routeList } from "../../functions/http/route-table.ts";

const COMMANDS = fileURLToPath(new URL("../../cli/commands/", import.meta.url));

/**
 * Not for a terminal: the OpenAPI document, the event catalogue (JSON Schemas, like the OpenAPI
 * document), the health check, the state machine definitions, and accepting an admin invitation
 * (the invited admin's set-password page calls it with the token, not an operator with a key).
 */
const NOT_IN_THE_CLI: readonly OperationId[] = [
  "getOpenApi",
  "getEventCatalogue",
  "acceptInvitation",
  "getHealth",
  "getWorkflowDefinition",
];

function calledOperations(): Set<string> {
  const text = readdirSync(COMMANDS)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => readFileSync(join(COMMANDS, f), "utf8"))
    .join("\n");
  return new Set([...text.matchAll(/\.call\(\s*"(\w+)"/g)].map((m) => m[1]!));
}

describe("the CLI and the route table", () => {
  it("has a command for every operation of the API but the five documented ones", () => {
    // Act
    const called = calledOperations();
    const missing = routeList()
      .map((r) => r.operationId)
      .filter((op) => !called.has(op) && !NOT_IN_THE_CLI.includes(op));

    // Assess
    expect(called.size).toBeGreaterThan(20);
    expect(missing).toEqual([]);
    for (const op of NOT_IN_THE_CLI) expect(called.has(op), op).toBe(false);
  });
});
