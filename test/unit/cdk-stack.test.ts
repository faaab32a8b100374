/**
 * The CDK stack, synthesised offline: each resource and its key properties, the API against the
 * route table, the deployed workflow definitions against the ASL files, least-privilege IAM, the
 * bundles' contents, and cdk-nag's AWS Solutions checks. One full synthesis (with esbuild bundling
 * of every Lambda) is shared by all tests; variants synthesise single constructs without bundling.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { App, Aspects, type CfnElement, CfnResource, Duration, Stack } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as rds from "aws-cdk-lib/aws-rds";
import * as sns from "aws-cdk-lib/aws-sns";
import type { SynthesisMessage } from "aws-cdk-lib/cx-api";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { CONSOLE_SECURITY_HEADERS } from "../../functions/http/console-headers.ts";
import { routeList } from "../../functions/http/route-table.ts";
import {
  ENVIRONMENT_VARIABLES,
  isEnvironmentVariable,
  loadConfig,
  requireSetting,
  requireStateMachineArns,
  stateMachineArnVariable,
} from "../../functions/shared/config.ts";
import {
  applyRetryPolicy,
  readDefinitionText,
  substitute,
  substitutionNames,
} from "../../functions/workflows/definitions.ts";
import { functionArnSubstitution, workflowLambda } from "../../functions/workflows/step-catalog.ts";
import { taskDeadlines } from "../../functions/workflows/task-timeouts.ts";
import { Database } from "../../lib/constructs/database.ts";
import { Events, webhookDestinationsFromContext } from "../../lib/constructs/events.ts";
import { NotificationSender } from "../../lib/constructs/notification-sender.ts";
import { Notifications } from "../../lib/constructs/notifications.ts";
import { STEP_RESOURCES } from "../../lib/constructs/step-functions.ts";
import { deployedDefinition, Workflows } from "../../lib/constructs/workflows.ts";
import { deploySettings } from "../../lib/context.ts";
import { apiGroups, lambdaEntries, sweepEntry, workflowKinds } from "../../lib/lambda-entries.ts";
import { TenantProvisioningStack } from "../../lib/tenant-provisioning-stack.ts";

type Json = Record<string, any>;

/** The service's one error shape, `{"error":{"code","message","details"}}`. */
const apiErrorBody = z.strictObject({
  error: z.strictObject({
    code: z.string().regex(/^[a-z_]+$/),
    message: z.string().min(1),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

const SYNTH_TIMEOUT_MS = 600_000;
const TEST_TIMEOUT_MS = 60_000;

let app: App;
let stack: TenantProvisioningStack;
let template: Template;
let resources: Record<string, Json>;

function logicalId(construct: { node: { defaultChild?: unknown } } | CfnElement): string {
  const element = ("logicalId" in construct ? construct : construct.node.defaultChild) as CfnElement;
  return stack.resolve(element.logicalId) as string;
}

function resourcesOfType(type: string): [string, Json][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** Every IAM policy statement attached to a role (by the role's logical id). */
function statementsOfRole(roleId: string): Json[] {
  return resourcesOfType("AWS::IAM::Policy")
    .filter(([, p]) => (p.Properties.Roles as Json[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
}

function roleIdOf(fn: lambda.Function): string {
  return logicalId(fn.role as unknown as { node: { defaultChild?: unknown } });
}

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** The full path of an API Gateway resource, from its PathPart and parents. */
function resourcePath(id: string): string {
  const r = resources[id];
  if (!r) throw new Error(`no resource ${id}`);
  const parent = r.Properties.ParentId as Json;
  const prefix = parent.Ref ? resourcePath(parent.Ref as string) : "";
  return `${prefix}/${r.Properties.PathPart}`;
}

/** Two cells besides main, as `cdk.json` would hold them (one synthesis covers cells too). */
const TENANT_CELLS = [
  {
    name: "east",
    clusterArn: "arn:aws:rds:eu-north-1:123456789012:cluster:tenants-east",
    secretArn: "arn:aws:secretsmanager:eu-north-1:123456789012:secret:tenants-east-AbCdEf",
    database: "tenants",
  },
  {
    name: "west",
    clusterArn: "arn:aws:rds:eu-north-1:123456789012:cluster:tenants-west",
    secretArn: "arn:aws:secretsmanager:eu-north-1:123456789012:secret:tenants-west-GhIjKl",
    database: "tenants",
  },
];

beforeAll(() => {
  app = new App({ context: { tenantCells: TENANT_CELLS } });
  const { tenantCells } = deploySettings((key) => app.node.tryGetContext(key));
  stack = new TenantProvisioningStack(app, "TenantProvisioningTest", {
    deletionProtection: true,
    tenantCells,
  });
  Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Json>;
}, SYNTH_TIMEOUT_MS);

describe("Lambdas", { timeout: TEST_TIMEOUT_MS }, () => {
  it("creates one function per Lambda entry: API groups, authorizer, steps, migrations, admin key", () => {
    const entries = lambdaEntries();
    const functions = stack.serviceFunctions;

    expect(functions.size).toBe(entries.length);
    for (const group of apiGroups()) expect(functions.has(`api:${group}`)).toBe(true);
    // One step Lambda per workflow, and no other: one cold start per run.
    expect([...functions.keys()].filter((k) => k.startsWith("step:")).sort()).toEqual(
      workflowKinds()
        .map((kind) => `step:${workflowLambda(kind)}`)
        .sort(),
    );
    expect(functions.has("execution-ended")).toBe(true);
    expect(functions.has("notification-sender")).toBe(true);
    expect(functions.has("sweep")).toBe(sweepEntry() !== undefined);
  });

  it("runs every function on nodejs24.x / arm64 with tracing, its own log group and source maps", () => {
    for (const [name, fn] of stack.serviceFunctions) {
      const props = resources[logicalId(fn)]!.Properties as Json;
      expect(props.Runtime, name).toBe("nodejs24.x");
      expect(props.Architectures, name).toEqual(["arm64"]);
      expect(props.Handler, name).toBe("index.handler");
      expect(props.TracingConfig, name).toEqual({ Mode: "Active" });
      expect(props.Environment.Variables.NODE_OPTIONS, name).toBe("--enable-source-maps");
      expect(props.Environment.Variables.MIGRATIONS_DIR, name).toBe("/var/task/migrations");
      expect(props.Environment.Variables.STATEMACHINES_DIR, name).toBe("/var/task/statemachines");
      const logGroupId = props.LoggingConfig.LogGroup.Ref as string;
      expect(resources[logGroupId]!.Properties.RetentionInDays, name).toBe(30);
    }
  });

  it("uses no AWS managed policies on the service's roles", () => {
    for (const [name, fn] of stack.serviceFunctions) {
      const role = resources[roleIdOf(fn)]!;
      expect(role.Properties.ManagedPolicyArns, name).toBeUndefined();
    }
  });

  it("points every function that uses the database at the Data API of this cluster", () => {
    const clusterId = logicalId(stack.database.cluster);
    for (const [name, fn] of stack.serviceFunctions) {
      // The sender only turns queue messages into e-mails.
      if (name === "notification-sender") continue;
      const env = resources[logicalId(fn)]!.Properties.Environment.Variables as Json;
      expect(JSON.stringify(env.DB_CLUSTER_ARN), name).toContain(clusterId);
      expect(env.DB_SECRET_ARN, name).toEqual({ Ref: logicalId(stack.database.secret as never) });
      expect(env.DB_NAME, name).toBe("provisioning");
    }
  });

  it("gives every function that uses the database the cells of context tenantCells as TENANT_CELLS", () => {
    for (const [name, fn] of stack.serviceFunctions) {
      if (name === "notification-sender") continue;
      const env = resources[logicalId(fn)]!.Properties.Environment.Variables as Json;
      // What the Lambda's loadConfig reads back.
      expect(
        loadConfig({ TENANT_CELLS: env.TENANT_CELLS }).cells.map((c) => c.database),
        name,
      ).toEqual(
        TENANT_CELLS.map(({ clusterArn, secretArn, database }) => ({
          kind: "data-api",
          clusterArn,
          secretArn,
          database,
          resumeWaitSeconds: 20,
        })),
      );
    }
  });

  it("ships migrations/ and statemachines/ inside the bundles, next to index.mjs (the step Lambda reads its Tasks' deadlines there)", () => {
    for (const name of ["step:provisioning-steps", "migrate-on-deploy", "api:templates"]) {
      const fn = stack.serviceFunctions.get(name)!;
      const key = resources[logicalId(fn)]!.Properties.Code.S3Key as string;
      const assetDir = join(app.outdir, `asset.${key.replace(/\.zip$/, "")}`);
      for (const file of [
        "index.mjs",
        "index.mjs.map",
        "migrations/0001_control_plane.sql",
        "migrations/tenant/core.sql",
        "statemachines/provisioning.asl.json",
      ]) {
        expect(existsSync(join(assetDir, file)), `${name}: ${file}`).toBe(true);
      }
    }
  });
});

describe("database", { timeout: TEST_TIMEOUT_MS }, () => {
  it("is Aurora PostgreSQL 16 (the newest minor CDK lists) Serverless v2 with the Data API, encrypted, backed up", () => {
    const newest16 = Object.keys(rds.AuroraPostgresEngineVersion)
      .map((k) => /^VER_16_(\d+)$/.exec(k)?.[1])
      .filter((m): m is string => m !== undefined)
      .map(Number)
      .sort((a, b) => b - a)[0];
    template.hasResource("AWS::RDS::DBCluster", {
      DeletionPolicy: "Snapshot",
      Properties: Match.objectLike({
        Engine: "aurora-postgresql",
        EngineVersion: `16.${newest16}`,
        EnableHttpEndpoint: true,
        StorageEncrypted: true,
        BackupRetentionPeriod: 14,
        DatabaseName: "provisioning",
        ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
        EnableIAMDatabaseAuthentication: true,
      }),
    });
    template.hasResourceProperties("AWS::RDS::DBInstance", {
      DBInstanceClass: "db.serverless",
      PubliclyAccessible: false,
    });
  });

  it("keeps its credentials in a generated, rotated Secrets Manager secret", () => {
    template.hasResourceProperties("AWS::SecretsManager::Secret", {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: "password" }),
    });
    template.hasResourceProperties("AWS::SecretsManager::RotationSchedule", {
      RotationRules: { ScheduleExpression: "rate(30 days)" },
    });
  });

  it("lives in isolated subnets: no internet gateway, no NAT", () => {
    template.resourceCountIs("AWS::EC2::InternetGateway", 0);
    template.resourceCountIs("AWS::EC2::NatGateway", 0);
    template.hasResourceProperties("AWS::EC2::FlowLog", { TrafficType: "ALL" });
  });

  it("switches deletion protection on last, so that a failed first deployment can roll the cluster back", () => {
    const [[id, protection]] = resourcesOfType("Custom::AWS").filter(([key]) =>
      key.startsWith("DatabaseDeletionProtection"),
    ) as [[string, Json]];
    // The cluster is created unprotected: CloudFormation could not delete a protected one on rollback.
    expect(resources[logicalId(stack.database.cluster)]!.Properties.DeletionProtection).toBe(false);
    for (const event of ["Create", "Update"]) {
      const call = JSON.stringify(protection.Properties[event]);
      expect(call, event).toContain('\\"action\\":\\"modifyDBCluster\\"');
      expect(call, event).toContain('\\"DeletionProtection\\":true');
      expect(call, event).toContain(logicalId(stack.database.cluster));
    }
    // No Delete call: removing the resource (rollback, stack deletion) leaves protection as it is.
    expect(protection.Properties.Delete).toBeUndefined();
    // Created after everything else: it depends on every other resource of the stack.
    const dependsOn = new Set(protection.DependsOn as string[]);
    const inDatabase = new Set(
      stack.database.node
        .findAll()
        .filter((c): c is CfnResource => c instanceof CfnResource)
        .map((c) => logicalId(c)),
    );
    const others = Object.entries(resources)
      .filter(([key, r]) => key !== id && !inDatabase.has(key) && r.Type !== "AWS::CDK::Metadata")
      .map(([key]) => key);
    expect(others.length).toBeGreaterThan(100);
    expect(others.filter((key) => !dependsOn.has(key))).toEqual([]);
  });

  it("turns deletion protection off (and deletes with the stack) only when asked", () => {
    const dev = new Stack(new App(), "Dev");
    new Database(dev, "Database", {
      deletionProtection: false,
      minCapacity: 0.5,
      maxCapacity: 2,
      backupRetention: Duration.days(1),
      logRetention: logs.RetentionDays.ONE_WEEK,
    });

    const devTemplate = Template.fromStack(dev);
    devTemplate.hasResource("AWS::RDS::DBCluster", {
      DeletionPolicy: "Delete",
      Properties: Match.objectLike({ DeletionProtection: false }),
    });
    const [protection] = Object.values(devTemplate.findResources("Custom::AWS")) as Json[];
    expect(JSON.stringify(protection!.Properties.Update)).toContain('\\"DeletionProtection\\":false');
  });

  it("scales to 0 ACU and pauses when idle with auto-pause, at least 0.5 ACU without", () => {
    const scope = new Stack(new App(), "Paused");
    new Database(scope, "Database", {
      deletionProtection: false,
      minCapacity: 0,
      autoPauseAfter: Duration.minutes(10),
      maxCapacity: 2,
      backupRetention: Duration.days(1),
      logRetention: logs.RetentionDays.ONE_WEEK,
    });

    Template.fromStack(scope).hasResourceProperties("AWS::RDS::DBCluster", {
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2, SecondsUntilAutoPause: 600 },
    });
    expect(resources[logicalId(stack.database.cluster)]!.Properties.ServerlessV2ScalingConfiguration).toEqual(
      {
        MinCapacity: 0.5,
        MaxCapacity: 4,
      },
    );
  });

  it("runs the migrations Lambda by a trigger after the cluster and its writer exist", () => {
    const [[, trigger]] = resourcesOfType("Custom::Trigger") as [[string, Json]];
    // The trigger invokes the function's current version: a new bundle (new migrations) or a new
    // environment (a new cluster) is a new version, and runs it again.
    const versionId = trigger.Properties.HandlerArn.Ref as string;
    expect(resources[versionId]!.Type).toBe("AWS::Lambda::Version");
    expect(resources[versionId]!.Properties.FunctionName).toEqual({
      Ref: logicalId(stack.migrations.function),
    });
    const dependsOn = trigger.DependsOn as string[];
    expect(dependsOn).toContain(logicalId(stack.database.cluster));
    const writerId = resourcesOfType("AWS::RDS::DBInstance")[0]![0];
    expect(dependsOn).toContain(writerId);
  });
});

describe("IAM", { timeout: TEST_TIMEOUT_MS }, () => {
  it("lets each step use the Data API on this cluster (not '*') and read its secret", () => {
    const clusterId = logicalId(stack.database.cluster);
    for (const [name, fn] of stack.steps.functions) {
      const statements = statementsOfRole(roleIdOf(fn));
      const dataApi = statements.filter((s) =>
        asArray(s.Action).some((a: string) => a.startsWith("rds-data:")),
      );
      // The cells' clusters have their own statement (the test after this one).
      const cellArns = TENANT_CELLS.map((c) => c.clusterArn);
      const own = dataApi.filter((s) => !asArray(s.Resource).every((r) => cellArns.includes(r)));
      expect(own.length, name).toBeGreaterThan(0);
      for (const s of own) {
        expect(asArray(s.Action), name).toEqual(expect.arrayContaining(["rds-data:ExecuteStatement"]));
        expect(s.Resource, name).not.toBe("*");
        expect(JSON.stringify(s.Resource), name).toContain(clusterId);
      }
      const secret = statements.find((s) => asArray(s.Action).includes("secretsmanager:GetSecretValue"));
      expect(secret?.Resource, name).toEqual({ Ref: logicalId(stack.database.secret as never) });
    }
  });

  it("lets every function that uses the database use each cell's cluster through the Data API and read its secret", () => {
    for (const [name, fn] of stack.serviceFunctions) {
      if (name === "notification-sender") continue;
      const statements = statementsOfRole(roleIdOf(fn));
      const cells = statements.find((s) =>
        TENANT_CELLS.every((c) => asArray(s.Resource).includes(c.clusterArn)),
      );
      expect(asArray(cells?.Action).sort(), name).toEqual([
        "rds-data:BatchExecuteStatement",
        "rds-data:BeginTransaction",
        "rds-data:CommitTransaction",
        "rds-data:ExecuteStatement",
        "rds-data:RollbackTransaction",
      ]);
      expect(asArray(cells?.Resource), name).toHaveLength(TENANT_CELLS.length);
      const secrets = statements.find((s) =>
        TENANT_CELLS.every((c) => asArray(s.Resource).includes(c.secretArn)),
      );
      expect(asArray(secrets?.Action), name).toContain("secretsmanager:GetSecretValue");
      expect(asArray(secrets?.Resource), name).toHaveLength(TENANT_CELLS.length);
    }
    // Not to the functions that never open the database.
    const sender = statementsOfRole(roleIdOf(stack.serviceFunctions.get("notification-sender")!));
    expect(JSON.stringify(sender)).not.toContain("tenants-east");
  });

  it("never grants the Data API on '*' anywhere", () => {
    for (const [id, policy] of resourcesOfType("AWS::IAM::Policy")) {
      for (const s of policy.Properties.PolicyDocument.Statement as Json[]) {
        if (asArray(s.Action).some((a: string) => a.startsWith("rds-data:"))) {
          expect(asArray(s.Resource), id).not.toContain("*");
        }
      }
    }
  });

  it("grants the queue and the bucket only to the steps that need them, by named actions", () => {
    const queueArn = { "Fn::GetAtt": [logicalId(stack.notifications.queue), "Arn"] };
    for (const [name, fn] of stack.steps.functions) {
      const statements = statementsOfRole(roleIdOf(fn));
      const actions = statements.flatMap((s) => asArray(s.Action) as string[]);
      const needs = STEP_RESOURCES[name] ?? [];
      expect(
        actions.some((a) => a.startsWith("sqs:")),
        name,
      ).toBe(needs.includes("notifications"));
      const s3 = actions.filter((a) => a.startsWith("s3:"));
      expect(s3.includes("s3:PutObject"), name).toBe(needs.includes("backups:write"));
      expect(s3.includes("s3:GetObject"), name).toBe(needs.includes("backups:read"));
      expect(s3.includes("s3:DeleteObjectVersion"), name).toBe(needs.includes("backups:delete"));
      expect(s3.length > 0, name).toBe(needs.some((n) => n.startsWith("backups:")));
      if (needs.includes("notifications")) {
        expect(statements, name).toContainEqual(
          expect.objectContaining({ Action: "sqs:SendMessage", Resource: queueArn }),
        );
      }
      for (const action of actions) expect(action, name).not.toMatch(/\*/);
      // Only the batch workflow's Lambda starts executions (AdvanceBatchChild: provisioning runs).
      const starts = statements.filter((s) => asArray(s.Action).includes("states:StartExecution"));
      expect(
        starts.flatMap((s) => asArray(s.Resource)),
        name,
      ).toEqual(
        name === workflowLambda("batch")
          ? [{ Ref: logicalId(stack.workflows.stateMachines.get("provisioning")!) }]
          : [],
      );
    }
  });
});

describe("workflows", { timeout: TEST_TIMEOUT_MS }, () => {
  it("deploys one Standard state machine per ASL file, logged (ALL, encrypted) and traced", () => {
    const kinds = workflowKinds();
    expect(kinds).toContain("provisioning");
    expect(stack.workflows.stateMachines.size).toBe(kinds.length);
    for (const kind of kinds) {
      const props = resources[logicalId(stack.workflows.stateMachines.get(kind)!)]!.Properties as Json;
      expect(props.StateMachineType, kind).toBe("STANDARD");
      expect(props.TracingConfiguration, kind).toEqual({ Enabled: true });
      expect(props.LoggingConfiguration.Level, kind).toBe("ALL");
      expect(props.LoggingConfiguration.IncludeExecutionData, kind).toBe(true);
      const logGroupArn = props.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn;
      const logGroup = resources[logGroupArn["Fn::GetAtt"][0] as string]!;
      expect(logGroup.Properties.KmsKeyId, kind).toBeDefined();
      // Under /aws/vendedlogs/: outside the account's CloudWatch Logs resource-policy size limit.
      expect(logGroup.Properties.LogGroupName, kind).toBe(
        `/aws/vendedlogs/states/TenantProvisioningTest-${kind}`,
      );
    }
  });

  it("gives each step Lambda the time its longest Task needs, and each Task a deadline below its TimeoutSeconds", () => {
    const lambdaOfFunctionId = new Map(
      [...stack.steps.functions].map(([name, fn]) => [logicalId(fn), name] as const),
    );
    let checked = 0;
    const longest = new Map<string, number>();
    for (const kind of workflowKinds()) {
      const props = resources[logicalId(stack.workflows.stateMachines.get(kind)!)]!.Properties as Json;
      const deadlines = taskDeadlines(kind, props.DefinitionString as string);
      const functionOf = (placeholder: string): string =>
        props.DefinitionSubstitutions[placeholder]["Fn::GetAtt"][0] as string;
      const visit = (states: Record<string, Json>): void => {
        for (const [name, state] of Object.entries(states)) {
          // A child execution (states:startExecution.sync:2) invokes no Lambda.
          if (state.Type === "Task" && !(state.Resource as string).startsWith("arn:aws:states:::")) {
            const placeholder = /^\$\{(\w+)\}$/.exec(state.Resource as string)![1]!;
            const fnId = functionOf(placeholder);
            const lambdaTimeout = resources[fnId]!.Properties.Timeout as number;
            const stateTimeout = state.TimeoutSeconds as number;
            const deadline = deadlines.get(name);
            expect(stateTimeout, `${kind} ${name} has a TimeoutSeconds`).toBeGreaterThan(0);
            // The function gives up first, with a margin: a late commit after a States.Timeout is
            // impossible. Its own timeout covers the Task; the Task's deadline ends it sooner.
            expect(deadline, `${kind} ${name} (${lambdaOfFunctionId.get(fnId)})`).toBeLessThanOrEqual(
              stateTimeout - 10,
            );
            expect(lambdaTimeout, `${kind} ${name}`).toBeGreaterThanOrEqual(deadline!);
            expect(lambdaTimeout, `${kind} ${name}`).toBeLessThanOrEqual(900);
            longest.set(fnId, Math.max(longest.get(fnId) ?? 0, stateTimeout));
            checked++;
          }
          const inner = (state.ItemProcessor ?? state.Iterator) as
            | { States?: Record<string, Json> }
            | undefined;
          if (inner?.States) visit(inner.States);
        }
      };
      visit(JSON.parse(props.DefinitionString as string).States as Record<string, Json>);
    }
    expect(checked).toBeGreaterThanOrEqual(stack.steps.functions.size);
    // No more than the longest Task needs.
    for (const [fnId, stateTimeout] of longest) {
      expect(resources[fnId]!.Properties.Timeout, fnId).toBeLessThanOrEqual(stateTimeout - 10);
    }
  });

  it("deploys the ASL file's text unchanged, with every placeholder substituted by its step Lambda's ARN", () => {
    for (const kind of workflowKinds()) {
      const text = readDefinitionText(kind);
      const props = resources[logicalId(stack.workflows.stateMachines.get(kind)!)]!.Properties as Json;

      expect(props.DefinitionString, kind).toBe(text);
      const names = substitutionNames(text);
      expect(Object.keys(props.DefinitionSubstitutions).sort(), kind).toEqual(names);
      const arnOf: Record<string, string> = {};
      for (const [lambdaName, fn] of stack.steps.functions) {
        const placeholder = functionArnSubstitution(lambdaName);
        if (!names.includes(placeholder)) continue;
        expect(props.DefinitionSubstitutions[placeholder], `${kind} ${placeholder}`).toEqual({
          "Fn::GetAtt": [logicalId(fn), "Arn"],
        });
        arnOf[placeholder] = `arn:aws:lambda:eu-west-1:123456789012:function:${lambdaName}`;
      }
      // A workflow that starts another gets that state machine's ARN.
      for (const [child, machine] of stack.workflows.stateMachines) {
        const placeholder = `${child.charAt(0).toUpperCase()}${child.slice(1)}StateMachineArn`;
        if (!names.includes(placeholder)) continue;
        expect(props.DefinitionSubstitutions[placeholder], `${kind} ${placeholder}`).toEqual({
          Ref: logicalId(machine),
        });
        arnOf[placeholder] = `arn:aws:states:eu-west-1:123456789012:stateMachine:${child}`;
      }
      // What CloudFormation deploys is what the local runner runs: the same substitution.
      const deployed = substitute(props.DefinitionString as string, arnOf);
      expect(deployed).toBe(substitute(text, arnOf));
      const tasks = Object.values(JSON.parse(deployed).States as Record<string, Json>).filter(
        (s) => s.Type === "Task",
      );
      for (const task of tasks) expect(Object.values(arnOf)).toContain(task.Resource);
    }
  });

  it("lets each state machine invoke exactly the functions its definition names", () => {
    for (const kind of workflowKinds()) {
      const stateMachine = stack.workflows.stateMachines.get(kind)!;
      const statements = statementsOfRole(logicalId(stateMachine.role as never));
      const invoked = statements
        .filter((s) => asArray(s.Action).includes("lambda:InvokeFunction"))
        .flatMap((s) => asArray(s.Resource) as Json[])
        .map((r) => (r["Fn::GetAtt"] ? (r["Fn::GetAtt"][0] as string) : undefined))
        .filter((id): id is string => id !== undefined);
      const expected = substitutionNames(readDefinitionText(kind))
        .filter((placeholder) => placeholder.endsWith("FunctionArn"))
        .map((placeholder) => {
          const [name] = [...stack.steps.functions.keys()].filter(
            (n) => functionArnSubstitution(n) === placeholder,
          );
          return logicalId(stack.steps.functions.get(name!)!);
        });
      expect(new Set(invoked), kind).toEqual(new Set(expected));
    }
  });

  it("lets the rollout state machine start, follow and stop executions of the upgrade state machine only", () => {
    const rollout = stack.workflows.stateMachines.get("rollout")!;
    const upgrade = stack.workflows.stateMachines.get("upgrade")!;
    const statements = statementsOfRole(logicalId(rollout.role as never));
    const start = statements.filter((s) => asArray(s.Action).includes("states:StartExecution"));
    expect(start.flatMap((s) => asArray(s.Resource))).toEqual([{ Ref: logicalId(upgrade) }]);
    expect(statements.some((s) => asArray(s.Action).includes("states:StopExecution"))).toBe(true);
    const rule = statements.find((s) => asArray(s.Action).includes("events:PutRule"));
    expect(JSON.stringify(rule?.Resource)).toContain("StepFunctionsGetEventsForStepFunctionsExecutionRule");
    for (const kind of ["provisioning", "deprovisioning", "restore", "upgrade"] as const) {
      const role = logicalId(stack.workflows.stateMachines.get(kind)!.role as never);
      expect(
        statementsOfRole(role).some((s) => asArray(s.Action).includes("states:StartExecution")),
        kind,
      ).toBe(false);
    }
  });

  it("applies a deploy-time retry policy to the ASL without rebuilding it", () => {
    const policy = { intervalSeconds: 5, backoffRate: 3, maxAttempts: 7, maxDelaySeconds: 120 };
    const scope = new Stack(new App(), "Retry");
    const stepFunctions = new Map(
      [...stack.steps.functions.keys()].map((name) => [
        name,
        new lambda.Function(scope, name, {
          runtime: lambda.Runtime.NODEJS_22_X,
          handler: "index.handler",
          code: lambda.Code.fromInline("exports.handler = async () => ({});"),
        }),
      ]),
    );
    const workflows = new Workflows(scope, "Workflows", {
      kinds: ["provisioning"],
      stepFunctions,
      logsKey: new kms.Key(scope, "Key"),
      logRetention: logs.RetentionDays.ONE_WEEK,
      retryPolicy: policy,
    });

    const definition = scope.resolve(
      (workflows.stateMachines.get("provisioning")!.node.defaultChild as Json).definitionString,
    ) as string;
    const expected = applyRetryPolicy(JSON.parse(readDefinitionText("provisioning")), policy);
    expect(JSON.parse(definition)).toEqual(expected);
    expect(definition).toBe(deployedDefinition("provisioning", policy));
    const retriers = JSON.stringify(JSON.parse(definition));
    expect(retriers).toContain('"MaxAttempts":7');
  });
});

describe("API", { timeout: TEST_TIMEOUT_MS }, () => {
  it("has exactly the route table's methods, each on its resource path, behind the authorizer unless public", () => {
    const authorizerId = logicalId(stack.api.authorizer as never);
    const methods = resourcesOfType("AWS::ApiGateway::Method").map(([, m]) => {
      const resourceId = m.Properties.ResourceId as Json;
      const path = resourceId.Ref ? resourcePath(resourceId.Ref as string) : "/";
      return { path, method: m.Properties.HttpMethod as string, props: m.Properties as Json };
    });
    // Every GET route is also served for HEAD (API Gateway routes only the methods a resource has).
    const routes = routeList().flatMap((r) =>
      r.method === "GET" ? [r, { ...r, method: "HEAD" as const }] : [r],
    );

    expect(methods).toHaveLength(routes.length);
    for (const route of routes) {
      const found = methods.find((m) => m.path === route.path && m.method === route.method);
      expect(found, `${route.method} ${route.path}`).toBeDefined();
      if (route.access === "public") {
        expect(found!.props.AuthorizationType, route.operationId).toBe("NONE");
        expect(found!.props.AuthorizerId, route.operationId).toBeUndefined();
      } else {
        expect(found!.props.AuthorizationType, route.operationId).toBe("CUSTOM");
        expect(found!.props.AuthorizerId, route.operationId).toEqual({ Ref: authorizerId });
      }
      expect(found!.props.Integration.Type, route.operationId).toBe("AWS_PROXY");
      const handlerId = logicalId(stack.api.handlers.get(route.group)!);
      expect(JSON.stringify(found!.props.Integration.Uri), route.operationId).toContain(handlerId);
    }
  });

  it("answers its own errors in the service's error shape, with the request id and the API's headers", () => {
    const responses = resourcesOfType("AWS::ApiGateway::GatewayResponse").map(
      ([, r]) => r.Properties as Json,
    );
    const byType = new Map(responses.map((r) => [r.ResponseType as string, r]));

    for (const type of [
      "UNAUTHORIZED",
      "ACCESS_DENIED",
      "MISSING_AUTHENTICATION_TOKEN",
      "DEFAULT_4XX",
      "DEFAULT_5XX",
    ]) {
      const response = byType.get(type);
      expect(response, type).toBeDefined();
      expect(response!.ResponseParameters, type).toMatchObject({
        "gatewayresponse.header.Cache-Control": "'no-store'",
        "gatewayresponse.header.X-Content-Type-Options": "'nosniff'",
      });
      // The template is JSON once API Gateway substitutes its variables.
      const body = (response!.ResponseTemplates as Record<string, string>)
        ["application/json"]!.replace("$context.requestId", "req-1")
        .replace("$context.error.messageString", '"Request too large"');
      expect(JSON.parse(body), type).toMatchObject({
        error: { code: expect.any(String), message: expect.any(String), details: { requestId: "req-1" } },
      });
    }
    expect(byType.get("UNAUTHORIZED")!.ResponseParameters).toMatchObject({
      "gatewayresponse.header.WWW-Authenticate": "'Bearer'",
    });
  });

  it("authorizes with the authorizer Lambda on the Authorization header, cached briefly", () => {
    template.hasResourceProperties("AWS::ApiGateway::Authorizer", {
      Type: "REQUEST",
      IdentitySource: "method.request.header.Authorization",
      AuthorizerResultTtlInSeconds: 60,
    });
    const [[, authorizer]] = resourcesOfType("AWS::ApiGateway::Authorizer") as [[string, Json]];
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain(
      logicalId(stack.api.authorizerFunction),
    );
  });

  it("logs access as JSON, traces, throttles and never logs bodies", () => {
    const [[, stage]] = resourcesOfType("AWS::ApiGateway::Stage") as [[string, Json]];
    const props = stage.Properties as Json;
    expect(props.TracingEnabled).toBe(true);
    expect(JSON.parse(props.AccessLogSetting.Format as string)).toMatchObject({
      requestId: "$context.requestId",
      status: "$context.status",
    });
    const accessLogs = resources[props.AccessLogSetting.DestinationArn["Fn::GetAtt"][0] as string]!;
    expect(accessLogs.Properties.KmsKeyId).toBeDefined();
    expect(props.MethodSettings).toEqual([
      expect.objectContaining({
        HttpMethod: "*",
        ResourcePath: "/*",
        LoggingLevel: "INFO",
        DataTraceEnabled: false,
        ThrottlingRateLimit: 50,
        ThrottlingBurstLimit: 100,
      }),
    ]);
    template.hasResourceProperties("AWS::ApiGateway::Account", { CloudWatchRoleArn: Match.anyValue() });
  });

  it("gives the handlers the state machines and schedules they drive", () => {
    for (const [group, fn] of stack.api.handlers) {
      const env = resources[logicalId(fn)]!.Properties.Environment.Variables as Json;
      for (const [kind, stateMachine] of stack.workflows.stateMachines) {
        expect(env[stateMachineArnVariable(kind)], group).toEqual({ Ref: logicalId(stateMachine) });
      }
      expect(env.SCHEDULE_GROUP_NAME, group).toBe("TenantProvisioningTest-tenant-operations");
      expect(env.SCHEDULE_DEAD_LETTER_QUEUE_ARN, group).toEqual({
        "Fn::GetAtt": [logicalId(stack.schedules.deadLetterQueue), "Arn"],
      });

      const statements = statementsOfRole(roleIdOf(fn));
      const actions = statements.flatMap((s) => asArray(s.Action) as string[]);
      expect(actions, group).toEqual(
        expect.arrayContaining([
          "states:StartExecution",
          "states:StopExecution",
          "scheduler:CreateSchedule",
          "scheduler:DeleteSchedule",
          "scheduler:GetSchedule",
          "iam:PassRole",
        ]),
      );
      const passRole = statements.find((s) => asArray(s.Action).includes("iam:PassRole"))!;
      expect(passRole.Resource, group).toEqual({
        "Fn::GetAtt": [logicalId(stack.schedules.role as never), "Arn"],
      });
      const scheduler = statements.find((s) => asArray(s.Action).includes("scheduler:CreateSchedule"))!;
      expect(JSON.stringify(scheduler.Resource), group).toContain(
        "schedule/TenantProvisioningTest-tenant-operations/*",
      );
    }
  });
});

describe("schedules", { timeout: TEST_TIMEOUT_MS }, () => {
  it("has a schedule group and a role only EventBridge Scheduler assumes, able to start deprovisioning, provisioning and batches only", () => {
    template.hasResourceProperties("AWS::Scheduler::ScheduleGroup", {
      Name: "TenantProvisioningTest-tenant-operations",
    });
    const role = resources[logicalId(stack.schedules.role as never)]!;
    const trust = role.Properties.AssumeRolePolicyDocument.Statement as Json[];
    expect(trust.map((s) => s.Principal.Service)).toEqual(["scheduler.amazonaws.com"]);
    const statements = statementsOfRole(logicalId(stack.schedules.role as never));
    const started = (["deprovisioning", "provisioning", "batch"] as const)
      .map((kind) => stack.workflows.stateMachines.get(kind))
      .filter((machine) => machine !== undefined);
    const sendToDlq = expect.objectContaining({
      Action: expect.arrayContaining(["sqs:SendMessage"]),
      Resource: { "Fn::GetAtt": [logicalId(stack.schedules.deadLetterQueue), "Arn"] },
    });
    expect(statements).toEqual([
      ...started.map((machine) =>
        expect.objectContaining({ Action: "states:StartExecution", Resource: { Ref: logicalId(machine) } }),
      ),
      sendToDlq,
    ]);
  });

  it("lets the scheduler assume its role only for schedules of this account's schedule group (confused deputy)", () => {
    const role = resources[logicalId(stack.schedules.role as never)]!;
    const [trust] = role.Properties.AssumeRolePolicyDocument.Statement as Json[];
    // The schedule group's ARN, not schedules or a name prefix: those never match and AssumeRole fails.
    expect(trust!.Condition).toEqual({
      StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
      ArnEquals: { "aws:SourceArn": { "Fn::GetAtt": [logicalId(stack.schedules.group), "Arn"] } },
    });
  });

  it("runs the sweep every five minutes when functions/sweep.ts exists", () => {
    if (sweepEntry()) {
      const sweep = stack.schedules.sweepFunction!;
      template.hasResourceProperties("AWS::Events::Rule", {
        ScheduleExpression: "rate(5 minutes)",
        Targets: [Match.objectLike({ Arn: { "Fn::GetAtt": [logicalId(sweep), "Arn"] } })],
      });
      const topicRef = { Ref: logicalId(stack.notifications.alertsTopic) };
      const env = resources[logicalId(sweep)]!.Properties.Environment.Variables as Json;
      expect(env.ALERT_TOPIC_ARN).toEqual(topicRef);
      const deprovisioning = { Ref: logicalId(stack.workflows.stateMachines.get("deprovisioning")!) };
      expect(env[stateMachineArnVariable("deprovisioning")]).toEqual(deprovisioning);
      const statements = statementsOfRole(roleIdOf(sweep));
      expect(statements).toContainEqual(
        expect.objectContaining({ Action: "sns:Publish", Resource: topicRef }),
      );
      // Overdue schedules: the sweep starts the execution their schedule did not.
      expect(statements).toContainEqual(
        expect.objectContaining({ Action: "states:StartExecution", Resource: deprovisioning }),
      );
      const batch = { Ref: logicalId(stack.workflows.stateMachines.get("batch")!) };
      expect(env[stateMachineArnVariable("batch")]).toEqual(batch);
      expect(statements).toContainEqual(
        expect.objectContaining({ Action: "states:StartExecution", Resource: batch }),
      );
    } else {
      template.resourceCountIs("AWS::Events::Rule", 0);
      expect(stack.schedules.sweepFunction).toBeUndefined();
    }
  });
});

describe("notifications and backups", { timeout: TEST_TIMEOUT_MS }, () => {
  it("has an encrypted notifications queue with a dead-letter queue after 5 receives, TLS only", () => {
    const queueId = logicalId(stack.notifications.queue);
    const dlqId = logicalId(stack.notifications.deadLetterQueue);
    expect(resources[queueId]!.Properties).toMatchObject({
      KmsMasterKeyId: expect.anything(),
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: { "Fn::GetAtt": [dlqId, "Arn"] } },
    });
    expect(resources[dlqId]!.Properties.KmsMasterKeyId).toBeDefined();
    for (const id of [queueId, dlqId]) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          ]),
        },
      });
    }
  });

  it("has a KMS-encrypted, private, TLS-only, versioned backups bucket with lifecycle rules and access logs", () => {
    const bucket = resources[logicalId(stack.backups.bucket)]!;
    expect(bucket.DeletionPolicy).toBe("Retain");
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          expect.objectContaining({
            ServerSideEncryptionByDefault: expect.objectContaining({ SSEAlgorithm: "aws:kms" }),
          }),
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: "Enabled" },
      LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(stack.backups.accessLogsBucket) } },
    });
    const rules = bucket.Properties.LifecycleConfiguration.Rules as Json[];
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Transitions: [{ StorageClass: "GLACIER_IR", TransitionInDays: 30 }],
        }),
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 90 } }),
      ]),
    );
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: { Ref: logicalId(stack.backups.bucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
  });
});

