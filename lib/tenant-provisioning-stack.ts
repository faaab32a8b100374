/**
 * The whole service in one stack: the database, the step Lambdas and the workflows that run them,
 * the API and the console in front of it, schedules, notifications and their sender, backups,
 * the handler of executions that end outside the ASL's Catch, and alarms. Which Lambdas and state
 * machines exist is derived from the code (lib/lambda-entries.ts): a new API group, step or ASL
 * file needs no change here.
 *
 * Deployment order that matters: every Lambda that serves (API handlers, authorizer, steps, sweep,
 * status-change handler, sender) depends on the migrations trigger, so a deployment migrates the
 * database before new code runs; the database's deletion protection is switched on last.
 */
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import { NagSuppressions } from "cdk-nag";
import type { Construct } from "constructs";
import type { ApiGroup } from "../functions/http/route-table.ts";
import type { RetryPolicy } from "../functions/shared/config.ts";
import { stateMachineArnVariable } from "../functions/shared/config.ts";
import { workflowLambda } from "../functions/workflows/step-catalog.ts";
import { Alarms } from "./constructs/alarms.ts";
import { Api } from "./constructs/api.ts";
import { Backups } from "./constructs/backups.ts";
import { ConsoleHosting } from "./constructs/console-hosting.ts";
import { Database } from "./constructs/database.ts";
import { Events, type WebhookDestination } from "./constructs/events.ts";
import { ExecutionEvents } from "./constructs/execution-events.ts";
import { MigrationsTrigger } from "./constructs/migrations-trigger.ts";
import { NotificationSender } from "./constructs/notification-sender.ts";
import { Notifications } from "./constructs/notifications.ts";
import { Schedules } from "./constructs/schedules.ts";
import { ServiceFunction } from "./constructs/service-function.ts";
import { StepFunctions } from "./constructs/step-functions.ts";
import { Workflows } from "./constructs/workflows.ts";
import type { TenantCell } from "./context.ts";
import { type LambdaEntry, lambdaEntries, workflowKinds } from "./lambda-entries.ts";
import { shortestTaskDeadlines, stepLambdaTimeouts } from "./step-timeouts.ts";

export interface TenantProvisioningStackProps extends StackProps {
  /** Aurora deletion protection (and a final snapshot on delete); off only for disposable dev stacks. */
  readonly deletionProtection: boolean;
  readonly database?: {
    readonly minCapacity: number;
    readonly maxCapacity: number;
    readonly backupRetentionDays: number;
    readonly autoPauseAfterMinutes?: number;
  };
  readonly apiThrottling?: { readonly rateLimit: number; readonly burstLimit: number };
  readonly alertEmail?: string;
  /** Verified SES identity notifications are sent from; without it the sender is deployed paused. */
  readonly notificationSender?: string;
  readonly sesConfigurationSet?: string;
  /** The set-password page of admin invitations (the API's INVITATION_BASE_URL). */
  readonly invitationBaseUrl?: string;
  /** How often the sweep runs (default 5 minutes). */
  readonly sweepIntervalMinutes?: number;
  /** Overrides the ASL files' retry defaults for `TransientError`. */
  readonly retryPolicy?: RetryPolicy;
  readonly logRetention?: logs.RetentionDays;
  /** Static webhooks EventBridge delivers through API destinations (context `webhookDestinations`). */
  readonly webhookDestinations?: readonly WebhookDestination[];
  /** Tenant databases besides the control plane's own (context `tenantCells`). */
  readonly tenantCells?: readonly TenantCell[];
}

export class TenantProvisioningStack extends Stack {
  readonly lambdaEntries: readonly LambdaEntry[];
  readonly database: Database;
  readonly notifications: Notifications;
  readonly backups: Backups;
  readonly steps: StepFunctions;
  readonly workflows: Workflows;
  readonly schedules: Schedules;
  readonly api: Api;
  readonly alarms: Alarms;
  readonly events: Events;
  readonly migrations: MigrationsTrigger;
  readonly adminKeyFunction: lambda.Function;
  readonly executionEvents: ExecutionEvents;
  readonly notificationSender: NotificationSender;
  readonly console: ConsoleHosting;

