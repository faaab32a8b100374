/**
 * Applies `migrations/` (and seeds the default templates) through the Data API during deployment,
 * after the cluster exists and before the stack completes: a CDK trigger invokes
 * `functions/migrate-on-deploy.ts`, and a failure fails (and rolls back) the deployment.
 *
 * The trigger runs whenever the function's version changes — its bundle includes `migrations/`,
 * and its environment names the cluster — so every deployment that brings a new migration, new
 * code or a new cluster migrates. Migrating is idempotent, so an extra run is harmless.
 */
import { Duration } from "aws-cdk-lib";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as triggers from "aws-cdk-lib/triggers";
import { Construct } from "constructs";
import type { Database } from "./database.ts";
import { ServiceFunction } from "./service-function.ts";

export interface MigrationsTriggerProps {
  readonly entry: string;
  readonly database: Database;
  readonly logRetention: logs.RetentionDays;
}

export class MigrationsTrigger extends Construct {
  readonly function: lambda.Function;
  readonly trigger: triggers.Trigger;

  constructor(scope: Construct, id: string, props: MigrationsTriggerProps) {
    super(scope, id);
    this.function = new ServiceFunction(this, "Migrate", {
      entry: props.entry,
      description: "Tenant provisioning: apply control-plane migrations and seed default templates",
      environment: props.database.dataApiEnvironment,
      timeout: Duration.minutes(10),
      logRetention: props.logRetention,
    }).function;
    props.database.grantDataApiAccess(this.function);
    this.trigger = new triggers.Trigger(this, "OnDeploy", {
      handler: this.function,
      executeAfter: [props.database.cluster],
      executeOnHandlerChange: true,
      timeout: Duration.minutes(12),
    });
  }
}
