/**
 * The web console on AWS: `console/` in a private S3 bucket read only by CloudFront through origin
 * access control, and the REST API behind the same distribution at `/api/*` — one origin for the
 * browser, as locally, so no CORS. API responses are never cached (CachingDisabled) and reach API
 * Gateway with every viewer header but Host (AllViewerExceptHostHeader, the managed policy meant for
 * API Gateway origins; with caching disabled it forwards the Authorization header too:
 * repost.aws/knowledge-center/cloudfront-authorization-header). Both behaviours add the console's
 * security headers (functions/http/console-headers.ts), the ones the local server sends.
 */
import { fileURLToPath } from "node:url";
import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import type * as apigateway from "aws-cdk-lib/aws-apigateway";
import * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import * as origins from "aws-cdk-lib/aws-cloudfront-origins";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as s3deploy from "aws-cdk-lib/aws-s3-deployment";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { consoleContractModule } from "../../functions/http/console-contract.ts";
import { CONSOLE_CONTENT_SECURITY_POLICY } from "../../functions/http/console-headers.ts";
import { asIBucket } from "./backups.ts";

/** The console's files in this repository. */
export const CONSOLE_DIR = fileURLToPath(new URL("../../console/", import.meta.url));

export interface ConsoleHostingProps {
  readonly api: apigateway.RestApi;
  /** Where the console bucket's server access logs go. */
  readonly accessLogsBucket: s3.IBucket;
  readonly consoleDir?: string;
}

export class ConsoleHosting extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly responseHeadersPolicy: cloudfront.ResponseHeadersPolicy;
  /** `https://<distribution domain>/`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ConsoleHostingProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, "Bucket", {
      // SSE-S3: an origin access control reads SSE-KMS objects only with a key policy for CloudFront;
      // the console is public code, not data.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: "console/",
      // The files are redeployed from the repository; nothing in the bucket needs keeping.
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });

    this.responseHeadersPolicy = new cloudfront.ResponseHeadersPolicy(this, "SecurityHeaders", {
      comment: "Tenant provisioning console: the security headers the local server sends",
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: CONSOLE_CONTENT_SECURITY_POLICY, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        // HTTPS only here (the local server is plain HTTP on 127.0.0.1, so it sends none).
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
      },
    });

    this.distribution = new cloudfront.Distribution(this, "Distribution", {
      comment: "Tenant provisioning console and API",
      defaultRootObject: "index.html",
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(asIBucket(this.bucket)),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.responseHeadersPolicy,
        compress: true,
      },
      additionalBehaviors: {
        "/api/*": {
          // The stage's path (`/prod`) is the origin path: `/api/...` reaches the same route as locally.
          origin: new origins.RestApiOrigin(props.api),
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
          responseHeadersPolicy: this.responseHeadersPolicy,
        },
      },
    });
    this.url = `https://${this.distribution.distributionDomainName}/`;

    new s3deploy.BucketDeployment(this, "Files", {
      // The console imports the API's contract (paths, enums, defaults) from /contract.js, which the
      // local server generates at request time; here it is generated at synth from the same code.
      sources: [
        s3deploy.Source.asset(props.consoleDir ?? CONSOLE_DIR),
        s3deploy.Source.data("contract.js", consoleContractModule()),
      ],
      destinationBucket: asIBucket(this.bucket),
      // Browsers revalidate (as with the local server); a deploy invalidates CloudFront's copies.
      cacheControl: [s3deploy.CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ["/*"],
      prune: true,
    });

    NagSuppressions.addResourceSuppressions(this.distribution, [
      {
        id: "AwsSolutions-CFR1",
        reason:
          "Operators sign in from wherever they work; access is controlled by API keys on every API call, not by geography.",
      },
      {
        id: "AwsSolutions-CFR2",
        reason:
          "The console is static files and every API call needs an API key, throttled at the API stage; attach a WAF web ACL where the account's policy asks for one (as for the API stage).",
      },
      {
        id: "AwsSolutions-CFR3",
        reason:
          "API calls are logged by API Gateway's access logs and the console bucket's requests by S3 server access logs; CloudFront standard logs would need an ACL-enabled bucket.",
      },
      {
        id: "AwsSolutions-CFR4",
        reason:
          "The distribution uses its default cloudfront.net certificate, whose TLS policy CloudFront sets; a custom domain with a TLSv1.2_2021 policy is a deployment choice documented in docs/aws-deployment.md.",
      },
    ]);
    this.suppressBucketDeploymentFindings();
  }

  /** Findings on CDK's own BucketDeployment Lambda (not this service's code). */
  private suppressBucketDeploymentFindings(): void {
    const stack = Stack.of(this);
    for (const child of stack.node.children) {
      if (!child.node.id.startsWith("Custom::CDKBucketDeployment")) continue;
      NagSuppressions.addResourceSuppressions(
        child,
        [
          {
            id: "AwsSolutions-IAM4",
            reason:
              "CDK's BucketDeployment Lambda (copies console/ to its bucket at deploy time) uses AWSLambdaBasicExecutionRole; the function is CDK's, not the service's.",
            appliesTo: [
              "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ],
          },
          {
            id: "AwsSolutions-IAM5",
            reason:
              "CDK's BucketDeployment Lambda reads the staged asset and writes every object of the console bucket and invalidates its distribution; CDK grants these with object wildcards.",
            appliesTo: [{ regex: "/^(Action::s3:.*|Resource::.*\\*|Action::cloudfront:.*)$/" }],
          },
          {
            id: "AwsSolutions-L1",
            reason:
              "CDK's BucketDeployment Lambda runs the runtime CDK chose for it; it is CDK's function, updated with aws-cdk-lib.",
          },
        ],
        true,
      );
    }
  }
}