describe("alarms", { timeout: TEST_TIMEOUT_MS }, () => {
  const alarms = () => resourcesOfType("AWS::CloudWatch::Alarm").map(([, a]) => a.Properties as Json);
  const find = (metric: string, dimension: string, ref: string) =>
    alarms().find(
      (a) =>
        a.MetricName === metric &&
        ((a.Dimensions ?? []) as Json[]).some(
          (d) => d.Name === dimension && JSON.stringify(d.Value).includes(ref),
        ),
    );

  it("alarms to the encrypted alerts topic on failed runs, timed-out executions, API 5xx and dead letters", () => {
    const topicId = logicalId(stack.notifications.alertsTopic);
    expect(resources[topicId]!.Properties.KmsMasterKeyId).toBeDefined();
    for (const alarm of alarms()) expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);

    for (const stateMachine of stack.workflows.stateMachines.values()) {
      const id = logicalId(stateMachine);
      // Real failures only: the status-change handler's metric, not AWS/States ExecutionsFailed,
      // which also counts the Cancelled and ScheduleNotStarted Fail states.
      expect(find("RunExecutionsFailed", "StateMachineArn", id)).toMatchObject({
        Namespace: "TenantProvisioning",
        Threshold: 1,
      });
      expect(find("ExecutionsFailed", "StateMachineArn", id)).toBeUndefined();
      expect(find("ExecutionsTimedOut", "StateMachineArn", id)).toMatchObject({ Threshold: 1 });
    }
    expect(
      alarms().find((a) => a.MetricName === "5XXError" && a.Namespace === "AWS/ApiGateway"),
    ).toBeDefined();
    for (const queue of [
      stack.notifications.deadLetterQueue,
      stack.schedules.deadLetterQueue,
      stack.executionEvents.deadLetterQueue,
    ]) {
      expect(find("ApproximateNumberOfMessagesVisible", "QueueName", logicalId(queue))).toMatchObject({
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
      });
    }
  });

  it("alarms when a notification waits too long, the scheduler cannot start a schedule, or the sweep fails", () => {
    expect(
      find("ApproximateAgeOfOldestMessage", "QueueName", logicalId(stack.notifications.queue)),
    ).toMatchObject({ Threshold: 1800 });
    for (const metric of ["TargetErrorCount", "InvocationDroppedCount"]) {
      expect(find(metric, "ScheduleGroup", "TenantProvisioningTest-tenant-operations"), metric).toMatchObject(
        {
          Namespace: "AWS/Scheduler",
          Threshold: 1,
        },
      );
    }
    for (const name of ["sweep", "execution-ended", "notification-sender"]) {
      const fn = stack.serviceFunctions.get(name)!;
      expect(find("Errors", "FunctionName", logicalId(fn)), name).toMatchObject({ Namespace: "AWS/Lambda" });
    }
  });

  it("alarms on throttles of every service Lambda, at most 10 metrics per alarm", () => {
    const throttled = new Set<string>();
    for (const alarm of alarms().filter((a) => a.Metrics)) {
      const metrics = (alarm.Metrics as Json[]).filter((m) => m.MetricStat);
      if (!metrics.every((m) => m.MetricStat.Metric.MetricName === "Throttles")) continue;
      expect(metrics.length).toBeLessThanOrEqual(10);
      expect((alarm.Metrics as Json[]).find((m) => m.Expression)?.Expression).toMatch(/^SUM\(\[/);
      for (const m of metrics) throttled.add(m.MetricStat.Metric.Dimensions[0].Value.Ref as string);
    }
    expect([...throttled].sort()).toEqual([...stack.serviceFunctions.values()].map(logicalId).sort());
  });
});

describe("executions that end outside the ASL's Catch", { timeout: TEST_TIMEOUT_MS }, () => {
  it("sends FAILED, TIMED_OUT and ABORTED status changes of the stack's state machines to the handler", () => {
    const handler = stack.executionEvents.function;
    const rule = resources[logicalId(stack.executionEvents.rule)]!.Properties as Json;
    expect(rule.EventPattern).toEqual({
      source: ["aws.states"],
      "detail-type": ["Step Functions Execution Status Change"],
      detail: {
        status: ["FAILED", "TIMED_OUT", "ABORTED"],
        stateMachineArn: expect.arrayContaining(
          [...stack.workflows.stateMachines.values()].map((m) => ({ Ref: logicalId(m) })),
        ),
      },
    });
    expect(rule.EventPattern.detail.stateMachineArn).toHaveLength(stack.workflows.stateMachines.size);
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { "Fn::GetAtt": [logicalId(handler), "Arn"] },
        DeadLetterConfig: {
          Arn: { "Fn::GetAtt": [logicalId(stack.executionEvents.deadLetterQueue), "Arn"] },
        },
        RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
      }),
    ]);
    const actions = statementsOfRole(roleIdOf(handler)).flatMap((s) => asArray(s.Action) as string[]);
    expect(actions).toEqual(
      expect.arrayContaining(["rds-data:ExecuteStatement", "states:DescribeExecution"]),
    );
    expect(actions).not.toContain("states:StartExecution");
  });
});

