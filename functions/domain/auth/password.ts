/**
 * Password hashing. The API hashes the admin password before a run starts, so the password itself
 * never reaches the workflow, its history, the logs or the database.
 *
 * New hashes are argon2id at OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1; OWASP Password
 * Storage Cheat Sheet), in the PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
 * that the tenant application's argon2 library verifies as it is. The implementation is
 * WebAssembly (hash-wasm), so the same code runs on this machine and in an arm64 Lambda without a
 * native binary. Hashes written before (`scrypt$N$r$p$salt$hash`, scrypt N=2^14) still verify;
 * `needsRehash` tells a caller holding the password to replace one.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { argon2id, argon2Verify } from "hash-wasm";

/** OWASP's argon2id minimum: 19 MiB of memory, 2 iterations, 1 lane. */
export const ARGON2ID = { memorySize: 19 * 1024, iterations: 2, parallelism: 1, hashLength: 32 } as const;
const SALT_BYTES = 16;

/** `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (PHC string format, unpadded base64). */
export async function hashPassword(password: string): Promise<string> {
  return argon2id({ password, salt: randomBytes(SALT_BYTES), ...ARGON2ID, outputType: "encoded" });
}

const scrypt = promisify(scryptCb) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: object,
) => Promise<Buffer>;

/** Hashes of the earlier format: `scrypt$N$r$p$salt$hash` (base64). */
async function verifyScrypt(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const actual = await scrypt(password, Buffer.from(salt, "base64"), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(actual, expected);
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith("$argon2id$")) {
    try {
      return await argon2Verify({ password, hash: stored });
    } catch {
      return false; // a malformed PHC string
    }
  }
  return verifyScrypt(password, stored);
}

/** Whether a stored hash is weaker than what `hashPassword` writes now (rehash it at the next login). */
export function needsRehash(stored: string): boolean {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
  if (!m) return true;
  return Number(m[1]) < ARGON2ID.memorySize || Number(m[2]) < ARGON2ID.iterations;
}
