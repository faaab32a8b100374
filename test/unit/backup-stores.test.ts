/**
 * The backup stores: local files encrypted with AES-256-GCM (never clear on disk; a tampered,
 * renamed or foreign file fails to decrypt) and S3 with SSE-KMS (the S3 client mocked with
 * aws-sdk-client-mock, reset after each test).
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  BACKUP_KEY_FILE,
  LocalBackupStore,
  loadOrCreateBackupKey,
} from "../../functions/domain/backups/local-backup-store.ts";
import { parseS3Location, S3BackupStore } from "../../functions/domain/backups/s3-backup-store.ts";
import { parseBackup, sha256Hex } from "../../functions/domain/backups/tenant-export.ts";
import { NetworkError, TransientError, ValidationError } from "../../functions/shared/errors.ts";

const TENANT = "3f6d1c1e-5b0a-4c8e-9a51-2d7c0e9b4f10";
const name = (file = "run-full.tpb") => `${TENANT}/${file}`;
/** Something that must never be readable on disk. */
const SECRET = `ada.lovelace+${randomUUID()}@example.org`;
const body = () => gzipSync(Buffer.from(JSON.stringify({ users: [{ email: SECRET }] })));

describe("LocalBackupStore", () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), "tp-backups-"));
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("generates its key once, 32 bytes, readable by the owner only, and keeps it", () => {
    // Act
    const first = loadOrCreateBackupKey(dataDir);
    const second = loadOrCreateBackupKey(dataDir);

    // Assess
    expect(first).toHaveLength(32);
    expect(second.equals(first)).toBe(true);
    expect(statSync(join(dataDir, BACKUP_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it("refuses a key file that is not a 32-byte key instead of replacing it", () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), "tp-badkey-"));
    writeFileSync(join(dir, BACKUP_KEY_FILE), "c2hvcnQ=\n", { mode: 0o600 });

    // Act + Assess
    expect(() => loadOrCreateBackupKey(dir)).toThrow(/32-byte/);
    expect(readFileSync(join(dir, BACKUP_KEY_FILE), "utf8")).toBe("c2hvcnQ=\n");
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes an encrypted file and reads back exactly what was written", async () => {
    // Prepare
    const store = LocalBackupStore.forDataDir(dataDir);
    const data = body();

    // Act
    const stored = await store.put(name(), data);
    const back = await store.get(stored.location);

    // Assess
    expect(stored).toMatchObject({
      store: "local",
      location: name(),
      encryption: { algorithm: "AES-256-GCM" },
    });
    expect(Buffer.from(back).equals(data)).toBe(true);
    const raw = readFileSync(store.pathOf(stored.location));
    expect(raw.subarray(0, 4).toString("ascii")).toBe("TPB1");
    expect(raw.includes(Buffer.from(SECRET))).toBe(false);
    expect(raw.includes(data.subarray(0, 16))).toBe(false);
    expect(statSync(store.pathOf(stored.location)).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(stored.encryption)).not.toContain(
      loadOrCreateBackupKey(dataDir).toString("base64"),
    );
  });

  it("fails to decrypt a tampered file", async () => {
    // Prepare
    const store = LocalBackupStore.forDataDir(dataDir);
    const stored = await store.put(name("tampered.tpb"), body());
    const path = store.pathOf(stored.location);
    const raw = readFileSync(path);
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 0x01;
    writeFileSync(path, raw);

    // Act + Assess
    await expect(store.get(stored.location)).rejects.toThrow(ValidationError);
    await expect(store.get(stored.location)).rejects.toThrow(/failed to decrypt/);
  });

  it("fails to decrypt a file moved to another name, or read under another key", async () => {
    // Prepare
    const store = LocalBackupStore.forDataDir(dataDir);
    const stored = await store.put(name("original.tpb"), body());
    const other = await store.put(name("other.tpb"), body());
    renameSync(store.pathOf(stored.location), store.pathOf(other.location));
    const foreign = new LocalBackupStore(join(dataDir, "backups"), randomBytes(32));
    const third = await store.put(name("third.tpb"), body());

    // Act + Assess
    await expect(store.get(other.location)).rejects.toThrow(/failed to decrypt/);
    await expect(foreign.get(third.location)).rejects.toThrow(/failed to decrypt/);
  });

  it("deletes for good, and deleting twice is not an error; names it did not make are refused", async () => {
    // Prepare
    const store = LocalBackupStore.forDataDir(dataDir);
    const stored = await store.put(name("gone.tpb"), body());

    // Act
    await store.delete(stored.location);
    await store.delete(stored.location);

    // Assess
    await expect(store.get(stored.location)).rejects.toThrow(/does not exist/);
    await expect(store.put("../escape.tpb", body())).rejects.toThrow(/invalid backup object name/);
    await expect(store.put(`${TENANT}/../../x.tpb`, body())).rejects.toThrow(/invalid backup object name/);
  });
});

