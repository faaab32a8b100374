/**
 * The data directory holds the embedded database (its WAL carries password hashes and tenant
 * data), the admin key, the backup and webhook-secret keys and the backups: only the service's own
 * user may read any of it — directories 0700, files 0600.
 *
 * Three things make that hold: the umask (077) covers what Node and PGlite create from now on;
 * tightening at start covers a directory an older version left open; and tightening again once the
 * database is open covers PGlite's first start, which unpacks its initial database with mode 0666
 * set explicitly (the umask does not apply to a chmod). Files Postgres creates afterwards are 0600
 * by its own choice, and everything sits inside the 0700 directory from the first moment.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isMainThread } from "node:worker_threads";

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * Before anything is written: sets the process umask to 077, creates `dataDir` (0700) if missing
 * and tightens what is already in it (`tightenDataDir`).
 */
export function secureDataDir(dataDir: string): void {
  // A worker thread cannot change the umask (Node throws); the process that started it sets it.
  if (isMainThread) process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: DIRECTORY_MODE });
  tightenDataDir(dataDir);
}

/**
 * Takes group and other access off everything under `dataDir`: directories 0700, files 0600 (a
 * file already stricter, such as 0400, is left as it is). Symbolic links are not followed.
 */
export function tightenDataDir(dataDir: string): void {
  const stat = lstatSync(dataDir, { throwIfNoEntry: false });
  if (!stat || stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== DIRECTORY_MODE) chmodSync(dataDir, DIRECTORY_MODE);
    for (const entry of readdirSync(dataDir)) tightenDataDir(join(dataDir, entry));
  } else if ((stat.mode & 0o077) !== 0) {
    chmodSync(dataDir, FILE_MODE);
  }
}
