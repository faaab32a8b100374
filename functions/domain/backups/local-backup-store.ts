/**
 * The local backup store: files under `$DATA_DIR/backups/`, each encrypted with AES-256-GCM under
 * the key in `$DATA_DIR/backup.key` (32 random bytes, generated on first start, mode 0600). Nothing
 * is ever written in clear: a file is `TPB1` | 12-byte IV | 16-byte tag | ciphertext, and the
 * object's name is authenticated with it, so a tampered, truncated, renamed or foreign file fails
 * to decrypt instead of restoring wrong data.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { ValidationError } from "../../shared/errors.ts";
import { assertObjectName, type BackupStore, type StoredObject } from "./backup-store.ts";

export const BACKUP_KEY_FILE = "backup.key";
const MAGIC = Buffer.from("TPB1", "ascii");
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Reads `$DATA_DIR/backup.key`, creating it (0600, exclusive create) on first start. A key file
 * that is not 32 bytes of base64 is an error, never silently replaced: the backups need it.
 */
export function loadOrCreateBackupKey(dataDir: string): Buffer {
  const path = join(dataDir, BACKUP_KEY_FILE);
  mkdirSync(dataDir, { recursive: true });
  if (!existsSync(path)) {
    try {
      writeFileSync(path, `${randomBytes(KEY_BYTES).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    } catch (error) {
      // Another process created it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  const key = Buffer.from(readFileSync(path, "utf8").trim(), "base64");
  if (key.length !== KEY_BYTES) throw new Error(`${path} does not hold a ${KEY_BYTES}-byte base64 key`);
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return key;
}

/** A non-secret reference to a key (so a backup names the key it needs without revealing it). */
export function keyFingerprint(key: Buffer): string {
  return createHash("sha256").update("tenant-backup-key").update(key).digest("hex").slice(0, 16);
}

export class LocalBackupStore implements BackupStore {
  readonly kind = "local" as const;
  private readonly fingerprint: string;

  constructor(
    private readonly dir: string,
    private readonly key: Buffer,
  ) {
    if (key.length !== KEY_BYTES) throw new Error(`backup key must be ${KEY_BYTES} bytes`);
    this.fingerprint = keyFingerprint(key);
  }

  /** The store of a data directory: `<dataDir>/backups/` under `<dataDir>/backup.key`. */
  static forDataDir(dataDir: string): LocalBackupStore {
    return new LocalBackupStore(join(dataDir, "backups"), loadOrCreateBackupKey(dataDir));
  }

  /** The file that holds an object (tests read it to prove nothing is in clear). */
  pathOf(location: string): string {
    assertObjectName(location);
    return join(this.dir, location);
  }

  async put(name: string, body: Uint8Array): Promise<StoredObject> {
    const path = this.pathOf(name);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(name, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(body), cipher.final()]);
    const file = Buffer.concat([MAGIC, iv, cipher.getAuthTag(), ciphertext]);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, file, { mode: 0o600 });
    renameSync(tmp, path);
    return {
      store: "local",
      location: name,
      encryption: { algorithm: "AES-256-GCM", keyFingerprint: this.fingerprint, format: "TPB1" },
    };
  }

  async get(location: string): Promise<Uint8Array> {
    const path = this.pathOf(location);
    if (!existsSync(path)) throw new ValidationError(`backup object ${location} does not exist`);
    const file = readFileSync(path);
    if (file.length < MAGIC.length + IV_BYTES + TAG_BYTES || !file.subarray(0, 4).equals(MAGIC)) {
      throw new ValidationError(`backup object ${location} is not an encrypted backup`);
    }
    const iv = file.subarray(4, 4 + IV_BYTES);
    const tag = file.subarray(4 + IV_BYTES, 4 + IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", this.key, iv);
    decipher.setAAD(Buffer.from(location, "utf8"));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(file.subarray(4 + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch (error) {
      throw new ValidationError(
        `backup object ${location} failed to decrypt: it was modified or was written under another key`,
        { cause: error },
      );
    }
  }

  async delete(location: string): Promise<void> {
    try {
      unlinkSync(this.pathOf(location));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}
