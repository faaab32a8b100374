/**
 * The control-plane database: Aurora PostgreSQL Serverless v2 with the RDS Data API.
 *
 * Network: the cluster lives in isolated subnets of its own VPC (no internet route, no NAT). The
 * service's Lambdas run OUTSIDE the VPC: they reach the database only through the Data API, a
 * public AWS HTTPS endpoint authorised by IAM and the cluster's secret, so they need neither a NAT
 * gateway nor ENIs, and cold starts stay short. Only the secret-rotation Lambda runs inside the
 * VPC (it speaks the PostgreSQL protocol) and reaches Secrets Manager through an interface endpoint.
 *
 * Capacity: with `minCapacity` 0 the instance pauses after `autoPauseAfter` without connections and
 * resumes on the next Data API call, which meanwhile answers DatabaseResumingException
 * (AuroraUserGuide/aurora-serverless-v2-auto-pause.html; functions/db/resume-wait.ts waits it out).
 *
 * Deletion protection is switched on by a custom resource that CloudFormation creates last (the stack
 * makes it depend on everything else), not by the cluster's own property: a first deployment that
 * fails before the end can then roll back and delete the new cluster, which CloudFormation cannot do
 * to a protected one. Once the stack is complete the cluster is protected; deploying with
 * `deletionProtection=false` switches it off the same way (for `cdk destroy`).
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as rds from "aws-cdk-lib/aws-rds";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as cr from "aws-cdk-lib/custom-resources";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import type { LambdaEnvironment } from "../../functions/shared/config.ts";
import type { TenantCell } from "../context.ts";

export interface DatabaseProps {
  /** Deletion protection on the cluster; when off (dev stacks) the cluster is destroyed with the stack. */
  readonly deletionProtection: boolean;
  /** Aurora capacity units; 0.5 keeps one small instance warm, 0 lets it pause when idle. */
  readonly minCapacity: number;
  /** With `minCapacity` 0: how long without connections before the instance pauses (5 min to 1 day). */
  readonly autoPauseAfter?: Duration;
  readonly maxCapacity: number;
  readonly backupRetention: Duration;
  readonly logRetention: logs.RetentionDays;
  /** The database the service uses inside the cluster. */
  readonly databaseName?: string;
  /**
   * Tenant databases besides this one (cells, functions/domain/cells/): clusters managed outside
   * this stack. Every Lambda that uses this database gets them as `TENANT_CELLS` and may use them.
   */
  readonly tenantCells?: readonly TenantCell[];
}

export class Database extends Construct {
  readonly vpc: ec2.IVpc;
  readonly cluster: rds.DatabaseCluster;
  readonly secret: secretsmanager.ISecret;
  readonly databaseName: string;
  /** Sets the cluster's deletion protection once everything else exists (see the module comment). */
  readonly deletionProtection: cr.AwsCustomResource;
  readonly tenantCells: readonly TenantCell[];

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    this.databaseName = props.databaseName ?? "provisioning";
    this.tenantCells = props.tenantCells ?? [];

