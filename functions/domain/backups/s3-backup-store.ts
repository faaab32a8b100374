/**
 * The AWS backup store: one S3 object per backup, encrypted at rest with SSE-KMS (the bucket's key
 * or a named one), uploaded with a SHA-256 checksum S3 verifies. The bucket is versioned, so the
 * location names the object's version and deleting removes that version for good rather than
 * leaving it behind a delete marker.
 */
import { createHash } from "node:crypto";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { awsStepError } from "../../shared/aws-errors.ts";
import { ValidationError } from "../../shared/errors.ts";
import { assertObjectName, type BackupStore, type StoredObject } from "./backup-store.ts";

export interface S3BackupStoreOptions {
  readonly bucket: string;
  /** A KMS key id or ARN; unset: the bucket's default SSE-KMS key. */
  readonly kmsKeyId?: string | null;
  /** Key prefix of every object. */
  readonly prefix?: string;
}

interface S3Location {
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string;
}

/** `s3://bucket/key?versionId=v` → its parts. */
export function parseS3Location(location: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/([^?]+)(?:\?versionId=(.+))?$/.exec(location);
  if (!m) throw new ValidationError(`not an S3 backup location: ${location}`);
  return {
    bucket: m[1]!,
    key: decodeURIComponent(m[2]!),
    ...(m[3] ? { versionId: decodeURIComponent(m[3]) } : {}),
  };
}

export class S3BackupStore implements BackupStore {
  readonly kind = "s3" as const;

  constructor(
    private readonly client: S3Client,
    private readonly options: S3BackupStoreOptions,
  ) {}

  async put(name: string, body: Uint8Array): Promise<StoredObject> {
    assertObjectName(name);
    const key = `${this.options.prefix ?? "backups/"}${name}`;
    const kmsKeyId = this.options.kmsKeyId ?? undefined;
    let out: { VersionId?: string | undefined; SSEKMSKeyId?: string | undefined };
    try {
      out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: body,
          ContentType: "application/gzip",
          ServerSideEncryption: "aws:kms",
          ...(kmsKeyId ? { SSEKMSKeyId: kmsKeyId } : {}),
          BucketKeyEnabled: true,
          ChecksumSHA256: createHash("sha256").update(body).digest("base64"),
        }),
      );
    } catch (error) {
      throw awsStepError(error, `PutObject s3://${this.options.bucket}/${key}`);
    }
    const version = out.VersionId ? `?versionId=${encodeURIComponent(out.VersionId)}` : "";
    return {
      store: "s3",
      location: `s3://${this.options.bucket}/${key}${version}`,
      encryption: { algorithm: "aws:kms", kmsKeyId: out.SSEKMSKeyId ?? kmsKeyId ?? "bucket default" },
    };
  }

  async get(location: string): Promise<Uint8Array> {
    const { bucket, key, versionId } = parseS3Location(location);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      );
      if (!out.Body) throw new ValidationError(`backup object ${location} has no body`);
      return await out.Body.transformToByteArray();
    } catch (error) {
      if (error instanceof ValidationError) throw error;
      if (error instanceof NoSuchKey) throw new ValidationError(`backup object ${location} does not exist`);
      throw awsStepError(error, `GetObject ${location}`);
    }
  }

  async delete(location: string): Promise<void> {
    const { bucket, key, versionId } = parseS3Location(location);
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      );
    } catch (error) {
      if (error instanceof NoSuchKey) return;
      throw awsStepError(error, `DeleteObject ${location}`);
    }
  }
}