describe("deployment order", { timeout: TEST_TIMEOUT_MS }, () => {
  it("migrates before new code serves: the API, authorizer and step Lambdas depend on the migration trigger", () => {
    const [[triggerId]] = resourcesOfType("Custom::Trigger") as [[string, Json]];
    const serving = [
      ...[...stack.api.handlers.values()],
      stack.api.authorizerFunction,
      ...stack.steps.functions.values(),
      stack.executionEvents.function,
      stack.notificationSender.function,
      ...(stack.schedules.sweepFunction ? [stack.schedules.sweepFunction] : []),
    ];
    for (const fn of serving) {
      expect(resources[logicalId(fn)]!.DependsOn, logicalId(fn)).toContain(triggerId);
    }
    // The migrating Lambda itself runs first.
    expect(resources[logicalId(stack.migrations.function)]!.DependsOn ?? []).not.toContain(triggerId);
  });

  it("has no dependency cycle CloudFormation would refuse", () => {
    const edges = new Map<string, Set<string>>();
    const collect = (node: unknown, into: Set<string>): void => {
      if (Array.isArray(node)) for (const n of node) collect(n, into);
      else if (node && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
          if (k === "Ref" && typeof v === "string" && v in resources) into.add(v);
          else if (k === "Fn::GetAtt" && Array.isArray(v)) into.add(v[0] as string);
          else collect(v, into);
        }
      }
    };
    for (const [id, r] of Object.entries(resources)) {
      const into = new Set<string>(asArray((r.DependsOn ?? []) as string | string[]));
      collect(r.Properties ?? {}, into);
      edges.set(id, into);
    }
    const state = new Map<string, "visiting" | "done">();
    const cycles: string[] = [];
    const visit = (id: string, path: string[]): void => {
      if (state.get(id) === "done") return;
      if (state.get(id) === "visiting") {
        cycles.push([...path, id].join(" -> "));
        return;
      }
      state.set(id, "visiting");
      for (const next of edges.get(id) ?? []) visit(next, [...path, id]);
      state.set(id, "done");
    };
    for (const id of edges.keys()) visit(id, []);
    expect(cycles).toEqual([]);
  });
});

