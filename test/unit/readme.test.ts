/**
 * The README stays true to the code: its configuration table lists every environment variable
 * `functions/shared/config.ts` reads, and its API table every route of the route table (and
 * nothing the route table lacks).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { routeList } from "../../functions/http/route-table.ts";
import { ENVIRONMENT_VARIABLES } from "../../functions/shared/config.ts";

const README = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");
const API_PREFIX = "/api/provisioning";

/** The rows of the first table under the heading `## <title>`. */
function tableRows(markdown: string, title: string): string[][] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith(`${title}\n`));
  if (!section) throw new Error(`README has no section ${title}`);
  const lines = section.split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** `GET /templates/:id` → `GET /api/provisioning/templates/{id}`; paths under /api/ other than it kept. */
function routeKey(method: string, path: string): string {
  const full = path.startsWith("/api/") ? path : `${API_PREFIX}${path}`;
  return `${method} ${full.replace(/:(\w+)/g, "{$1}")}`;
}

/** Every `METHOD /path` written in the first column of the API table. */
function documentedRoutes(markdown: string): string[] {
  return tableRows(markdown, "API").flatMap(([first = ""]) =>
    [...first.matchAll(/`(GET|POST|PUT|DELETE) (\/[^`\s]*)`/g)].map((m) => routeKey(m[1]!, m[2]!)),
  );
}

/** Every variable named in the first column of the configuration table. */
function documentedVariables(markdown: string): string[] {
  return tableRows(markdown, "Configuration").flatMap(([first = ""]) =>
    [...first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!),
  );
}

describe("README", () => {
  it("lists every environment variable the configuration reads, and no other", () => {
    // Act
    const documented = documentedVariables(README);

    // Assess
    expect(ENVIRONMENT_VARIABLES.length).toBeGreaterThan(15);
    expect([...documented].sort()).toEqual([...ENVIRONMENT_VARIABLES].sort());
  });

  it("lists every route of the route table in the API table, and no other", () => {
    // Act
    const documented = documentedRoutes(README);
    const routes = routeList().map((r) => `${r.method} ${r.path}`);

    // Assess
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...routes].sort());
  });

  it("reads both tables the way a change would be caught (the parsers can fail)", () => {
    // Prepare: a README with a variable and a route too few, and one the code lacks
    const sample = [
      "## Configuration",
      "",
      "| variable | default | meaning |",
      "|---|---|---|",
      "| `PORT` | `3000` | port |",
      "| `DB_CLUSTER_ARN`, `DB_NAME` | — | Aurora |",
      "",
      "## API",
      "",
      "| method and path | what |",
      "|---|---|",
      "| `GET /templates` (`?category=`) | list |",
      "| `POST /templates`, `DELETE /templates/:id` | create; delete |",
      "| `GET /api/health` (no key) | health |",
      "",
    ].join("\n");

    // Act
    const variables = documentedVariables(sample);
    const routes = documentedRoutes(sample);

    // Assess
    expect(variables).toEqual(["PORT", "DB_CLUSTER_ARN", "DB_NAME"]);
    expect(routes).toEqual([
      "GET /api/provisioning/templates",
      "POST /api/provisioning/templates",
      "DELETE /api/provisioning/templates/{id}",
      "GET /api/health",
    ]);
    expect(variables.sort()).not.toEqual([...ENVIRONMENT_VARIABLES].sort());
  });
});
