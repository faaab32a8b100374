/**
 * The web console names the API only through the contract module generated from the route table
 * (functions/http/console-contract.ts): every operation it calls or checks, every `/api/` path it
 * writes, every enum and export it takes from `contract.js` must exist there — a renamed route or a
 * typo fails here, not as a page that silently disappears. The scanner is checked on a sample that
 * has each kind of mistake, so a scanner that finds nothing cannot pass for a clean console.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { consoleContract } from "../../functions/http/console-contract.ts";
import { routeList } from "../../functions/http/route-table.ts";

const CONSOLE = fileURLToPath(new URL("../../console/", import.meta.url));

function consoleFiles(dir: string = CONSOLE): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return consoleFiles(path);
    return entry.name.endsWith(".js") ? [path] : [];
  });
}

/** `/api/provisioning/tenants/${id}/backups` matches the route path `/api/provisioning/tenants/{id}/backups`. */
function matchesRoute(path: string, routePath: string): boolean {
  const want = path.split("?")[0]!.replace(/\/+$/, "").split("/");
  const have = routePath.split("/");
  return (
    want.length === have.length &&
    want.every((seg, i) => seg === have[i] || (/^\{\w+\}$/.test(have[i]!) && seg !== ""))
  );
}

interface Finding {
  readonly file: string;
  readonly what: string;
}

/** Everything in `text` that names the API but is not in the contract. */
function problems(file: string, text: string): Finding[] {
  const contract = consoleContract();
  const routes = routeList();
  const found: Finding[] = [];
  // Paths written out: template literals' `${…}` count as one path segment.
  for (const m of text.matchAll(/\/api\/[\w\-/{}.$]*/g)) {
    const path = m[0].replace(/\$\{[^}]*\}/g, "{param}").replace(/\$$/, "");
    if (!routes.some((r) => matchesRoute(path, r.path))) found.push({ file, what: `path ${m[0]}` });
  }
  // Operations named by id: call("x"), can("x"), pathOf("x"), operation("x"), { operation: "x" }.
  for (const m of text.matchAll(
    /\b(?:call|can|pathOf|operation)\(\s*["'](\w+)["']|\boperation:\s*["'](\w+)["']/g,
  )) {
    const id = m[1] ?? m[2]!;
    if (!Object.hasOwn(contract.OPERATIONS, id)) found.push({ file, what: `operation ${id}` });
  }
  for (const m of text.matchAll(/\bENUMS\.(\w+)/g)) {
    if (!Object.hasOwn(contract.ENUMS, m[1]!)) found.push({ file, what: `enum ${m[1]}` });
  }
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*["'][./]*contract\.js["']/g)) {
    for (const name of m[1]!
      .split(",")
      .map((n) => n.trim())
      .filter(Boolean)) {
      if (!Object.hasOwn(contract, name)) found.push({ file, what: `contract export ${name}` });
    }
  }
  // Feature detection from the OpenAPI document is what the contract replaced.
  if (/openapi\.json|hasOperation|availableOperations/.test(text)) {
    found.push({ file, what: "feature detection through the OpenAPI document" });
  }
  return found;
}

describe("the console and the route table", () => {
  it("names no path, operation, enum or contract export the route table and schemas lack", () => {
    // Act
    const files = consoleFiles();
    const found = files.flatMap((f) => problems(relative(CONSOLE, f), readFileSync(f, "utf8")));

    // Assess
    expect(files.length).toBeGreaterThan(10);
    expect(found).toEqual([]);
  });

  it("calls the API through the contract: operations by name, no path written by hand", () => {
    // Act
    const text = consoleFiles()
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const called = new Set([...text.matchAll(/\bcall\(\s*"(\w+)"/g)].map((m) => m[1]!));
    const handWritten = [...text.matchAll(/["'`]\/api\//g)];

    // Assess: the pages reach the operations they show, and build no URL themselves
    for (const op of [
      "listProgress",
      "getProgress",
      "listTenants",
      "deprovisionTenant",
      "restoreTemplate",
      "whoami",
    ]) {
      expect(called, op).toContain(op);
    }
    expect(handWritten).toEqual([]);
  });

  it("finds each kind of mistake (the scanner can fail)", () => {
    // Prepare: a page with a path, an operation, an enum and an export the contract lacks
    const id = "$" + "{id}"; // a template literal's placeholder, as the console's source has it
    const sample = [
      'import { OPERATIONS, RUN_STATES } from "./contract.js";',
      `fetch(\`/api/provisioning/tenant/${id}/backups\`);`,
      'await call("listTenant", {});',
      'if (can("deprovisionTenants")) {}',
      'const SECTION = { operation: "getStats" };',
      "ENUMS.runStatus.map(x => x);",
      'const doc = await fetch("/api/openapi.json");',
      // and some that are right
      `fetch(\`/api/provisioning/tenants/${id}/backups\`);`,
      'await call("listTenants", {});',
    ].join("\n");

    // Act
    const found = problems("sample.js", sample).map((f) => f.what);

    // Assess
    expect(found).toEqual([
      `path /api/provisioning/tenant/${id}/backups`,
      "operation listTenant",
      "operation deprovisionTenants",
      "operation getStats",
      "enum runStatus",
      "contract export RUN_STATES",
      "feature detection through the OpenAPI document",
    ]);
  });
});