describe("console on CloudFront", { timeout: TEST_TIMEOUT_MS }, () => {
  const distribution = () =>
    resources[logicalId(stack.console.distribution)]!.Properties.DistributionConfig as Json;

  it("serves the console from its private bucket through origin access control", () => {
    const config = distribution();
    const bucketId = logicalId(stack.console.bucket);
    const origin = (config.Origins as Json[]).find(
      (o) => o.Id === config.DefaultCacheBehavior.TargetOriginId,
    )!;
    expect(origin.DomainName).toEqual({ "Fn::GetAtt": [bucketId, "RegionalDomainName"] });
    expect(origin.OriginAccessControlId).toBeDefined();
    expect(config.DefaultRootObject).toBe("index.html");
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe("redirect-to-https");
    expect(resources[bucketId]!.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    // Only this distribution may read the bucket.
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Allow",
            Principal: { Service: "cloudfront.amazonaws.com" },
            Condition: {
              StringEquals: { "AWS:SourceArn": Match.anyValue() },
            },
          }),
        ]),
      },
    });
    template.resourceCountIs("Custom::CDKBucketDeployment", 1);
  });

  it("forwards /api/* to the REST API's stage, uncached, with every viewer header but Host", () => {
    const config = distribution();
    const [api] = config.CacheBehaviors as Json[];
    expect(config.CacheBehaviors).toHaveLength(1);
    expect(api).toMatchObject({
      PathPattern: "/api/*",
      ViewerProtocolPolicy: "https-only",
      AllowedMethods: ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
      // Managed policies: CachingDisabled and AllViewerExceptHostHeader.
      CachePolicyId: cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId,
      OriginRequestPolicyId:
        cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId,
    });
    const origin = (config.Origins as Json[]).find((o) => o.Id === api!.TargetOriginId)!;
    expect(JSON.stringify(origin.DomainName)).toContain(logicalId(stack.api.restApi));
    expect(JSON.stringify(origin.OriginPath)).toContain(logicalId(stack.api.restApi.deploymentStage));
    expect(origin.CustomOriginConfig.OriginProtocolPolicy).toBe("https-only");
  });

  it("adds the local server's security headers, CSP included, and outputs the console URL", () => {
    const config = distribution();
    const policyId = logicalId(stack.console.responseHeadersPolicy);
    expect(config.DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual({ Ref: policyId });
    expect((config.CacheBehaviors as Json[])[0]!.ResponseHeadersPolicyId).toEqual({ Ref: policyId });
    const headers = resources[policyId]!.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig as Json;
    expect(headers.ContentSecurityPolicy.ContentSecurityPolicy).toBe(
      CONSOLE_SECURITY_HEADERS["content-security-policy"],
    );
    expect(headers.ContentTypeOptions).toEqual({ Override: true });
    expect(headers.ReferrerPolicy.ReferrerPolicy).toBe(CONSOLE_SECURITY_HEADERS["referrer-policy"]);
    expect(headers.FrameOptions.FrameOption).toBe("DENY");
    const output = template.toJSON().Outputs.ConsoleUrl as Json;
    expect(JSON.stringify(output.Value)).toContain(logicalId(stack.console.distribution));
  });

  it("deploys the console's files and the contract module it imports (/contract.js)", () => {
    const [, deployment] = resourcesOfType("Custom::CDKBucketDeployment")[0]!;
    const sources = deployment.Properties.SourceObjectKeys as unknown[];
    // console/ as an asset, and contract.js generated at synth (Source.data: a second zip).
    expect(sources).toHaveLength(2);
    expect(JSON.stringify(deployment.Properties.DestinationBucketName)).toContain(
      logicalId(stack.console.bucket),
    );
  });
});