describe("S3BackupStore", () => {
  const s3Mock = mockClient(S3Client);
  const client = new S3Client({ region: "eu-west-1" });

  afterEach(() => {
    s3Mock.reset();
  });

  it("puts the object with SSE-KMS under the named key and a SHA-256 checksum; the location names the version", async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({ VersionId: "v 1", SSEKMSKeyId: "arn:aws:kms:eu-west-1:1:key/k" });
    const store = new S3BackupStore(client, { bucket: "backups-bucket", kmsKeyId: "alias/backups" });
    const data = body();

    // Act
    const stored = await store.put(name(), data);

    // Assess
    const calls = s3Mock.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toMatchObject({
      Bucket: "backups-bucket",
      Key: `backups/${name()}`,
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: "alias/backups",
      ChecksumSHA256: createHash("sha256").update(data).digest("base64"),
    });
    expect(stored).toEqual({
      store: "s3",
      location: `s3://backups-bucket/backups/${name()}?versionId=v%201`,
      encryption: { algorithm: "aws:kms", kmsKeyId: "arn:aws:kms:eu-west-1:1:key/k" },
    });
    expect(parseS3Location(stored.location)).toEqual({
      bucket: "backups-bucket",
      key: `backups/${name()}`,
      versionId: "v 1",
    });
  });

  it("uses the bucket's default key when none is named", async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({});
    const store = new S3BackupStore(client, { bucket: "backups-bucket" });

    // Act
    const stored = await store.put(name(), body());

    // Assess
    const input = s3Mock.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input.ServerSideEncryption).toBe("aws:kms");
    expect(input.SSEKMSKeyId).toBeUndefined();
    expect(stored.location).toBe(`s3://backups-bucket/backups/${name()}`);
  });

  it("gets and deletes that very version", async () => {
    // Prepare
    const data = body();
    s3Mock
      .on(GetObjectCommand)
      .resolves({ Body: { transformToByteArray: async () => new Uint8Array(data) } as never });
    s3Mock.on(DeleteObjectCommand).resolves({});
    const store = new S3BackupStore(client, { bucket: "b" });
    const location = `s3://b/backups/${name()}?versionId=abc`;

    // Act
    const back = await store.get(location);
    await store.delete(location);

    // Assess
    expect(Buffer.from(back).equals(data)).toBe(true);
    expect(s3Mock.commandCalls(GetObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: "b",
      Key: `backups/${name()}`,
      VersionId: "abc",
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: "b",
      Key: `backups/${name()}`,
      VersionId: "abc",
    });
  });

  it("classifies failures: a missing object is permanent, throttling transient, access denied a NetworkError", async () => {
    // Prepare
    const store = new S3BackupStore(client, { bucket: "b" });
    s3Mock.on(GetObjectCommand).rejects(new NoSuchKey({ message: "gone", $metadata: {} }));
    s3Mock.on(DeleteObjectCommand).rejects(new NoSuchKey({ message: "gone", $metadata: {} }));
    s3Mock
      .on(PutObjectCommand)
      .rejectsOnce(
        new S3ServiceException({ name: "SlowDown", $fault: "server", $metadata: { httpStatusCode: 503 } }),
      )
      .rejectsOnce(
        new S3ServiceException({
          name: "AccessDenied",
          $fault: "client",
          $metadata: { httpStatusCode: 403 },
        }),
      );

    // Act + Assess
    await expect(store.get(`s3://b/backups/${name()}`)).rejects.toThrow(ValidationError);
    await expect(store.delete(`s3://b/backups/${name()}`)).resolves.toBeUndefined();
    await expect(store.put(name(), body())).rejects.toThrow(TransientError);
    await expect(store.put(name(), body())).rejects.toThrow(NetworkError);
    await expect(store.get("https://elsewhere/x")).rejects.toThrow(/not an S3 backup location/);
  });
});

describe("parseBackup", () => {
  it("refuses an object whose checksum does not match its record", () => {
    // Prepare
    const data = body();

    // Act + Assess
    expect(() => parseBackup(data, "0".repeat(64))).toThrow(/checksum mismatch/);
    expect(() => parseBackup(data, sha256Hex(data))).toThrow(/not a tenant backup/);
  });
});
