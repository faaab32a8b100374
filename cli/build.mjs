// `npm run build:cli`: bundles the CLI (zod and the API's schemas included) into dist/cli.mjs.
// Written to a temporary file and renamed, so a CLI started while it is rebuilt (tests run in
// parallel) never loads half a file.
//
// `--if-possible` (the prepare script, run by `npm ci`): without esbuild (an install without dev
// dependencies) say so and succeed; cli/bin.mjs then runs the sources through tsx.
import { mkdirSync, renameSync } from "node:fs";

let esbuild;
try {
  esbuild = await import("esbuild");
} catch (error) {
  if (!process.argv.includes("--if-possible")) throw error;
  process.stderr.write("build:cli: esbuild is not installed; the CLI will run from its sources (tsx)\n");
  process.exit(0);
}

const outfile = new URL("../dist/cli.mjs", import.meta.url).pathname;
const temporary = `${outfile}.${process.pid}.tmp`;
mkdirSync(new URL("../dist/", import.meta.url), { recursive: true });
await esbuild.build({
  entryPoints: [new URL("./main.ts", import.meta.url).pathname],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: temporary,
  legalComments: "none",
  logLevel: "warning",
  // Bundled CommonJS code may call require(); an ES module has none of its own.
  banner: {
    js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
  },
});
renameSync(temporary, outfile);