describe("API Gateway's own answers", { timeout: TEST_TIMEOUT_MS }, () => {
  /** What API Gateway would send: its $context variables filled in. */
  const render = (body: string) =>
    JSON.parse(
      body
        .replaceAll("$context.requestId", "c0ffee00-0000-4000-8000-000000000000")
        .replaceAll("$context.error.messageString", JSON.stringify('Unsupported "Media" Type')),
    ) as unknown;

  it("answers in the service's error shape with the request id, unknown routes with 404", () => {
    const responses = resourcesOfType("AWS::ApiGateway::GatewayResponse").map(
      ([, r]) => r.Properties as Json,
    );
    const byType = new Map(responses.map((r) => [r.ResponseType as string, r]));
    const expected: Record<string, string | undefined> = {
      DEFAULT_4XX: undefined,
      DEFAULT_5XX: undefined,
      UNAUTHORIZED: "401",
      ACCESS_DENIED: "403",
      MISSING_AUTHENTICATION_TOKEN: "404",
      REQUEST_TOO_LARGE: "413",
      THROTTLED: "429",
      AUTHORIZER_FAILURE: "503",
    };
    expect([...byType.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [type, status] of Object.entries(expected)) {
      const response = byType.get(type)!;
      expect(response.StatusCode, type).toBe(status);
      expect(response.RestApiId, type).toEqual({ Ref: logicalId(stack.api.restApi) });
      const body = render(response.ResponseTemplates["application/json"] as string);
      expect(apiErrorBody.parse(body), type).toMatchObject({
        error: { details: { requestId: "c0ffee00-0000-4000-8000-000000000000" } },
      });
      expect(response.ResponseParameters["gatewayresponse.header.Content-Type"], type).toBe(
        "'application/json; charset=utf-8'",
      );
    }
    const notFound = render(
      byType.get("MISSING_AUTHENTICATION_TOKEN")!.ResponseTemplates["application/json"],
    );
    expect(notFound).toMatchObject({ error: { code: "not_found" } });
    const fourXx = render(byType.get("DEFAULT_4XX")!.ResponseTemplates["application/json"]);
    expect(fourXx).toMatchObject({ error: { message: 'Unsupported "Media" Type' } });
    expect(byType.get("THROTTLED")!.ResponseParameters["gatewayresponse.header.Retry-After"]).toBe("'1'");
  });

  it("the shape check above fails on a body that is not in the error shape", () => {
    expect(apiErrorBody.safeParse({ message: "Missing Authentication Token" }).success).toBe(false);
  });
});

describe("notification sender", { timeout: TEST_TIMEOUT_MS }, () => {
  it("consumes the notifications queue with partial batch responses, paused until a sender is configured", () => {
    const fn = stack.notificationSender.function;
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: logicalId(fn) },
      EventSourceArn: { "Fn::GetAtt": [logicalId(stack.notifications.queue), "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      BatchSize: 10,
      Enabled: false,
    });
    const actions = statementsOfRole(roleIdOf(fn)).flatMap((s) => asArray(s.Action) as string[]);
    expect(actions).toContain("sqs:ReceiveMessage");
    expect(actions).not.toContain("ses:SendEmail");
    expect(
      Annotations.fromStack(stack)
        .findWarning("*", Match.stringLikeRegexp("notificationSender"))
        .map((w) => w.id),
    ).toEqual([`/${stack.node.id}/NotificationSender`]);
  });

  it("sends as the configured SES identity, with its configuration set, and only as that address", () => {
    const scope = new Stack(new App(), "Sender");
    const notifications = new Notifications(scope, "Notifications");
    const sender = new NotificationSender(scope, "Sender", {
      entry: lambdaEntries().find((e) => e.role === "notification-sender")!.entry,
      notifications,
      senderAddress: "no-reply@schools.example",
      configurationSet: "tenant-mail",
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    const t = Template.fromStack(scope);
    const json = t.toJSON().Resources as Record<string, Json>;
    const fnId = scope.resolve((sender.function.node.defaultChild as CfnElement).logicalId) as string;

    t.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: fnId },
      Enabled: true,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    expect(json[fnId]!.Properties.Environment.Variables).toMatchObject({
      NOTIFICATION_SENDER: "no-reply@schools.example",
      SES_CONFIGURATION_SET: "tenant-mail",
    });
    const statements = Object.values(json)
      .filter((r) => r.Type === "AWS::IAM::Policy")
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[]);
    const send = statements.find((s) => asArray(s.Action).includes("ses:SendEmail"))!;
    expect(send.Condition).toEqual({ StringEquals: { "ses:FromAddress": "no-reply@schools.example" } });
    expect(JSON.stringify(send.Resource)).toContain(":configuration-set/tenant-mail");
  });
});

