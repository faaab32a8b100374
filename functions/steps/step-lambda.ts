/**
 * Turns a step factory into a Lambda handler whose dependencies (Data API database, notification
 * channel) are built once per container, on the first invocation.
 */
import { openDatabase } from "../db/client.ts";
import { outboxChannel } from "../domain/notifications/notification-channel.ts";
import type { StepDeps, StepFactory, StepHandler } from "../domain/steps/step-deps.ts";
import { loadConfig } from "../shared/config.ts";
import { createLogger } from "../shared/logger.ts";

let deps: Promise<StepDeps> | undefined;

export function productionStepDeps(): Promise<StepDeps> {
  deps ??= (async () => {
    const config = loadConfig();
    const { db } = await openDatabase(config.database);
    return {
      db,
      logger: createLogger(config.logLevel),
      clock: () => new Date(),
      notifications: outboxChannel,
      lockTimeoutMs: config.stepLockTimeoutMs,
    };
  })();
  return deps;
}

export function lambdaStep(factory: StepFactory): StepHandler {
  let handler: StepHandler | undefined;
  return async (input) => {
    handler ??= factory(await productionStepDeps());
    return handler(input);
  };
}
