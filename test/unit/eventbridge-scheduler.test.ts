/**
 * The EventBridge Scheduler adapter (the Scheduler client mocked with aws-sdk-client-mock, reset
 * after each test): one-time `at(...)` schedules that start the deprovisioning state machine.
 */
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  SchedulerServiceException,
} from "@aws-sdk/client-scheduler";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  atExpression,
  EventBridgeScheduler,
  scheduleName,
} from "../../functions/domain/scheduling/eventbridge-scheduler.ts";
import { scheduledExecutionInput } from "../../functions/domain/scheduling/scheduler.ts";

const schedulerMock = mockClient(SchedulerClient);
const OPTIONS = {
  groupName: "tenant-provisioning-tenant-operations",
  roleArn: "arn:aws:iam::123456789012:role/scheduler",
  stateMachineArns: {
    deprovision: "arn:aws:states:eu-west-1:123456789012:stateMachine:deprovisioning",
    provision: "arn:aws:states:eu-west-1:123456789012:stateMachine:provisioning",
    batch: "arn:aws:states:eu-west-1:123456789012:stateMachine:batch",
  },
  deadLetterQueueArn: "arn:aws:sqs:eu-west-1:123456789012:schedule-dlq",
};
const OPERATION = {
  id: "6a1f0c2e-0d43-4a5b-8d8e-1b2c3d4e5f60",
  kind: "deprovision" as const,
  tenantId: "9b2f1e43-0c55-4d0b-a7ea-4f6f5b1c2d3e",
  runAt: new Date("2031-05-04T09:30:00.250Z"),
};

afterEach(() => {
  schedulerMock.reset();
});

describe("EventBridgeScheduler", () => {
  it("creates a one-time UTC schedule that starts the deprovisioning state machine and deletes itself", async () => {
    // Prepare
    schedulerMock.on(CreateScheduleCommand).resolves({ ScheduleArn: "arn:aws:scheduler:::schedule/x" });
    const scheduler = new EventBridgeScheduler(new SchedulerClient({ region: "eu-west-1" }), OPTIONS);

    // Act
    const ref = await scheduler.create(OPERATION);

    // Assess
    expect(ref).toBe(`deprovision-${OPERATION.id}`);
    const calls = schedulerMock.commandCalls(CreateScheduleCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toMatchObject({
      Name: ref,
      GroupName: OPTIONS.groupName,
      // Rounded up to the next second: a schedule never fires early.
      ScheduleExpression: "at(2031-05-04T09:30:01)",
      ScheduleExpressionTimezone: "UTC",
      FlexibleTimeWindow: { Mode: "OFF" },
      ActionAfterCompletion: "DELETE",
      ClientToken: OPERATION.id,
      Target: {
        Arn: OPTIONS.stateMachineArns.deprovision,
        RoleArn: OPTIONS.roleArn,
        DeadLetterConfig: { Arn: OPTIONS.deadLetterQueueArn },
      },
    });
    expect(JSON.parse(input.Target!.Input!)).toEqual(scheduledExecutionInput(OPERATION.id));
    expect(JSON.parse(input.Target!.Input!)).toMatchObject({ startAt: "StartScheduledRun" });
  });

  it("starts the provisioning state machine for a scheduled provisioning, under its own name", async () => {
    // Prepare
    schedulerMock.on(CreateScheduleCommand).resolves({ ScheduleArn: "arn:aws:scheduler:::schedule/y" });
    const scheduler = new EventBridgeScheduler(new SchedulerClient({ region: "eu-west-1" }), OPTIONS);

    // Act
    const ref = await scheduler.create({ ...OPERATION, kind: "provision" });

    // Assess
    expect(ref).toBe(`provision-${OPERATION.id}`);
    const input = schedulerMock.commandCalls(CreateScheduleCommand)[0]!.args[0].input;
    expect(input.Target!.Arn).toBe(OPTIONS.stateMachineArns.provision);
    expect(input.Description).toMatch(/^Provision tenant/);
    expect(JSON.parse(input.Target!.Input!)).toEqual(scheduledExecutionInput(OPERATION.id));
  });

  it("deletes a schedule, and a schedule already gone is not an error", async () => {
    // Prepare
    schedulerMock
      .on(DeleteScheduleCommand)
      .resolvesOnce({})
      .rejectsOnce(new ResourceNotFoundException({ message: "gone", Message: "gone", $metadata: {} }));
    const scheduler = new EventBridgeScheduler(new SchedulerClient({ region: "eu-west-1" }), OPTIONS);

    // Act
    await scheduler.delete(scheduleName(OPERATION.id));
    await scheduler.delete(scheduleName(OPERATION.id));

    // Assess
    const calls = schedulerMock.commandCalls(DeleteScheduleCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([
      { Name: `deprovision-${OPERATION.id}`, GroupName: OPTIONS.groupName },
      { Name: `deprovision-${OPERATION.id}`, GroupName: OPTIONS.groupName },
    ]);
  });

  it("passes other failures on", async () => {
    // Prepare
    const refused = new SchedulerServiceException({
      name: "ValidationException",
      message: "The expression is in the past",
      $fault: "client",
      $metadata: {},
    });
    schedulerMock.on(CreateScheduleCommand).rejects(refused);
    const scheduler = new EventBridgeScheduler(new SchedulerClient({ region: "eu-west-1" }), OPTIONS);

    // Act + Assess
    await expect(scheduler.create(OPERATION)).rejects.toBe(refused);
  });

  it("formats at() without a zone, in whole seconds", () => {
    expect(atExpression(new Date("2030-01-31T09:00:00.000Z"))).toBe("at(2030-01-31T09:00:00)");
    expect(atExpression(new Date("2030-12-31T23:59:59.001Z"))).toBe("at(2031-01-01T00:00:00)");
  });
});
