/**
 * How every Lambda of the service is bundled. The CDK constructs (NodejsFunction) and
 * `bench/bundle-size.ts` both read these options, so the sizes the bench prints are the sizes
 * that deploy.
 */
import { fileURLToPath } from "node:url";
import { type BundlingOptions, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import type { BuildOptions } from "esbuild";
import type { EnvironmentVariable, LambdaEnvironment } from "../functions/shared/config.ts";

/** The repository root (where package-lock.json, `functions/`, `migrations/` live). */
export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The Node.js of the Lambda runtime (nodejs24.x, LAMBDA_RUNTIME); esbuild emits syntax for exactly that. */
export const NODE_TARGET = "node24";

/**
 * Modules left out of every bundle:
 * - `@aws-sdk/*`: the nodejs24.x runtime ships AWS SDK v3 (CDK's default for Node 18+), which keeps
 *   the bundles small and cold starts short;
 * - the PGlite and node-postgres drivers: `openDatabase` imports them lazily and only for the local
 *   `pglite` / `postgres` configurations, while a Lambda always runs with the Data API one. Their
 *   Drizzle adapters are listed too, otherwise esbuild would hoist a static import of the driver
 *   to the top of the ESM bundle and the module would fail to load.
 */
export const EXTERNAL_MODULES: readonly string[] = [
  "@aws-sdk/*",
  "@electric-sql/pglite",
  "@electric-sql/pglite/*",
  "drizzle-orm/pglite",
  "drizzle-orm/node-postgres",
  "pg",
  "pg-native",
];

/** ESM bundles of CommonJS dependencies still call `require` for Node built-ins. */
export const ESM_BANNER =
  'import { createRequire as __bundleCreateRequire } from "node:module"; const require = __bundleCreateRequire(import.meta.url);';

export const MAIN_FIELDS: readonly string[] = ["module", "main"];

/**
 * Directories copied next to `index.mjs` in every bundle, and where the code finds them in the
 * Lambda (the environment variables `functions/` reads). Every function gets them: which modules
 * read files is transitive (template validation reads `migrations/tenant/`, the meta group serves
 * `statemachines/`), the files weigh a few kilobytes, and a missing one would only show as ENOENT
 * at run time.
 */
export const BUNDLED_DIRECTORIES = {
  migrations: "MIGRATIONS_DIR",
  statemachines: "STATEMACHINES_DIR",
} as const satisfies Record<string, EnvironmentVariable>;

/** `/var/task` is where Lambda unpacks the bundle. */
export const LAMBDA_TASK_ROOT = "/var/task";

/** The environment that points `functions/` at the bundled directories. */
export function bundledDirectoriesEnvironment(): LambdaEnvironment {
  return Object.fromEntries(
    Object.entries(BUNDLED_DIRECTORIES).map(([dir, variable]) => [variable, `${LAMBDA_TASK_ROOT}/${dir}`]),
  );
}

/** NodejsFunction bundling options. */
export function cdkBundlingOptions(): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: NODE_TARGET,
    minify: true,
    sourceMap: true,
    // Stack traces need the mappings, not the sources: keeps the deployed .map small.
    sourcesContent: false,
    mainFields: [...MAIN_FIELDS],
    banner: ESM_BANNER,
    externalModules: [...EXTERNAL_MODULES],
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (inputDir: string, outputDir: string) =>
        Object.keys(BUNDLED_DIRECTORIES).map((dir) => `cp -R "${inputDir}/${dir}" "${outputDir}/${dir}"`),
    },
  };
}

/** The same bundling as esbuild build options (for measuring bundles outside CDK). */
export function esbuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: NODE_TARGET,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: [...MAIN_FIELDS],
    banner: { js: ESM_BANNER },
    external: [...EXTERNAL_MODULES],
    logLevel: "warning",
  };
}
