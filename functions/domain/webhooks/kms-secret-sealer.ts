/**
 * Webhook signing secrets sealed with AWS KMS: `Encrypt` under the stack's key with the
 * subscription's id as encryption context (so a ciphertext opens only for its subscription, and
 * CloudTrail shows which one), `Decrypt` in the sender. Secrets are 50 bytes, far below KMS's
 * 4,096-byte plaintext limit for direct encryption, so no data key is needed. The client is
 * passed in (aws-sdk-client-mock in tests).
 */
import { DecryptCommand, EncryptCommand, type KMSClient } from "@aws-sdk/client-kms";
import type { SecretSealer } from "./secret-sealer.ts";

const context = (webhookId: string) => ({ webhookId });

export class KmsSecretSealer implements SecretSealer {
  constructor(
    private readonly client: KMSClient,
    private readonly keyId: string,
  ) {}

  async seal(secret: string, webhookId: string): Promise<string> {
    const out = await this.client.send(
      new EncryptCommand({
        KeyId: this.keyId,
        Plaintext: Buffer.from(secret, "utf8"),
        EncryptionContext: context(webhookId),
      }),
    );
    if (!out.CiphertextBlob) throw new Error("KMS returned no ciphertext");
    return `kms:${Buffer.from(out.CiphertextBlob).toString("base64")}`;
  }

  async open(sealed: string, webhookId: string): Promise<string> {
    if (!sealed.startsWith("kms:")) throw new Error("not a secret sealed by KMS");
    const out = await this.client.send(
      new DecryptCommand({
        KeyId: this.keyId,
        CiphertextBlob: Buffer.from(sealed.slice(4), "base64"),
        EncryptionContext: context(webhookId),
      }),
    );
    if (!out.Plaintext) throw new Error("KMS returned no plaintext");
    return Buffer.from(out.Plaintext).toString("utf8");
  }
}
