/**
 * Where tenant backups are kept. Backups hold personal data, so every store encrypts at rest:
 * locally AES-256-GCM under a key in `$DATA_DIR` (local-backup-store.ts), in AWS S3 with SSE-KMS
 * (s3-backup-store.ts). Objects are opaque bytes here (a gzip-compressed export, see
 * tenant-export.ts); their checksum is kept in `tenant_backups`.
 */
import { ConfigurationError } from "../../shared/errors.ts";

export type BackupStoreKind = "local" | "s3";

/** Where an object went and how it is encrypted (recorded in `tenant_backups`). */
export interface StoredObject {
  readonly store: BackupStoreKind;
  /** The store's name for the object; `get` and `delete` take it back. */
  readonly location: string;
  /** Algorithm and key reference — never key material. */
  readonly encryption: Record<string, unknown>;
}

export interface BackupStore {
  readonly kind: BackupStoreKind;
  /**
   * Writes an object named `name` (`<tenantId>/<file>`, letters, digits, `.`, `_`, `-`); writing
   * the same name again replaces it (a retried step).
   */
  put(name: string, body: Uint8Array): Promise<StoredObject>;
  /** Reads an object back, decrypted. Fails when it is missing, tampered with or under another key. */
  get(location: string): Promise<Uint8Array>;
  /** Deletes an object for good; deleting a missing one is not an error. */
  delete(location: string): Promise<void>;
}

const NAME = /^[0-9a-f-]{36}\/[A-Za-z0-9._-]{1,128}$/;

/** Object names are built by the service from ids; anything else is refused. */
export function assertObjectName(name: string): void {
  if (!NAME.test(name) || name.includes("..")) throw new Error(`invalid backup object name: ${name}`);
}

/** The store a step needs; a deployment without one fails the step with a named error. */
export function requireBackupStore(store: BackupStore | undefined): BackupStore {
  if (!store) throw new ConfigurationError("no backup store is configured for this step");
  return store;
}