    const flowLogs = new logs.LogGroup(this, "VpcFlowLogs", {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const vpc = new ec2.Vpc(this, "Vpc", {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: "database", subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      // Nothing is placed in the default security group (the cluster, the rotation Lambda and the
      // endpoint have their own), and restricting it would add a custom-resource Lambda to the stack.
      restrictDefaultSecurityGroup: false,
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    // aws-cdk-lib declares `Vpc.vpnGatewayId` as `string | undefined` where `IVpc` has
    // `vpnGatewayId?: string`, which exactOptionalPropertyTypes refuses to assign.
    this.vpc = vpc as unknown as ec2.IVpc;
    const isolated: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    const secretsEndpoint = vpc.addInterfaceEndpoint("SecretsManagerEndpoint", {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: isolated,
      // Only the rotation Lambda may reach it (below), not the whole VPC CIDR.
      open: false,
    });
    const rotationSecurityGroup = new ec2.SecurityGroup(this, "RotationSecurityGroup", {
      vpc: this.vpc,
      description: "Secret rotation Lambda: reaches the cluster and the Secrets Manager endpoint",
      allowAllOutbound: true,
    });
    secretsEndpoint.connections.allowDefaultPortFrom(rotationSecurityGroup, "secret rotation Lambda");

    this.cluster = new rds.DatabaseCluster(this, "Cluster", {
      // The newest PostgreSQL 16 minor aws-cdk-lib lists (auto-pause needs 16.3 or later).
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_16_13,
      }),
      writer: rds.ClusterInstance.serverlessV2("Writer", { enablePerformanceInsights: true }),
      serverlessV2MinCapacity: props.minCapacity,
      serverlessV2MaxCapacity: props.maxCapacity,
      ...(props.minCapacity === 0
        ? { serverlessV2AutoPauseDuration: props.autoPauseAfter ?? Duration.minutes(5) }
        : {}),
      vpc: this.vpc,
      vpcSubnets: isolated,
      credentials: rds.Credentials.fromGeneratedSecret("provisioning_admin"),
      defaultDatabaseName: this.databaseName,
      enableDataApi: true,
      storageEncrypted: true,
      iamAuthentication: true,
      // Not 5432: nothing connects by port except the rotation Lambda, and a non-default port is
      // one fewer thing a scanner inside the VPC would find (cdk-nag AwsSolutions-RDS11).
      port: 5433,
      backup: { retention: props.backupRetention, preferredWindow: "02:00-03:00" },
      preferredMaintenanceWindow: "sun:03:30-sun:04:30",
      cloudwatchLogsExports: ["postgresql"],
      cloudwatchLogsRetention: props.logRetention,
      // Set by `this.deletionProtection` below, after the rest of the stack exists.
      deletionProtection: false,
      // With protection the data outlives the stack (a final snapshot); dev stacks are disposable.
      removalPolicy: props.deletionProtection ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    });
    if (!this.cluster.secret) throw new Error("the cluster has no generated secret");
    this.secret = this.cluster.secret;
    // A protected cluster leaves a final snapshot behind; keep the credentials that go with it.
    this.secret.applyRemovalPolicy(props.deletionProtection ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);

    this.cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      vpcSubnets: isolated,
      endpoint: secretsEndpoint,
      securityGroup: rotationSecurityGroup,
    });

    const protect = {
      service: "RDS",
      action: "modifyDBCluster",
      parameters: {
        DBClusterIdentifier: this.cluster.clusterIdentifier,
        DeletionProtection: props.deletionProtection,
      },
      physicalResourceId: cr.PhysicalResourceId.of("cluster-deletion-protection"),
    };
    this.deletionProtection = new cr.AwsCustomResource(this, "DeletionProtection", {
      onCreate: protect,
      onUpdate: protect,
      // No onDelete: removing this resource (rollback, stack deletion) leaves protection as it is.
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ["rds:ModifyDBCluster"], resources: [this.cluster.clusterArn] }),
      ]),
      installLatestAwsSdk: false,
    });

    NagSuppressions.addResourceSuppressions(this.cluster, [
      {
        id: "AwsSolutions-RDS10",
        reason: props.deletionProtection
          ? "Deletion protection is switched on by the DeletionProtection custom resource once the rest of the stack exists, so that a failed first deployment can still roll back the cluster."
          : "Deletion protection was turned off for this stack with the context flag deletionProtection=false (a disposable dev stack).",
      },
    ]);
  }

  /** The environment `functions/shared/config.ts` reads to use this database through the Data API. */
  get dataApiEnvironment(): LambdaEnvironment {
    return {
      DB_CLUSTER_ARN: this.cluster.clusterArn,
      DB_SECRET_ARN: this.secret.secretArn,
      DB_NAME: this.databaseName,
      // What `loadConfig` parses back (context.ts checked it parses); absent: `main` is the only cell.
      ...(this.tenantCells.length > 0 ? { TENANT_CELLS: JSON.stringify(this.tenantCells) } : {}),
    };
  }

  /**
   * The Data API on this cluster and reading its secret, and the same on every cell's cluster and
   * secret (the statements `grantDataApiAccess` of a cluster makes) — nothing else.
   */
  grantDataApiAccess(grantee: iam.IGrantable): void {
    this.cluster.grantDataApiAccess(grantee);
    if (this.tenantCells.length === 0) return;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          "rds-data:BatchExecuteStatement",
          "rds-data:BeginTransaction",
          "rds-data:CommitTransaction",
          "rds-data:ExecuteStatement",
          "rds-data:RollbackTransaction",
        ],
        resources: this.tenantCells.map((c) => c.clusterArn),
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        resources: this.tenantCells.map((c) => c.secretArn),
      }),
    );
  }
}
