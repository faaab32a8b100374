/**
 * A Lambda whose environment lacks a variable it needs fails at cold start with a ConfigError
 * naming the variable (not later, mid-request, with an undefined ARN). The environment is set on
 * process.env as Lambda sets it; nothing reaches AWS (the failure comes before any client call).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { productionDeps } from "../../functions/api/production-deps.ts";
import { handler as notificationSender } from "../../functions/notification-sender.ts";
import { ConfigError, STATE_MACHINE_ARN_VARIABLES } from "../../functions/shared/config.ts";
import { handler as sweep } from "../../functions/sweep.ts";

const DATA_API = {
  DB_CLUSTER_ARN: "arn:aws:rds:eu-west-1:123456789012:cluster:cp",
  DB_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cp",
  DB_NAME: "provisioning",
};
const saved = { ...process.env };

beforeEach(() => {
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, DATA_API);
});
afterEach(() => {
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, saved);
});

describe("cold start", () => {
  it("the API Lambdas name every missing state machine ARN", async () => {
    const error = await productionDeps().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    for (const variable of Object.values(STATE_MACHINE_ARN_VARIABLES)) {
      expect((error as Error).message).toContain(`${variable}: required by the API Lambdas`);
    }
  });

  it("the API Lambdas name a missing schedule variable once the ARNs are there", async () => {
    Object.assign(process.env, {
      PROVISIONING_STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:p",
      DEPROVISIONING_STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:d",
      RESTORE_STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:r",
      BATCH_STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:b",
      UPGRADE_STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:u",
      ROLLOUT_STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:ro",
      SCHEDULE_GROUP_NAME: "tp-tenant-operations",
      SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/scheduler",
    });

    await expect(productionDeps()).rejects.toThrow(
      /SCHEDULE_DEAD_LETTER_QUEUE_ARN: required by the API Lambdas/,
    );
  });

  it("a malformed ARN is refused, naming the variable", async () => {
    process.env.PROVISIONING_STATE_MACHINE_ARN = "provisioning";

    await expect(productionDeps()).rejects.toThrow(
      /PROVISIONING_STATE_MACHINE_ARN: must be a state machine ARN/,
    );
  });

  it("the sweep names the state machines it starts overdue schedules on", async () => {
    process.env.ALERT_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:alerts";

    const scheduled = {
      version: "0",
      id: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
      "detail-type": "Scheduled Event" as const,
      source: "aws.events" as const,
      account: "123456789012",
      time: "2026-01-01T00:00:00Z",
      region: "eu-west-1",
      resources: ["arn:aws:events:eu-west-1:123456789012:rule/sweep"],
      detail: {},
    };

    await expect(sweep(scheduled)).rejects.toThrow(
      /DEPROVISIONING_STATE_MACHINE_ARN: required by the sweep \(overdue schedules\)/,
    );
    process.env.DEPROVISIONING_STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:d";
    await expect(sweep(scheduled)).rejects.toThrow(
      /PROVISIONING_STATE_MACHINE_ARN: required by the sweep \(overdue scheduled provisionings\)/,
    );
  });

  it("the notification sender names its sender address", async () => {
    await expect(notificationSender({ Records: [] })).rejects.toThrow(
      /NOTIFICATION_SENDER: required by the notification sender/,
    );
  });
});
