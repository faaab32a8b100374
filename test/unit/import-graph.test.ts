/**
 * The module graph of `functions/`: dependencies flow one way (entry points → domain → data
 * access), so no module imports, directly or through others, a module that imports it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../functions/", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** Relative imports and re-exports of each module, type-only ones included. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  return new Map(
    files.map((file) => {
      const text = readFileSync(file, "utf8");
      const targets = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/g)]
        .map((m) => resolve(dirname(file), m[1]!))
        .filter((target) => known.has(target));
      return [file, targets];
    }),
  );
}

/** Every cycle found by a depth-first walk, as a path of module names. */
function cycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found.map((c) => c.map((f) => relative(ROOT, f)));
}

describe("functions/ import graph", () => {
  const graph = importGraph(sources(ROOT));

  it("reads the imports (the check would find a cycle)", () => {
    // The walk finds a cycle when there is one: a two-module loop made up here.
    const a = join(ROOT, "a.ts");
    const b = join(ROOT, "b.ts");
    expect(
      cycles(
        new Map([
          [a, [b]],
          [b, [a]],
        ]),
      ),
    ).toEqual([["a.ts", "b.ts", "a.ts"]]);
    expect(graph.get(join(ROOT, "domain/runs/run-control.ts"))).toContain(
      join(ROOT, "domain/runs/registry.ts"),
    );
  });

  it("has no import cycle", () => {
    expect(cycles(graph)).toEqual([]);
  });
});
