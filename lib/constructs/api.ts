/**
 * The REST API, built from the route table the local server routes with
 * (functions/http/route-table.ts): one resource per path segment, one method per route, each
 * integrated (Lambda proxy) with its group's Lambda — one Lambda per group, as the code is grouped
 * in `functions/api/<group>.ts`. Every route that is not public sits behind a REQUEST authorizer
 * running the same `authenticate` as the local server.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as apigateway from "aws-cdk-lib/aws-apigateway";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { type ApiGroup, routeList } from "../../functions/http/route-table.ts";
import { type LambdaEnvironment, stateMachineArnVariable } from "../../functions/shared/config.ts";
import {
  authorizerUnavailableError,
  DATABASE_RESUMING_RETRY_AFTER_SECONDS,
  ForbiddenError,
  UnauthorizedError,
} from "../../functions/shared/errors.ts";
import type { WorkflowName } from "../../functions/workflows/step-catalog.ts";
import type { Database } from "./database.ts";
import type { Schedules } from "./schedules.ts";
import { ServiceFunction } from "./service-function.ts";

/**
 * How long an API Lambda waits for an auto-paused database: below API Gateway's 29-second
 * integration timeout (apigateway/latest/developerguide/limits.html), leaving time to answer.
 */
export const API_RESUME_WAIT_SECONDS = 20;
/** The authorizer runs before the handler, within the same 29 seconds. */
export const AUTHORIZER_RESUME_WAIT_SECONDS = 12;

export interface ApiProps {
  /** The entry module of each API group, `functions/api/<group>.ts`. */
  readonly groupEntries: ReadonlyMap<ApiGroup, string>;
  readonly authorizerEntry: string;
  readonly database: Database;
  readonly stateMachines: ReadonlyMap<WorkflowName, sfn.IStateMachine>;
  readonly schedules: Schedules;
  /** Encrypts the access logs. */
  readonly logsKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  /** Steady-state requests per second and burst for the whole stage. */
  readonly throttling: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * How long API Gateway caches an authorizer decision per Authorization header. Revoking a key
   * takes effect within this time.
   */
  readonly authorizerCacheTtl?: Duration;
  readonly stageName?: string;
  /** INVITATION_BASE_URL of the handlers: where admin invitation links point. */
  readonly invitationBaseUrl?: string;
}

/**
 * An answer API Gateway gives itself, before or instead of a handler, in the service's error shape
 * `{"error":{"code","message","details":{"requestId"}}}` — the shape the handlers and the local
 * server answer with (apigateway/latest/developerguide/supported-gateway-response-types.html).
 */
export interface GatewayErrorResponse {
  readonly id: string;
  readonly type: apigateway.ResponseType;
  /** Unset: keep the status API Gateway chose (the DEFAULT_4XX / DEFAULT_5XX families). */
  readonly statusCode?: string;
  readonly code: string;
  /** A fixed message, or `$context.error.messageString` (already a quoted JSON string). */
  readonly message: string | { readonly fromContext: true };
  readonly retryAfterSeconds?: number;
  /** Further headers (static values, quoted as API Gateway wants them). */
  readonly headers?: Readonly<Record<string, string>>;
}

export const GATEWAY_ERROR_RESPONSES: readonly GatewayErrorResponse[] = [
  {
    id: "Default4xx",
    type: apigateway.ResponseType.DEFAULT_4XX,
    code: "request_error",
    message: { fromContext: true },
  },
  // The handlers' own 500 says no more than this either.
  {
    id: "Default5xx",
    type: apigateway.ResponseType.DEFAULT_5XX,
    code: "internal_error",
    message: "internal error",
  },
  {
    id: "Unauthorized",
    type: apigateway.ResponseType.UNAUTHORIZED,
    statusCode: "401",
    code: "unauthorized",
    message: new UnauthorizedError().message,
    headers: { "WWW-Authenticate": "'Bearer'" },
  },
  {
    id: "AccessDenied",
    type: apigateway.ResponseType.ACCESS_DENIED,
    statusCode: "403",
    code: "forbidden",
    message: new ForbiddenError().message,
  },
  // A REST API answers an unknown path with 403 "Missing Authentication Token"; the service says 404.
  {
    id: "NotFound",
    type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    statusCode: "404",
    code: "not_found",
    message: "no such endpoint",
  },
  {
    id: "RequestTooLarge",
    type: apigateway.ResponseType.REQUEST_TOO_LARGE,
    statusCode: "413",
    code: "payload_too_large",
    message: "request body is too large",
  },
  {
    id: "Throttled",
    type: apigateway.ResponseType.THROTTLED,
    statusCode: "429",
    code: "throttled",
    message: "too many requests; retry shortly",
    retryAfterSeconds: 1,
  },
  // The authorizer reads API keys from the database: when it fails, the database is most likely
  // resuming or unreachable, and retrying shortly works.
  {
    id: "AuthorizerFailure",
    type: apigateway.ResponseType.AUTHORIZER_FAILURE,
    statusCode: "503",
    code: authorizerUnavailableError().code,
    message: authorizerUnavailableError().message,
    retryAfterSeconds: DATABASE_RESUMING_RETRY_AFTER_SECONDS,
  },
];

