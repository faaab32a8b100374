/**
 * A fresh embedded database starts from a cached image of an empty, migrated one.
 *
 * PGlite creates a new data directory by running initdb in WebAssembly, several seconds of CPU
 * (most of a first `npm start`), and then the service applies its migrations. The first start
 * after an install saves the result, before anything of its own is written (no templates, keys
 * or tenants), as `node_modules/.cache/tenant-provisioning/pglite-<key>.tar`; every later start
 * on an empty data directory unpacks that image instead (PGlite's `loadDataDir`). The key hashes
 * PGlite's version and every migration file, so a new migration or another PGlite never reuses
 * an old image. The cache is only an optimisation: if it cannot be read or written, the start
 * goes on as without it.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const cacheDir = join(root, "node_modules", ".cache", "tenant-provisioning");

/** True when `dataDir` is a directory on disk that PGlite has not initialised yet. */
export function isFreshPgliteDir(dataDir: string): boolean {
  if (/^[a-z]+:\/\//.test(dataDir)) return false; // memory://, idb://: nothing to unpack into
  return !existsSync(dataDir) || readdirSync(dataDir).length === 0;
}

/** Where the image for this PGlite and these migrations lives (undefined if that can't be told). */
export function starterImagePath(): string | undefined {
  try {
    const hash = createHash("sha256");
    // PGlite's entry point is dist/index.cjs; its package.json (not exported) is one level up.
    const dist = dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite"));
    const pglite = JSON.parse(readFileSync(join(dist, "..", "package.json"), "utf8")) as { version: string };
    hash.update(`pglite ${pglite.version}\n`);
    for (const dir of [join(root, "migrations"), join(root, "migrations", "tenant")]) {
      const files = readdirSync(dir).filter((n) => n.endsWith(".sql"));
      for (const name of files.sort()) hash.update(`${dir}/${name}\n`).update(readFileSync(join(dir, name)));
    }
    return join(cacheDir, `pglite-${hash.digest("hex").slice(0, 16)}.tar`);
  } catch {
    return undefined;
  }
}

/** The cached image, or undefined when there is none (or it cannot be read). */
export function readStarterImage(path: string): Blob | undefined {
  try {
    return new Blob([readFileSync(path)]);
  } catch {
    return undefined;
  }
}

/** Saves `image` at `path` through a temporary file and a rename (two starts at once are fine). */
export async function saveStarterImage(path: string, image: Blob): Promise<boolean> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(tmp, Buffer.from(await image.arrayBuffer()), { mode: 0o600 });
    renameSync(tmp, path);
    return true;
  } catch {
    rmSync(tmp, { force: true });
    return false;
  }
}