describe("configuration", { timeout: TEST_TIMEOUT_MS }, () => {
  /** A function's environment with CloudFormation references replaced by values of the right form. */
  function resolvedEnvironment(fn: lambda.Function): Record<string, string> {
    const env = resources[logicalId(fn)]!.Properties.Environment.Variables as Record<string, unknown>;
    const plausible = (name: string): string => {
      if (name.endsWith("_STATE_MACHINE_ARN"))
        return `arn:aws:states:eu-west-1:123456789012:stateMachine:${name.toLowerCase().replaceAll("_", "-")}`;
      if (name === "SCHEDULER_ROLE_ARN") return "arn:aws:iam::123456789012:role/scheduler";
      if (name === "SCHEDULE_DEAD_LETTER_QUEUE_ARN") return "arn:aws:sqs:eu-west-1:123456789012:schedule-dlq";
      if (name === "ALERT_TOPIC_ARN") return "arn:aws:sns:eu-west-1:123456789012:alerts";
      if (name === "NOTIFICATIONS_QUEUE_URL")
        return "https://sqs.eu-west-1.amazonaws.com/123456789012/notifications";
      if (name === "EVENT_DLQ_URL") return "https://sqs.eu-west-1.amazonaws.com/123456789012/event-dlq";
      if (name === "BACKUP_BUCKET_NAME") return "tenant-backups";
      return `arn:aws:x:eu-west-1:123456789012:${name.toLowerCase()}`;
    };
    return Object.fromEntries(
      Object.entries(env).map(([name, value]) => [name, typeof value === "string" ? value : plausible(name)]),
    );
  }

  it("sets only variables the validated configuration reads, each one valid", () => {
    expect(ENVIRONMENT_VARIABLES).toContain("PROVISIONING_STATE_MACHINE_ARN");
    for (const [name, fn] of stack.serviceFunctions) {
      const env = resolvedEnvironment(fn);
      // NODE_OPTIONS is Node's own.
      const unknown = Object.keys(env).filter((v) => v !== "NODE_OPTIONS" && !isEnvironmentVariable(v));
      expect(unknown, name).toEqual([]);
      expect(() => loadConfig(env), name).not.toThrow();
    }
  });

  it("gives each Lambda the settings it requires at cold start", () => {
    for (const [name, fn] of stack.api.handlers) {
      const config = loadConfig(resolvedEnvironment(fn));
      expect(() => requireStateMachineArns(config, name), name).not.toThrow();
      expect(config.deprovisioning.scheduleGroupName, name).not.toBeNull();
      expect(config.deprovisioning.schedulerRoleArn, name).not.toBeNull();
      expect(config.deprovisioning.scheduleDeadLetterQueueArn, name).not.toBeNull();
      expect(config.database.kind, name).toBe("data-api");
    }
    const sweep = loadConfig(resolvedEnvironment(stack.schedules.sweepFunction!));
    expect(() => requireSetting(sweep.operations.alertTopicArn, "ALERT_TOPIC_ARN", "sweep")).not.toThrow();
    expect(sweep.stateMachineArns.deprovisioning).toBeDefined();
  });

  it("the check above fails for a Lambda that lacks a variable, naming it", () => {
    const env = resolvedEnvironment(stack.api.authorizerFunction);
    expect(() => requireStateMachineArns(loadConfig(env), "the authorizer")).toThrow(
      /PROVISIONING_STATE_MACHINE_ARN: required by the authorizer/,
    );
  });
});

