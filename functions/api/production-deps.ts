/**
 * Production dependencies of a Lambda, built once per container on first use: configuration from
 * the environment, the database through the RDS Data API, workflows on Step Functions.
 */
import { SFNClient } from "@aws-sdk/client-sfn";
import { openDatabase } from "../db/client.ts";
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
    });
    return { db, logger: createLogger(config.logLevel), clock: () => new Date(), workflows };
  })();
  return deps;
}
