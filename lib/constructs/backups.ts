/**
 * Where deprovisioning writes tenant backups (locally `$DATA_DIR/backups/`, AES-256-GCM): an S3
 * bucket with SSE-KMS under its own key, no public access, TLS only, versioned, with lifecycle
 * rules; its server access logs go to a second bucket. Both outlive the stack: backups hold
 * personal data, and deleting them is an operator's decision, not a side effect of `cdk destroy`.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";

/** What a Lambda may do with backup objects. */
export type BackupAccess = "backups:write" | "backups:read" | "backups:delete";

export interface BackupsProps {
  /** Current backups move to Glacier Instant Retrieval after this many days. */
  readonly archiveAfter?: Duration;
  /** Overwritten or deleted backup versions are kept this long, then expire. */
  readonly noncurrentVersionExpiration?: Duration;
  /** Server access logs are kept this long. */
  readonly accessLogExpiration?: Duration;
}

export class Backups extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.IBucket;
  readonly accessLogsBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: BackupsProps = {}) {
    super(scope, id);
    // Grant log delivery with a bucket policy rather than the legacy LogDeliveryWrite ACL (ACLs stay
    // disabled), whether or not the app sets this feature flag.
    this.node.setContext("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", true);
    this.key = new kms.Key(this, "Key", {
      description: "Tenant provisioning: tenant backups",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const accessLogsBucket = new s3.Bucket(this, "AccessLogs", {
      // Server access log delivery supports SSE-S3 only.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: props.accessLogExpiration ?? Duration.days(365) }],
    });
    this.accessLogsBucket = asIBucket(accessLogsBucket);
    NagSuppressions.addResourceSuppressions(accessLogsBucket, [
      {
        id: "AwsSolutions-S1",
        reason:
          "This is the server access log bucket of the backups bucket; logging access to it would need yet another bucket.",
      },
    ]);
    this.bucket = asIBucket(
      new s3.Bucket(this, "Bucket", {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        versioned: true,
        removalPolicy: RemovalPolicy.RETAIN,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: "backups/",
        lifecycleRules: [
          {
            id: "archive-backups",
            transitions: [
              {
                storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                transitionAfter: props.archiveAfter ?? Duration.days(30),
              },
            ],
          },
          {
            id: "expire-replaced-versions",
            noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(90),
            abortIncompleteMultipartUploadAfter: Duration.days(7),
            expiredObjectDeleteMarker: true,
          },
        ],
      }),
    );
  }

  /**
   * Lets `grantee` use backup objects as `access` says, with only the KMS action each needs —
   * named actions rather than CDK's grantReadWrite, whose wildcards (s3:GetObject*, s3:Abort*,
   * kms:ReEncrypt*) grant more. Backups are read and deleted by version id
   * (`s3://bucket/key?versionId=...`): deleting a version removes the data for good.
   */
  grantBackups(grantee: iam.IGrantable, access: readonly BackupAccess[]): void {
    const objects = this.bucket.arnForObjects("*");
    if (access.includes("backups:write")) {
      iam.Grant.addToPrincipal({ grantee, actions: ["s3:PutObject"], resourceArns: [objects] });
      this.key.grant(grantee, "kms:GenerateDataKey");
    }
    if (access.includes("backups:read")) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: ["s3:GetObject", "s3:GetObjectVersion"],
        resourceArns: [objects],
      });
      // Without ListBucket a missing object answers AccessDenied instead of NoSuchKey.
      iam.Grant.addToPrincipal({
        grantee,
        actions: ["s3:ListBucket"],
        resourceArns: [this.bucket.bucketArn],
      });
      this.key.grant(grantee, "kms:Decrypt");
    }
    if (access.includes("backups:delete")) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
        resourceArns: [objects],
      });
    }
    if (grantee.grantPrincipal instanceof Construct) {
      NagSuppressions.addResourceSuppressions(
        grantee.grantPrincipal,
        [
          {
            id: "AwsSolutions-IAM5",
            reason:
              "Backup object keys are made per tenant and run at run time; the grant covers objects of the backups bucket only.",
            appliesTo: [{ regex: "/^Resource::<.*Bucket[A-Za-z0-9]*\\.Arn>\\/\\*$/" }],
          },
        ],
        true,
      );
    }
  }
}

/**
 * aws-cdk-lib declares `Bucket.isWebsite` as `boolean | undefined` where `IBucket` has
 * `isWebsite?: boolean`, which `exactOptionalPropertyTypes` refuses to assign.
 */
export function asIBucket(bucket: s3.Bucket): s3.IBucket {
  return bucket as unknown as s3.IBucket;
}