describe("lifecycle events", { timeout: TEST_TIMEOUT_MS }, () => {
  const busRef = () => ({ Ref: logicalId(stack.events.bus as never) });

  it("has a custom event bus the publisher may put events on, and nothing else may", () => {
    const publisher = stack.events.publisher;
    const env = resources[logicalId(publisher)]!.Properties.Environment.Variables as Json;
    const statements = statementsOfRole(roleIdOf(publisher));
    const busArn = { "Fn::GetAtt": [logicalId(stack.events.bus as never), "Arn"] };
    const dlqArn = { "Fn::GetAtt": [logicalId(stack.events.deadLetterQueue), "Arn"] };

    template.resourceCountIs("AWS::Events::EventBus", 1);
    expect(env.EVENT_BUS_NAME).toEqual(busRef());
    expect(env.EVENT_DLQ_URL).toEqual({ Ref: logicalId(stack.events.deadLetterQueue) });
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: "events:PutEvents", Resource: busArn }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: "sqs:SendMessage", Resource: dlqArn }),
    );
    for (const [name, fn] of stack.serviceFunctions) {
      if (fn === publisher) continue;
      const actions = statementsOfRole(roleIdOf(fn)).flatMap((s) => asArray(s.Action) as string[]);
      expect(actions, name).not.toContain("events:PutEvents");
    }
  });

  it("runs the publisher and the sender every minute, retried then dead-lettered", () => {
    const dlqArn = { "Fn::GetAtt": [logicalId(stack.events.deadLetterQueue), "Arn"] };
    for (const fn of [stack.events.publisher, stack.events.sender]) {
      template.hasResourceProperties("AWS::Events::Rule", {
        ScheduleExpression: "rate(1 minute)",
        Targets: [
          Match.objectLike({
            Arn: { "Fn::GetAtt": [logicalId(fn), "Arn"] },
            DeadLetterConfig: { Arn: dlqArn },
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 600 },
          }),
        ],
      });
    }
    const dlq = resources[logicalId(stack.events.deadLetterQueue)]!.Properties as Json;
    expect(dlq.SqsManagedSseEnabled).toBe(true);
    template.hasResourceProperties("AWS::SQS::QueuePolicy", {
      Queues: [{ Ref: logicalId(stack.events.deadLetterQueue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
  });

  it("alarms to the alerts topic on dead letters and on publisher and sender errors", () => {
    const topic = { Ref: logicalId(stack.notifications.alertsTopic) };
    const ids = stack.events.alarms.map((a) => logicalId(a));
    const alarms = ids.map((id) => resources[id]!.Properties as Json);

    expect(alarms.map((a) => a.MetricName).sort()).toEqual(
      ["ApproximateNumberOfMessagesVisible", "Errors", "Errors"].sort(),
    );
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([topic]);
      expect(alarm.Threshold).toBe(1);
    }
    const errorsOf = alarms.filter((a) => a.MetricName === "Errors").map((a) => JSON.stringify(a.Dimensions));
    expect(errorsOf.some((d) => d.includes(logicalId(stack.events.publisher)))).toBe(true);
    expect(errorsOf.some((d) => d.includes(logicalId(stack.events.sender)))).toBe(true);
  });

  it("seals webhook secrets with a rotated KMS key: the webhooks API may encrypt, the sender decrypt, nobody else", () => {
    const keyId = logicalId(stack.events.secretsKey);
    const keyArn = { "Fn::GetAtt": [keyId, "Arn"] };
    const api = stack.api.handlers.get("webhooks")!;
    const usesKey = (fn: lambda.Function) =>
      statementsOfRole(roleIdOf(fn))
        .filter((s) => JSON.stringify(s.Resource).includes(keyId))
        .flatMap((s) => asArray(s.Action) as string[]);

    expect(resources[keyId]!.Properties.EnableKeyRotation).toBe(true);
    expect(resources[logicalId(api)]!.Properties.Environment.Variables.WEBHOOK_SECRETS_KMS_KEY_ID).toEqual(
      keyArn,
    );
    expect(
      resources[logicalId(stack.events.sender)]!.Properties.Environment.Variables.WEBHOOK_SECRETS_KMS_KEY_ID,
    ).toEqual(keyArn);
    expect(usesKey(api)).toEqual(["kms:Encrypt"]);
    expect(usesKey(stack.events.sender)).toEqual(["kms:Decrypt"]);
    for (const [name, fn] of stack.serviceFunctions) {
      if (fn === api || fn === stack.events.sender) continue;
      expect(usesKey(fn), name).toEqual([]);
    }
  });

  it("offers API destinations for static webhooks: API-key connection, 24 h of EventBridge retries, dead letters, cdk-nag clean", () => {
    // Prepare: the construct alone, without bundling
    const scope = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Destinations");
    const database = new Database(scope, "Database", {
      deletionProtection: false,
      minCapacity: 0.5,
      maxCapacity: 2,
      backupRetention: Duration.days(1),
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    const destinations = webhookDestinationsFromContext(
      JSON.stringify([
        {
          name: "billing",
          url: "https://billing.example.com/hooks/tenants",
          eventTypes: ["tenant.provisioning.completed", "tenant.deleted"],
          apiKeySecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-key-AbCdEf",
          apiKeyHeader: "x-billing-key",
        },
        {
          name: "crm",
          url: "https://crm.example.com/in",
          eventTypes: ["*"],
          apiKeySecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-key-AbCdEf",
        },
      ]),
    );
    const eventsConstruct = new Events(scope, "Events", {
      database,
      alarmTopic: new sns.Topic(scope, "Topic", {
        enforceSSL: true,
        masterKey: new kms.Key(scope, "TopicKey", { enableKeyRotation: true }),
      }),
      publisherEntry: join(process.cwd(), "functions/event-publisher.ts"),
      senderEntry: join(process.cwd(), "functions/webhook-sender.ts"),
      webhookDestinations: destinations,
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    Aspects.of(scope).add(new AwsSolutionsChecks({ verbose: true }));

    // Act
    const destinationTemplate = Template.fromStack(scope);

    // Assess
    destinationTemplate.hasResourceProperties("AWS::Events::Connection", {
      AuthorizationType: "API_KEY",
      AuthParameters: { ApiKeyAuthParameters: Match.objectLike({ ApiKeyName: "x-billing-key" }) },
    });
    destinationTemplate.hasResourceProperties("AWS::Events::ApiDestination", {
      InvocationEndpoint: "https://billing.example.com/hooks/tenants",
      HttpMethod: "POST",
    });
    const dlqId = scope.resolve((eventsConstruct.deadLetterQueue.node.defaultChild as CfnElement).logicalId);
    const dlqArn = { "Fn::GetAtt": [dlqId, "Arn"] };
    destinationTemplate.hasResourceProperties("AWS::Events::Rule", {
      EventBusName: Match.anyValue(),
      EventPattern: {
        source: ["tenant-provisioning"],
        "detail-type": ["tenant.provisioning.completed", "tenant.deleted"],
      },
      Targets: [
        Match.objectLike({
          InputPath: "$.detail",
          HttpParameters: { HeaderParameters: { "webhook-id": "$.detail.id" } },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: dlqArn },
        }),
      ],
    });
    destinationTemplate.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["tenant-provisioning"] },
    });
    expect(eventsConstruct.destinationRules).toHaveLength(2);
    // cdk-nag on this construct's resources (the stack's own suppressions cover the database's
    // CDK-internal log-retention function, which this bare test stack does not have).
    const annotations = Annotations.fromStack(scope);
    const format = (m: SynthesisMessage) => `${m.id}: ${String(m.entry.data)}`;
    const mine = (messages: SynthesisMessage[]) =>
      messages.filter((m) => m.id.startsWith("/Destinations/Events/")).map(format);
    const nag = Match.stringLikeRegexp("AwsSolutions-.*");
    expect(annotations.findError("*", nag).length + annotations.findWarning("*", nag).length).toBeGreaterThan(
      0,
    );
    expect(mine(annotations.findError("*", nag))).toEqual([]);
    expect(mine(annotations.findWarning("*", nag))).toEqual([]);
  });

  it("rejects a malformed webhookDestinations context, naming the field", () => {
    expect(() => webhookDestinationsFromContext("not json")).toThrow(/webhookDestinations: is not JSON/);
    expect(() =>
      webhookDestinationsFromContext([
        {
          name: "x",
          url: "http://plain.example.com",
          eventTypes: ["*"],
          apiKeySecretArn: "arn:aws:secretsmanager:x",
        },
      ]),
    ).toThrow(/webhookDestinations\.0\.url: must be an https/);
    expect(() =>
      webhookDestinationsFromContext([
        {
          name: "x",
          url: "https://a.example.com",
          eventTypes: ["tenant.exploded"],
          apiKeySecretArn: "arn:aws:secretsmanager:x",
        },
      ]),
    ).toThrow(/webhookDestinations\.0\.eventTypes\.0/);
    expect(webhookDestinationsFromContext(undefined)).toEqual([]);
  });
});

describe("cdk-nag", { timeout: TEST_TIMEOUT_MS }, () => {
  it("reports no unsuppressed AwsSolutions error or warning", () => {
    const annotations = Annotations.fromStack(stack);
    const format = (m: SynthesisMessage) => `${m.id}: ${String(m.entry.data)}`;

    expect(annotations.findError("*", Match.stringLikeRegexp("AwsSolutions-.*")).map(format)).toEqual([]);
    expect(annotations.findWarning("*", Match.stringLikeRegexp("AwsSolutions-.*")).map(format)).toEqual([]);
    expect(
      annotations.findError("*", Match.stringLikeRegexp("CdkNagValidationFailure.*")).map(format),
    ).toEqual([]);
  });

  it("gives every suppression a reason, and scopes every wildcard suppression to the wildcards it allows", () => {
    const suppressions: Json[] = Object.entries(resources).flatMap(([id, r]) =>
      ((r.Metadata?.cdk_nag?.rules_to_suppress ?? []) as Json[]).map((s) => ({ resource: id, ...s })),
    );
    expect(suppressions.length).toBeGreaterThan(0);
    for (const s of suppressions) {
      expect(typeof s.reason, `${s.id} on ${s.resource}`).toBe("string");
      expect((s.reason as string).length, `${s.id} on ${s.resource}: ${s.reason}`).toBeGreaterThanOrEqual(40);
      // cdk-nag stores a reason with non-ASCII characters base64-encoded, unreadable in the template.
      expect(s.reason, `${s.id} on ${s.resource}`).toMatch(/^[\x20-\x7E]+$/);
      if (s.id === "AwsSolutions-IAM5" || s.id === "AwsSolutions-IAM4") {
        expect(s.applies_to, `${s.id} on ${s.resource} must say which wildcard`).toBeDefined();
      }
    }
  });
});

describe("deploy settings from CDK context", { timeout: TEST_TIMEOUT_MS }, () => {
  it("defaults to deletion protection and the ASL's retry values", () => {
    const settings = deploySettings(() => undefined);

    expect(settings).toMatchObject({ stackName: "TenantProvisioning", deletionProtection: true });
    expect(settings.retryPolicy).toBeUndefined();
  });

  it("reads -c values given as strings", () => {
    const context: Record<string, string> = {
      deletionProtection: "false",
      dbMaxCapacity: "8",
      stepRetryMaxAttempts: "6",
    };
    const settings = deploySettings((key) => context[key]);

    expect(settings.deletionProtection).toBe(false);
    expect(settings.database.maxCapacity).toBe(8);
    expect(settings.retryPolicy).toEqual({
      intervalSeconds: 2,
      backoffRate: 2,
      maxAttempts: 6,
      maxDelaySeconds: 60,
    });
  });

  it("pauses the database of non-production stages when idle, and then sweeps hourly", () => {
    const production = deploySettings(() => undefined);
    const dev = deploySettings((key) => (key === "stage" ? "development" : undefined));
    const warmDev = deploySettings((key) => ({ stage: "development", dbAutoPause: "false" })[key]);

    expect(production).toMatchObject({ stage: "production", sweepIntervalMinutes: 5 });
    expect(production.database.minCapacity).toBe(0.5);
    expect(dev.database.minCapacity).toBe(0);
    // Every 5 minutes the sweep would keep an auto-paused cluster (5 minutes idle) awake.
    expect(dev.sweepIntervalMinutes).toBe(60);
    expect(warmDev.database.minCapacity).toBe(0.5);
    expect(warmDev.sweepIntervalMinutes).toBe(5);
    expect(() => deploySettings((key) => ({ dbAutoPause: "true", dbMinCapacity: "1" })[key])).toThrow(
      /dbAutoPause/,
    );
    expect(() => deploySettings((key) => ({ dbMinCapacity: "0" })[key])).toThrow(/dbAutoPause=true/);
  });

  it("reads the notification sender and SES configuration set", () => {
    const settings = deploySettings(
      (key) => ({ notificationSender: "no-reply@schools.example", sesConfigurationSet: "tenant-mail" })[key],
    );

    expect(settings).toMatchObject({
      notificationSender: "no-reply@schools.example",
      sesConfigurationSet: "tenant-mail",
    });
    expect(() =>
      deploySettings((key) => (key === "notificationSender" ? "not an address" : undefined)),
    ).toThrow(/notificationSender/);
  });

  it("reads tenantCells from cdk.json (an array) or -c (a JSON string), refusing what a Lambda could not use", () => {
    const fromString = deploySettings((key) =>
      key === "tenantCells" ? JSON.stringify(TENANT_CELLS) : undefined,
    );

    expect(fromString.tenantCells).toEqual(TENANT_CELLS);
    expect(deploySettings(() => undefined).tenantCells).toEqual([]);
    const bad = (value: unknown) => () =>
      deploySettings((key) => (key === "tenantCells" ? value : undefined));
    expect(bad([{ ...TENANT_CELLS[0], name: "main" }])).toThrow(/tenantCells[\s\S]*control-plane/);
    expect(bad([TENANT_CELLS[0], TENANT_CELLS[0]])).toThrow(/tenantCells[\s\S]*named twice/);
    expect(bad([{ ...TENANT_CELLS[0], clusterArn: "tenants-east" }])).toThrow(
      /tenantCells[\s\S]*cluster ARN/,
    );
    expect(bad([{ name: "east", url: "postgres://db/east" }])).toThrow(/tenantCells.*not a URL/);
    expect(bad("east=postgres://db/east")).toThrow(/tenantCells.*JSON array/);
  });

  it("rejects a malformed value, naming it", () => {
    expect(() => deploySettings((key) => (key === "deletionProtection" ? "maybe" : undefined))).toThrow(
      /deletionProtection/,
    );
    expect(() => deploySettings((key) => (key === "stepRetryMaxAttempts" ? "lots" : undefined))).toThrow(
      /STEP_RETRY_MAX_ATTEMPTS/,
    );
  });
});
