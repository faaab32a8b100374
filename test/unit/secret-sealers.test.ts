/**
 * Sealed webhook secrets: the local AES-256-GCM sealer (bound to the subscription, to the key) and
 * the KMS sealer with the client mocked (encryption context = the subscription).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecryptCommand, EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { KmsSecretSealer } from "../../functions/domain/webhooks/kms-secret-sealer.ts";
import { LocalSecretSealer, WEBHOOK_KEY_FILE } from "../../functions/domain/webhooks/secret-sealer.ts";
import { generateSecret } from "../../functions/domain/webhooks/webhook-signature.ts";

const kms = mockClient(KMSClient);
const HOOK = "2b7c0f1e-52a3-4a61-9c0e-8f8f3f0a1d11";
const OTHER = "9d1e5a77-0b3c-4d2e-8f41-6a7b8c9d0e1f";
const dirs: string[] = [];

afterEach(() => {
  kms.reset();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tp-sealer-"));
  dirs.push(dir);
  return dir;
}

describe("LocalSecretSealer", () => {
  it("seals so that only its subscription opens it, with the key file made 0600 on first use", async () => {
    // Prepare
    const dir = dataDir();
    const sealer = LocalSecretSealer.forDataDir(dir);
    const secret = generateSecret();

    // Act
    const sealed = await sealer.seal(secret, HOOK);

    // Assess
    expect(sealed).toMatch(/^local:v1:[0-9a-f]{12}:/);
    expect(sealed).not.toContain(secret.slice(6));
    expect(await sealer.open(sealed, HOOK)).toBe(secret);
    expect(await LocalSecretSealer.forDataDir(dir).open(sealed, HOOK)).toBe(secret);
    await expect(sealer.open(sealed, OTHER)).rejects.toThrow();
    expect(statSync(join(dir, WEBHOOK_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it("does not open what another key sealed, and says so", async () => {
    const sealed = await LocalSecretSealer.forDataDir(dataDir()).seal(generateSecret(), HOOK);

    await expect(LocalSecretSealer.forDataDir(dataDir()).open(sealed, HOOK)).rejects.toThrow(/another key/);
  });
});

describe("KmsSecretSealer", () => {
  it("encrypts and decrypts under the key with the subscription as encryption context", async () => {
    // Prepare
    const secret = generateSecret();
    kms.on(EncryptCommand).resolves({ CiphertextBlob: new Uint8Array([1, 2, 3]) });
    kms.on(DecryptCommand).resolves({ Plaintext: Buffer.from(secret, "utf8") });
    const sealer = new KmsSecretSealer(new KMSClient({ region: "eu-west-1" }), "alias/webhooks");

    // Act
    const sealed = await sealer.seal(secret, HOOK);
    const opened = await sealer.open(sealed, HOOK);

    // Assess
    expect(sealed).toBe(`kms:${Buffer.from([1, 2, 3]).toString("base64")}`);
    expect(opened).toBe(secret);
    const encrypt = kms.commandCalls(EncryptCommand)[0]!.args[0].input;
    expect(encrypt).toMatchObject({ KeyId: "alias/webhooks", EncryptionContext: { webhookId: HOOK } });
    expect(Buffer.from(encrypt.Plaintext!).toString("utf8")).toBe(secret);
    expect(kms.commandCalls(DecryptCommand)[0]!.args[0].input).toMatchObject({
      EncryptionContext: { webhookId: HOOK },
      CiphertextBlob: Buffer.from([1, 2, 3]),
    });
    await expect(sealer.open("local:v1:x:y", HOOK)).rejects.toThrow(/KMS/);
  });
});
