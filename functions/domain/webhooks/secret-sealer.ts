/**
 * Webhook signing secrets at rest. The sender needs the secret itself to sign every delivery, so
 * it cannot be hashed like an API key: it is sealed — encrypted and bound to its subscription's id
 * — and opened only by the sender. Locally: AES-256-GCM under `$DATA_DIR/webhook-secrets.key`
 * (32 random bytes, made on first start, mode 0600; servers sharing one database need the same
 * file). In AWS: KMS (kms-secret-sealer.ts), the subscription's id as encryption context. The API
 * only seals (create, rotate); the secret is returned to the operator once and never read back.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface SecretSealer {
  /** Encrypts `secret` for the subscription `webhookId`; the result names its scheme. */
  seal(secret: string, webhookId: string): Promise<string>;
  /** Decrypts what `seal` returned for the same subscription; anything else fails. */
  open(sealed: string, webhookId: string): Promise<string>;
}

export const WEBHOOK_KEY_FILE = "webhook-secrets.key";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Reads `$DATA_DIR/webhook-secrets.key`, creating it on first start (exclusive create, 0600). */
export function loadOrCreateWebhookKey(dataDir: string): Buffer {
  const path = join(dataDir, WEBHOOK_KEY_FILE);
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

/**
 * `local:v1:<key fingerprint>:<base64 iv | tag | ciphertext>`; the subscription id is the
 * authenticated data, so a sealed secret copied onto another subscription does not open.
 */
export class LocalSecretSealer implements SecretSealer {
  private readonly fingerprint: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`the webhook secrets key must be ${KEY_BYTES} bytes`);
    this.fingerprint = createHash("sha256").update("webhook-secrets").update(key).digest("hex").slice(0, 12);
  }

  static forDataDir(dataDir: string): LocalSecretSealer {
    return new LocalSecretSealer(loadOrCreateWebhookKey(dataDir));
  }

  async seal(secret: string, webhookId: string): Promise<string> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(webhookId, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    const blob = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString("base64");
    return `local:v1:${this.fingerprint}:${blob}`;
  }

  async open(sealed: string, webhookId: string): Promise<string> {
    const [scheme, version, fingerprint, blob] = sealed.split(":");
    if (scheme !== "local" || version !== "v1" || !blob) {
      throw new Error("not a secret sealed by the local key");
    }
    if (fingerprint !== this.fingerprint) {
      throw new Error(`sealed under another key (${fingerprint}); this server's is ${this.fingerprint}`);
    }
    const bytes = Buffer.from(blob, "base64");
    const decipher = createDecipheriv("aes-256-gcm", this.key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(webhookId, "utf8"));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
      "utf8",
    );
  }
}
