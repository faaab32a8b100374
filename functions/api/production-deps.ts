/**
 * Production dependencies of a Lambda, built once per container on first use: configuration from
 * the environment, the database through the RDS Data API, workflows on Step Functions.
 */
import { KMSClient } from "@aws-sdk/client-kms";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SFNClient } from "@aws-sdk/client-sfn";
import { openDatabase } from "../db/client.ts";
import { EventBridgeScheduler } from "../domain/scheduling/eventbridge-scheduler.ts";
import { KmsSecretSealer } from "../domain/webhooks/kms-secret-sealer.ts";
import { loadConfig } from "../shared/config.ts";
import { createLogger } from "../shared/logger.ts";
import { SfnWorkflowRunner } from "../workflows/sfn-workflow-runner.ts";
import type { ApiDeps } from "./deps.ts";

let deps: Promise<ApiDeps> | undefined;

export function productionDeps(): Promise<ApiDeps> {
  deps ??= (async () => {
    const config = loadConfig();
    const { db } = await openDatabase(config.database);
    const workflows = new SfnWorkflowRunner(new SFNClient({}), {
      ...(process.env.PROVISIONING_STATE_MACHINE_ARN
        ? { provisioning: process.env.PROVISIONING_STATE_MACHINE_ARN }
        : {}),
      ...(process.env.DEPROVISIONING_STATE_MACHINE_ARN
        ? { deprovisioning: process.env.DEPROVISIONING_STATE_MACHINE_ARN }
        : {}),
      ...(process.env.RESTORE_STATE_MACHINE_ARN ? { restore: process.env.RESTORE_STATE_MACHINE_ARN } : {}),
    });
    // schedule-deprovision: one-time EventBridge schedules that start the deprovisioning machine.
    const { scheduleGroupName, schedulerRoleArn } = config.deprovisioning;
    const deprovisioningArn = process.env.DEPROVISIONING_STATE_MACHINE_ARN;
    const scheduler =
      scheduleGroupName && schedulerRoleArn && deprovisioningArn
        ? new EventBridgeScheduler(new SchedulerClient({}), {
            groupName: scheduleGroupName,
            roleArn: schedulerRoleArn,
            stateMachineArn: deprovisioningArn,
          })
        : undefined;
    // Webhook subscriptions: secrets sealed with KMS; in AWS no loopback target is allowed.
    const keyId = config.events.webhookSecretsKeyId;
    const webhooks = keyId
      ? { sealer: new KmsSecretSealer(new KMSClient({}), keyId), policy: { allowLoopback: false } }
      : undefined;
    return {
      db,
      logger: createLogger(config.logLevel),
      clock: () => new Date(),
      workflows,
      ...(scheduler ? { scheduler } : {}),
      ...(webhooks ? { webhooks } : {}),
    };
  })();
  return deps;
}
