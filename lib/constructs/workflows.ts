/**
 * One Standard state machine per `statemachines/<kind>.asl.json`. The ASL file is the only
 * definition: it is deployed as text with its `${XFunctionArn}` placeholders left in, and
 * CloudFormation's DefinitionSubstitutions fill them with the step Lambdas' ARNs — the same
 * substitution the local runner applies (functions/workflows/definitions.ts). Nothing about the
 * states is rebuilt here.
 */
import { ArnFormat, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import type { RetryPolicy } from "../../functions/shared/config.ts";
import {
  applyRetryPolicy,
  readDefinitionText,
  statemachinesDir,
  substitutionNames,
} from "../../functions/workflows/definitions.ts";
import { functionArnSubstitution, type WorkflowName } from "../../functions/workflows/step-catalog.ts";

export interface WorkflowsProps {
  readonly kinds: readonly WorkflowName[];
  /** The step Lambdas by module name (`functions/steps/<kind>-steps.ts`). */
  readonly stepFunctions: ReadonlyMap<string, lambda.IFunction>;
  /** Encrypts the execution logs. */
  readonly logsKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  /** Overrides the ASL's retry defaults for `TransientError` (deploy-time context). */
  readonly retryPolicy?: RetryPolicy;
  readonly statemachinesDir?: string;
}

/** The definition text to deploy: the ASL file, or the ASL file with a retry policy applied. */
export function deployedDefinition(kind: WorkflowName, retryPolicy?: RetryPolicy, dir?: string): string {
  const text = readDefinitionText(kind, dir ?? statemachinesDir());
  if (!retryPolicy) return text;
  return `${JSON.stringify(applyRetryPolicy(JSON.parse(text) as unknown, retryPolicy), null, 2)}\n`;
}

/** The execution log group of a workflow: `/aws/vendedlogs/states/<stack>-<kind>`. */
export function vendedLogGroupName(stackName: string, kind: WorkflowName): string {
  return `/aws/vendedlogs/states/${stackName}-${kind}`;
}

/** A definition with a Distributed Map state starts child executions of its own state machine. */
export function hasDistributedMap(definition: string): boolean {
  return /"Mode"\s*:\s*"DISTRIBUTED"/.test(definition);
}

function pascalCase(kind: string): string {
  return kind.charAt(0).toUpperCase() + kind.slice(1);
}

export class Workflows extends Construct {
  readonly stateMachines: ReadonlyMap<WorkflowName, sfn.StateMachine>;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const byPlaceholder = new Map<string, lambda.IFunction>();
    for (const [name, fn] of props.stepFunctions) byPlaceholder.set(functionArnSubstitution(name), fn);

    const stateMachines = new Map<WorkflowName, sfn.StateMachine>();
    // A workflow that starts another (`${UpgradeStateMachineArn}`) is made after it.
    const definitions = new Map(
      props.kinds.map((kind) => [kind, deployedDefinition(kind, props.retryPolicy, props.statemachinesDir)]),
    );
    const children = (kind: WorkflowName) =>
      substitutionNames(definitions.get(kind)!)
        .map((p) => /^([A-Z][A-Za-z0-9]*)StateMachineArn$/.exec(p)?.[1])
        .filter((name): name is string => name !== undefined)
        .map((name) => name.toLowerCase() as WorkflowName);
    const ordered = [...props.kinds].sort((a, b) => children(a).length - children(b).length);
    for (const kind of ordered) {
      const definition = definitions.get(kind)!;
      const childMachines = children(kind).map((child) => {
        const machine = stateMachines.get(child);
        if (!machine) {
          throw new Error(
            `statemachines/${kind}.asl.json starts the ${child} workflow, which is not deployed`,
          );
        }
        return [`${pascalCase(child)}StateMachineArn`, machine] as const;
      });
      const isChild = new Set<string>(childMachines.map(([placeholder]) => placeholder));
      const used = substitutionNames(definition)
        .filter((p) => !isChild.has(p))
        .map((placeholder) => {
          const fn = byPlaceholder.get(placeholder);
          if (!fn) {
            throw new Error(
              `statemachines/${kind}.asl.json uses \${${placeholder}}, but no step Lambda of the step catalog has that name`,
            );
          }
          return [placeholder, fn] as const;
        });

      // Under /aws/vendedlogs/: Step Functions adds every logging state machine's log group to the
      // account's CloudWatch Logs resource policy, which is limited to 5,120 characters; log groups
      // under this prefix are covered without it (step-functions/latest/dg/bp-cwl.html).
      const logGroup = new logs.LogGroup(this, `${pascalCase(kind)}Logs`, {
        logGroupName: vendedLogGroupName(Stack.of(this).stackName, kind),
        encryptionKey: props.logsKey,
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // A Distributed Map runs its iterations as child executions of its own state machine, so the
      // machine's role must start, describe and stop executions of itself. The ARN is built from a
      // fixed name: referring to the machine's own ARN token in its role would be a cycle.
      const distributed = hasDistributedMap(definition);
      const stateMachineName = distributed ? `${Stack.of(this).stackName}-${kind}` : undefined;
      const stateMachine = new sfn.StateMachine(this, pascalCase(kind), {
        ...(stateMachineName ? { stateMachineName } : {}),
        comment: `Tenant ${kind} (statemachines/${kind}.asl.json)`,
        definitionBody: sfn.DefinitionBody.fromString(definition),
        definitionSubstitutions: Object.fromEntries([
          ...used.map(([placeholder, fn]) => [placeholder, fn.functionArn] as const),
          ...childMachines.map(([placeholder, machine]) => [placeholder, machine.stateMachineArn] as const),
        ]),
        stateMachineType: sfn.StateMachineType.STANDARD,
        logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
        tracingEnabled: true,
      });
      for (const [, fn] of used) fn.grantInvoke(stateMachine);
      if (stateMachineName) {
        const stack = Stack.of(this);
        const arnOf = (resource: string, resourceName: string) =>
          stack.formatArn({
            service: "states",
            resource,
            resourceName,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          });
        stateMachine.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ["states:StartExecution"],
            resources: [arnOf("stateMachine", stateMachineName)],
          }),
        );
        stateMachine.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ["states:DescribeExecution", "states:StopExecution"],
            resources: [
              arnOf("execution", `${stateMachineName}:*`),
              arnOf("execution", `${stateMachineName}/*`),
            ],
          }),
        );
      }
      // `states:startExecution.sync:2`: start the child, follow it, stop it when this one stops, and
      // the managed rule through which Step Functions learns that the child ended
      // (step-functions/latest/dg/stepfunctions-iam.html).
      for (const [, child] of childMachines) {
        child.grantStartExecution(stateMachine);
        child.grantExecution(stateMachine, "states:DescribeExecution", "states:StopExecution");
        stateMachine.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources: [
              Stack.of(this).formatArn({
                service: "events",
                resource: "rule",
                resourceName: "StepFunctionsGetEventsForStepFunctionsExecutionRule",
              }),
            ],
          }),
        );
      }
      NagSuppressions.addResourceSuppressions(
        stateMachine.role,
        [
          {
            id: "AwsSolutions-IAM5",
            reason:
              "CloudWatch Logs delivery (logs:CreateLogDelivery and friends) and X-Ray (xray:PutTraceSegments, GetSamplingRules...) support no resource-level permissions; CDK grants them on '*'.",
            appliesTo: ["Resource::*"],
          },
          {
            id: "AwsSolutions-IAM5",
            reason:
              "lambda:InvokeFunction on '<function ARN>:*' covers the versions and aliases of this workflow's own step functions only.",
            appliesTo: [{ regex: "/^Resource::<[A-Za-z0-9]+\\.Arn>:\\*$/" }],
          },
          {
            id: "AwsSolutions-IAM5",
            reason:
              "A Distributed Map's iterations are child executions of this state machine, named by Step Functions; DescribeExecution / StopExecution are limited to executions of this state machine.",
            appliesTo: [{ regex: "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*[:/]\\*$/" }],
          },
          {
            id: "AwsSolutions-IAM5",
            reason:
              "states:DescribeExecution and StopExecution on the executions of the one child state machine this workflow starts (startExecution.sync:2); execution names are made per run.",
            appliesTo: [
              {
                regex:
                  "/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*:\\*$/",
              },
            ],
          },
        ],
        true,
      );
      stateMachines.set(kind, stateMachine);
    }
    this.stateMachines = stateMachines;
  }
}
