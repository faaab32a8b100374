/**
 * One Lambda of the service, configured the same way everywhere: nodejs24.x on arm64, bundled by
 * esbuild with the shared options (lib/bundling.ts), X-Ray tracing, its own log group with a
 * retention, and its own role with no managed policy — just writing to that log group. Callers
 * add what the function needs (the Data API, a queue, a bucket) with explicit grants.
 */
import { type Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import type { LambdaEnvironment } from "../../functions/shared/config.ts";
import { bundledDirectoriesEnvironment, cdkBundlingOptions, REPO_ROOT } from "../bundling.ts";

/**
 * Node.js 24, the newest runtime the installed aws-cdk-lib lists (nodejs22.x reaches end of
 * support in 2027); the bundles target it (lib/bundling.ts NODE_TARGET).
 */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;
export const LAMBDA_ARCHITECTURE = lambda.Architecture.ARM_64;

export interface ServiceFunctionProps {
  /** Absolute path of the entry module; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  /** Only variables `functions/shared/config.ts` reads (a typo is a compile error). */
  readonly environment?: LambdaEnvironment;
  readonly timeout: Duration;
  readonly memorySize?: number;
  readonly logRetention: logs.RetentionDays;
}

export class ServiceFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: logs.LogGroup;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, "Logs", {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `${props.description} (Lambda execution role)`,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, "Function", {
      entry: props.entry,
      handler: "handler",
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      projectRoot: REPO_ROOT,
      depsLockFilePath: `${REPO_ROOT}package-lock.json`,
      bundling: cdkBundlingOptions(),
      environment: {
        NODE_OPTIONS: "--enable-source-maps",
        ...bundledDirectoriesEnvironment(),
        ...props.environment,
      },
    });
    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: "AwsSolutions-IAM5",
          reason:
            "Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so CDK grants them on '*'.",
          appliesTo: ["Resource::*"],
        },
      ],
      true,
    );
  }
}
