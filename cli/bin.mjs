#!/usr/bin/env node
// `tenant-provisioning`: runs the bundle `npm run build:cli` makes (dist/cli.mjs, built by
// `npm ci` through the prepare script), or the TypeScript sources through tsx when there is no
// bundle (or TENANT_CLI_FROM_SOURCE=1, while working on the CLI).
import { existsSync } from "node:fs";

const bundle = new URL("../dist/cli.mjs", import.meta.url);
let cli;
if (existsSync(bundle) && process.env.TENANT_CLI_FROM_SOURCE !== "1") {
  cli = await import(bundle.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import("./main.ts");
}
await cli.main();