  constructor(scope: Construct, id: string, props: TenantProvisioningStackProps) {
    super(scope, id, props);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const kinds = workflowKinds();
    const entries = lambdaEntries(kinds);
    this.lambdaEntries = entries;
    const entriesOf = (role: LambdaEntry["role"]) => entries.filter((e) => e.role === role);
    const single = (role: LambdaEntry["role"]): string => {
      const [entry] = entriesOf(role);
      if (!entry) throw new Error(`no Lambda entry for ${role}`);
      return entry.entry;
    };

    // Encrypts the execution logs of the workflows and the API access logs.
    const logsKey = new kms.Key(this, "LogsKey", {
      description: "Tenant provisioning: workflow execution logs and API access logs",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    logsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        resources: ["*"],
        conditions: {
          ArnLike: {
            "kms:EncryptionContext:aws:logs:arn": this.formatArn({
              service: "logs",
              resource: "log-group",
              resourceName: "*",
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    this.database = new Database(this, "Database", {
      deletionProtection: props.deletionProtection,
      minCapacity: props.database?.minCapacity ?? 0.5,
      maxCapacity: props.database?.maxCapacity ?? 4,
      backupRetention: Duration.days(props.database?.backupRetentionDays ?? 14),
      ...(props.database?.autoPauseAfterMinutes
        ? { autoPauseAfter: Duration.minutes(props.database.autoPauseAfterMinutes) }
        : {}),
      logRetention,
      ...(props.tenantCells ? { tenantCells: props.tenantCells } : {}),
    });
    this.notifications = new Notifications(this, "Notifications", {
      ...(props.alertEmail ? { alertEmail: props.alertEmail } : {}),
    });
    this.backups = new Backups(this, "Backups");

    this.migrations = new MigrationsTrigger(this, "Migrations", {
      entry: single("migrate-on-deploy"),
      database: this.database,
      logRetention,
    });

    this.steps = new StepFunctions(this, "Steps", {
      steps: entriesOf("step").map((e) => ({ name: e.name, entry: e.entry })),
      database: this.database,
      notifications: this.notifications,
      backups: this.backups,
      logRetention,
      timeoutSeconds: stepLambdaTimeouts(kinds),
      shortestDeadlineSeconds: shortestTaskDeadlines(kinds),
    });
    this.workflows = new Workflows(this, "Workflows", {
      kinds,
      stepFunctions: this.steps.functions,
      logsKey,
      logRetention,
      ...(props.retryPolicy ? { retryPolicy: props.retryPolicy } : {}),
    });

    const deprovisioning = this.workflows.stateMachines.get("deprovisioning");
    const provisioning = this.workflows.stateMachines.get("provisioning");
    const batch = this.workflows.stateMachines.get("batch");
    // A batch's iteration (AdvanceBatchChild) starts child provisioning runs: the batch workflow's
    // Lambda, and no other, may start executions of the provisioning machine.
    const batchSteps = this.steps.functions.get(workflowLambda("batch"));
    if (batchSteps && provisioning) {
      batchSteps.addEnvironment(stateMachineArnVariable("provisioning"), provisioning.stateMachineArn);
      provisioning.grantStartExecution(batchSteps);
    }
    const sweep = entriesOf("sweep")[0];
    this.schedules = new Schedules(this, "Schedules", {
      ...(deprovisioning ? { deprovisioning } : {}),
      ...(provisioning ? { provisioning } : {}),
      ...(batch ? { batch } : {}),
      ...(sweep ? { sweepEntry: sweep.entry } : {}),
      ...(props.sweepIntervalMinutes ? { sweepInterval: Duration.minutes(props.sweepIntervalMinutes) } : {}),
      database: this.database,
      notifications: this.notifications,
      logRetention,
    });

    this.api = new Api(this, "Api", {
      groupEntries: new Map(entriesOf("api").map((e) => [e.name as ApiGroup, e.entry])),
      authorizerEntry: single("authorizer"),
      database: this.database,
      stateMachines: this.workflows.stateMachines,
      schedules: this.schedules,
      logsKey,
      logRetention,
      throttling: props.apiThrottling ?? { rateLimit: 50, burstLimit: 100 },
      ...(props.invitationBaseUrl ? { invitationBaseUrl: props.invitationBaseUrl } : {}),
    });

    this.executionEvents = new ExecutionEvents(this, "ExecutionEvents", {
      entry: single("execution-ended"),
      stateMachines: this.workflows.stateMachines,
      database: this.database,
      logRetention,
    });
    this.notificationSender = new NotificationSender(this, "NotificationSender", {
      entry: single("notification-sender"),
      notifications: this.notifications,
      ...(props.notificationSender ? { senderAddress: props.notificationSender } : {}),
      ...(props.sesConfigurationSet ? { configurationSet: props.sesConfigurationSet } : {}),
      logRetention,
    });
    this.console = new ConsoleHosting(this, "Console", {
      api: this.api.restApi,
      accessLogsBucket: this.backups.accessLogsBucket,
    });

    this.events = new Events(this, "Events", {
      database: this.database,
      alarmTopic: this.notifications.alertsTopic,
      publisherEntry: single("event-publisher"),
      senderEntry: single("webhook-sender"),
      ...(this.api.handlers.get("webhooks")
        ? { webhooksApiHandler: this.api.handlers.get("webhooks")! }
        : {}),
      ...(props.webhookDestinations ? { webhookDestinations: props.webhookDestinations } : {}),
      logRetention,
    });

    this.adminKeyFunction = new ServiceFunction(this, "CreateAdminKey", {
      entry: single("create-admin-key"),
      description:
        "Tenant provisioning: create an admin API key (invoke by hand, see docs/aws-deployment.md)",
      environment: this.database.dataApiEnvironment,
      timeout: Duration.seconds(30),
      memorySize: 256,
      logRetention,
    }).function;
    this.database.grantDataApiAccess(this.adminKeyFunction);

    const functions = this.serviceFunctions;
    this.alarms = new Alarms(this, "Alarms", {
      topic: this.notifications.alertsTopic,
      stateMachines: this.workflows.stateMachines,
      api: this.api.restApi,
      notificationsQueue: this.notifications.queue,
      deadLetterQueue: this.notifications.deadLetterQueue,
      scheduleGroupName: this.schedules.groupName,
      scheduleDeadLetterQueue: this.schedules.deadLetterQueue,
      executionEventsDeadLetterQueue: this.executionEvents.deadLetterQueue,
      watchedFunctions: new Map(
        [...functions].filter(
          ([name]) => name === "sweep" || name === "execution-ended" || name === "notification-sender",
        ),
      ),
      serviceFunctions: functions,
    });

    // Migrate before new code serves: every Lambda that runs against the database waits for the trigger.
    this.migrations.trigger.executeBefore(
      ...[...functions].filter(([name]) => name !== "migrate-on-deploy").map(([, fn]) => fn),
    );
    // Protect the database last: a first deployment that fails before this point rolls back cleanly.
    for (const child of this.node.children) {
      if (child !== this.database) this.database.deletionProtection.node.addDependency(child);
    }

    this.suppressCdkInternals();

    new CfnOutput(this, "ConsoleUrl", {
      value: this.console.url,
      description: "The web console (and the API under /api/ on the same origin)",
    });
    new CfnOutput(this, "ApiUrl", { value: this.api.restApi.url, description: "Base URL of the REST API" });
    new CfnOutput(this, "CreateAdminKeyFunctionName", {
      value: this.adminKeyFunction.functionName,
      description: "aws lambda invoke --function-name <this> --payload '{}' key.json",
    });
    for (const [kind, stateMachine] of this.workflows.stateMachines) {
      new CfnOutput(this, `${kind.charAt(0).toUpperCase()}${kind.slice(1)}StateMachineArn`, {
        value: stateMachine.stateMachineArn,
      });
    }
    new CfnOutput(this, "ClusterArn", { value: this.database.cluster.clusterArn });
    new CfnOutput(this, "DatabaseSecretArn", { value: this.database.secret.secretArn });
    new CfnOutput(this, "BackupsBucketName", { value: this.backups.bucket.bucketName });
    new CfnOutput(this, "NotificationsQueueUrl", { value: this.notifications.queue.queueUrl });
    new CfnOutput(this, "AlertsTopicArn", { value: this.notifications.alertsTopic.topicArn });
    new CfnOutput(this, "EventBusName", {
      value: this.events.bus.eventBusName,
      description: "Lifecycle events: source tenant-provisioning, detail-type = the event type",
    });
  }

  /** Lambdas this stack creates itself (CDK adds a few of its own for custom resources). */
  get serviceFunctions(): ReadonlyMap<string, lambda.Function> {
    const all = new Map<string, lambda.Function>();
    for (const [group, fn] of this.api.handlers) all.set(`api:${group}`, fn);
    all.set("authorizer", this.api.authorizerFunction);
    for (const [name, fn] of this.steps.functions) all.set(`step:${name}`, fn);
    all.set("migrate-on-deploy", this.migrations.function);
    all.set("create-admin-key", this.adminKeyFunction);
    all.set("execution-ended", this.executionEvents.function);
    all.set("notification-sender", this.notificationSender.function);
    if (this.schedules.sweepFunction) all.set("sweep", this.schedules.sweepFunction);
    all.set("event-publisher", this.events.publisher);
    all.set("webhook-sender", this.events.sender);
    return all;
  }

  /** Findings on the Lambdas and roles CDK itself adds for custom resources (not this service's code). */
  private suppressCdkInternals(): void {
    // The AwsCustomResource provider that switches on the database's deletion protection.
    for (const child of this.node.children) {
      if (!child.node.id.startsWith("AWS679f53fac002430cb0da5b7982bd2287")) continue;
      NagSuppressions.addResourceSuppressions(
        child,
        [
          {
            id: "AwsSolutions-IAM4",
            reason:
              "CDK's AwsCustomResource provider (sets the database's deletion protection at the end of a deployment) uses AWSLambdaBasicExecutionRole; the function is CDK's, not the service's.",
            appliesTo: [
              "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ],
          },
          {
            id: "AwsSolutions-L1",
            reason:
              "CDK's AwsCustomResource provider runs the runtime CDK chose for it; it is CDK's function, updated with aws-cdk-lib.",
          },
        ],
        true,
      );
    }
    // The singleton that sets the retention of the Aurora log group (cloudwatchLogsRetention): RDS
    // creates that log group itself, so CDK sets its retention through this custom resource.
    for (const child of this.node.children) {
      if (!child.node.id.startsWith("LogRetention")) continue;
      NagSuppressions.addResourceSuppressions(
        child,
        [
          {
            id: "AwsSolutions-IAM4",
            reason:
              "CDK's LogRetention custom resource (retention of the Aurora log group RDS creates) uses AWSLambdaBasicExecutionRole; the function is CDK's, not the service's.",
            appliesTo: [
              "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ],
          },
          {
            id: "AwsSolutions-IAM5",
            reason:
              "CDK's LogRetention custom resource calls logs:PutRetentionPolicy / DeleteRetentionPolicy on a log group whose name is only known at deploy time, so CDK grants them on '*'.",
            appliesTo: ["Resource::*"],
          },
        ],
        true,
      );
    }
  }
}
