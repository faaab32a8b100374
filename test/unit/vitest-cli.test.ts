/**
 * `npm test -- --grep PATTERN` (the product document's command) runs the tests whose name matches:
 * test/vitest-cli.mjs maps `--grep` to vitest's `--testNamePattern` and passes everything else on.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module without types (it runs before anything is compiled)
import { vitestArgs } from "../vitest-cli.mjs";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const THIS_FILE = "test/unit/vitest-cli.test.ts";

describe("npm test -- --grep", () => {
  it("maps --grep PATTERN and --grep=PATTERN to vitest's --testNamePattern, the rest unchanged", () => {
    expect(vitestArgs([])).toEqual(["run"]);
    expect(vitestArgs(["--grep", "provisioning"])).toEqual(["run", "--testNamePattern", "provisioning"]);
    expect(vitestArgs(["--grep=retry step", "--project", "unit"])).toEqual([
      "run",
      "--testNamePattern",
      "retry step",
      "--project",
      "unit",
    ]);
    expect(vitestArgs(["-t", "x", "test/unit"])).toEqual(["run", "-t", "x", "test/unit"]);
    expect(vitestArgs(["--", "--grep", "x"])).toEqual(["run", "--", "--grep", "x"]);
  });

  // Never in the child run itself (its name does not match the pattern either): no recursion.
  it.skipIf(process.env.TP_GREP_CHILD === "1")(
    "runs through npm test only the tests whose name matches",
    async () => {
      // Act: the documented command, narrowed to this file in the unit project
      const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = spawn(
          "npm",
          ["test", "--silent", "--", "--grep", "grep-probe", "--project", "unit", THIS_FILE],
          { cwd: REPO, env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", TP_GREP_CHILD: "1" } },
        );
        let out = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString("utf8");
        });
        child.stderr.on("data", (c: Buffer) => {
          out += c.toString("utf8");
        });
        child.once("error", reject);
        child.once("close", (code) => resolve({ code, out }));
      });

      // Assess: the probe ran, the two others here were skipped
      expect(result.code, result.out).toBe(0);
      expect(result.out).toMatch(/Tests\s+1 passed \| 2 skipped/);
      expect(result.out).not.toContain("CACError");
    },
  );

  it("grep-probe: runs only when selected by name", () => {
    expect(vitestArgs(["--grep", "grep-probe"])).toContain("grep-probe");
  });
});