/** The response's body template (API Gateway fills in `$context` variables). */
export function gatewayResponseTemplate(response: GatewayErrorResponse): string {
  const message =
    typeof response.message === "string" ? JSON.stringify(response.message) : "$context.error.messageString";
  return `{"error":{"code":${JSON.stringify(response.code)},"message":${message},"details":{"requestId":"$context.requestId"}}}`;
}

/** The headers every API answer carries (functions/http/request-gate.ts), as static gateway response headers. */
const GATEWAY_RESPONSE_HEADERS = {
  "Cache-Control": "'no-store'",
  "X-Content-Type-Options": "'nosniff'",
};

/** HEAD methods get their own operation name (API Gateway wants them unique). */
const operationName = (route: { operationId: string; httpMethod: string }) =>
  route.httpMethod === "HEAD" ? `${route.operationId}Head` : route.operationId;

export class Api extends Construct {
  readonly restApi: apigateway.RestApi;
  readonly handlers: ReadonlyMap<ApiGroup, lambda.Function>;
  readonly authorizerFunction: lambda.Function;
  readonly authorizer: apigateway.RequestAuthorizer;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { database } = props;

    const environment: LambdaEnvironment = {
      ...database.dataApiEnvironment,
      ...Object.fromEntries(
        [...props.stateMachines].map(([kind, stateMachine]) => [
          stateMachineArnVariable(kind),
          stateMachine.stateMachineArn,
        ]),
      ),
      SCHEDULE_GROUP_NAME: props.schedules.groupName,
      SCHEDULER_ROLE_ARN: props.schedules.role.roleArn,
      SCHEDULE_DEAD_LETTER_QUEUE_ARN: props.schedules.deadLetterQueue.queueArn,
      // API Gateway ends an integration after 29 s: wait for a resuming database at most 20 s, then 503.
      DATABASE_RESUME_WAIT_SECONDS: String(API_RESUME_WAIT_SECONDS),
      ...(props.invitationBaseUrl ? { INVITATION_BASE_URL: props.invitationBaseUrl } : {}),
    };

    const handlers = new Map<ApiGroup, lambda.Function>();
    for (const [group, entry] of props.groupEntries) {
      const fn = new ServiceFunction(this, `${group.charAt(0).toUpperCase()}${group.slice(1)}Handler`, {
        entry,
        description: `Tenant provisioning API: ${group} routes`,
        environment,
        // API Gateway gives up on an integration after 29 seconds.
        timeout: Duration.seconds(29),
        logRetention: props.logRetention,
      }).function;
      database.grantDataApiAccess(fn);
      for (const stateMachine of props.stateMachines.values()) {
        stateMachine.grantStartExecution(fn);
        stateMachine.grantExecution(fn, "states:StopExecution", "states:DescribeExecution");
      }
      props.schedules.grantManageSchedules(fn);
      NagSuppressions.addResourceSuppressions(
        fn.role ?? fn,
        [
          {
            id: "AwsSolutions-IAM5",
            reason:
              "states:StopExecution / DescribeExecution act on executions, whose ARNs carry a per-run name; the grant is limited to executions of this stack's state machines.",
            appliesTo: [{ regex: "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*:\\*$/" }],
          },
        ],
        true,
      );
      handlers.set(group, fn);
    }
    this.handlers = handlers;

    this.authorizerFunction = new ServiceFunction(this, "Authorizer", {
      entry: props.authorizerEntry,
      description: "Tenant provisioning API: API-key request authorizer",
      environment: {
        ...database.dataApiEnvironment,
        DATABASE_RESUME_WAIT_SECONDS: String(AUTHORIZER_RESUME_WAIT_SECONDS),
      },
      timeout: Duration.seconds(AUTHORIZER_RESUME_WAIT_SECONDS + 8),
      memorySize: 256,
      logRetention: props.logRetention,
    }).function;
    database.grantDataApiAccess(this.authorizerFunction);

