/**
 * `npm start`: runs local/main.ts from one bundled file, so that a start does not transpile and
 * resolve the ~150 TypeScript modules of the service one by one (what `node --import tsx` does on
 * every start; `npm run bench:startup` prints both).
 *
 * The bundle (`node_modules/.cache/tenant-provisioning/main.mjs`, packages left external) is rebuilt
 * with esbuild when it is missing or older than any .ts file under functions/ or local/, written to
 * a temporary file and renamed, so two starts at once never read a half-written bundle. Each
 * module's `import.meta.url` is replaced by its own source file's URL, so the paths the service
 * resolves from its modules (migrations/, statemachines/, console/) stay what they are unbundled.
 * If esbuild is unavailable or the build fails, the service starts through tsx as before.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const entry = join(root, "local", "main.ts");
const bundle = join(root, "node_modules", ".cache", "tenant-provisioning", "main.mjs");

/** The newest modification time of the .ts files under `dir` (ms), 0 if none. */
function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  let built;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return false;
  }
  return built >= Math.max(newestSource(join(root, "functions")), newestSource(join(root, "local")));
}

async function buildBundle() {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    write: false,
    logLevel: "silent",
    plugins: [
      {
        // The Lambda entry points load their production dependencies (and with them the SFN,
        // Scheduler and KMS clients, ~150 ms) by a dynamic import on their first invocation, which
        // the local server never makes. Bundled, that import would be inlined and its packages'
        // imports hoisted to the top of the bundle, loaded at every start; left out, it stays a
        // dynamic import of the source file that nothing here ever runs.
        name: "lambda-production-deps-stay-out",
        setup(b) {
          b.onResolve({ filter: /production-deps\.ts$/ }, (args) =>
            args.kind === "dynamic-import"
              ? { path: pathToFileURL(join(args.resolveDir, args.path)).href, external: true }
              : undefined,
          );
        },
      },
      {
        name: "source-import-meta-url",
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => ({
            contents: readFileSync(args.path, "utf8").replaceAll(
              "import.meta.url",
              JSON.stringify(pathToFileURL(args.path).href),
            ),
            loader: "ts",
          }));
        },
      },
    ],
  });
  mkdirSync(dirname(bundle), { recursive: true });
  const tmp = `${bundle}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, bundle);
}

let target = pathToFileURL(bundle).href;
if (!bundleIsFresh()) {
  try {
    await buildBundle();
  } catch (error) {
    process.stderr.write(
      `note: starting without a bundle (${error instanceof Error ? error.message : error})\n`,
    );
    const { register } = await import("tsx/esm/api");
    register();
    target = pathToFileURL(entry).href;
  }
}
await import(target);