    this.accessLogs = new logs.LogGroup(this, "AccessLogs", {
      encryptionKey: props.logsKey,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.restApi = new apigateway.RestApi(this, "RestApi", {
      description: "Tenant provisioning REST API (routes from functions/http/route-table.ts)",
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      cloudWatchRole: true,
      deployOptions: {
        stageName: props.stageName ?? "prod",
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields({
          caller: true,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: true,
        }),
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.INFO,
        // Request and response bodies hold admin passwords and API keys: never log them.
        dataTraceEnabled: false,
        throttlingRateLimit: props.throttling.rateLimit,
        throttlingBurstLimit: props.throttling.burstLimit,
      },
    });

    this.authorizer = new apigateway.RequestAuthorizer(this, "ApiKeyAuthorizer", {
      handler: this.authorizerFunction,
      identitySources: [apigateway.IdentitySource.header("Authorization")],
      resultsCacheTtl: props.authorizerCacheTtl ?? Duration.minutes(1),
    });

    const integrations = new Map<ApiGroup, apigateway.LambdaIntegration>();
    for (const [group, fn] of handlers) {
      integrations.set(group, new apigateway.LambdaIntegration(fn, { proxy: true, allowTestInvoke: false }));
    }
    // HEAD answers like GET (the handler drops the body): API Gateway only routes methods a resource has.
    const methods = routeList().flatMap((route) =>
      route.method === "GET"
        ? [
            { ...route, httpMethod: route.method },
            { ...route, httpMethod: "HEAD" },
          ]
        : [{ ...route, httpMethod: route.method }],
    );
    for (const route of methods) {
      const integration = integrations.get(route.group);
      if (!integration)
        throw new Error(`route ${route.operationId}: no Lambda for API group "${route.group}"`);
      const resource = this.restApi.root.resourceForPath(route.path);
      const method = resource.addMethod(
        route.httpMethod,
        integration,
        route.access === "public"
          ? { operationName: operationName(route), authorizationType: apigateway.AuthorizationType.NONE }
          : {
              operationName: operationName(route),
              authorizationType: apigateway.AuthorizationType.CUSTOM,
              authorizer: this.authorizer,
            },
      );
      NagSuppressions.addResourceSuppressions(method, [
        {
          id: "AwsSolutions-COG4",
          reason:
            "Callers authenticate with the service's own API keys (hashed in its database, with roles and tenant scope), checked by the Lambda REQUEST authorizer, not with Cognito users.",
        },
        ...(route.access === "public"
          ? [
              {
                id: "AwsSolutions-APIG4",
                reason: `${route.operationId} (${route.httpMethod} ${route.path}) is public by design: the route table gives it access "public", so it needs no API key.`,
              },
            ]
          : []),
      ]);
    }

    // API Gateway's own answers in the service's error shape: one shape on both runtimes.
    for (const response of GATEWAY_ERROR_RESPONSES) {
      this.restApi.addGatewayResponse(response.id, {
        type: response.type,
        ...(response.statusCode ? { statusCode: response.statusCode } : {}),
        responseHeaders: {
          ...GATEWAY_RESPONSE_HEADERS,
          ...response.headers,
          "Content-Type": "'application/json; charset=utf-8'",
          ...(response.retryAfterSeconds === undefined
            ? {}
            : { "Retry-After": `'${response.retryAfterSeconds}'` }),
        },
        templates: { "application/json": gatewayResponseTemplate(response) },
      });
    }

    NagSuppressions.addResourceSuppressions(this.restApi, [
      {
        id: "AwsSolutions-APIG2",
        reason:
          "Bodies and queries are validated by the route table's zod schemas in the handlers (the same validation the local server runs); API Gateway models would be a second definition that drifts.",
      },
    ]);
    NagSuppressions.addResourceSuppressions(this.restApi.deploymentStage, [
      {
        id: "AwsSolutions-APIG3",
        reason:
          "Callers are operators and their tooling with API keys, throttled at the stage; attach a WAF web ACL to the stage where the account's policy asks for one.",
      },
    ]);
    const cloudWatchRole = this.restApi.node.tryFindChild("CloudWatchRole");
    if (cloudWatchRole) {
      NagSuppressions.addResourceSuppressions(cloudWatchRole, [
        {
          id: "AwsSolutions-IAM4",
          reason:
            "The account-level API Gateway CloudWatch role uses AmazonAPIGatewayPushToCloudWatchLogs, the AWS-documented policy for API Gateway execution logging.",
          appliesTo: [
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
          ],
        },
      ]);
    }
  }
}
