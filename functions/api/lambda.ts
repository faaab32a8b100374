/**
 * Wraps a group's operations as a Lambda entry point whose dependencies are built on the first
 * invocation (so importing a handler module has no side effects). The production dependencies —
 * and with them the AWS SDK clients — are loaded only then: the local server, which imports every
 * group module, never loads them.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { createGroupHandler, type GroupHandler, type GroupOperations } from "../http/api-handler.ts";
import type { ApiGroup } from "../http/route-table.ts";
import type { ApiDeps } from "./deps.ts";

export function lambdaEntry<G extends ApiGroup>(
  group: G,
  factory: (deps: ApiDeps) => GroupOperations<G>,
): (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult> {
  let handler: GroupHandler | undefined;
  return async (event, context) => {
    if (!handler) {
      const { productionDeps } = await import("./production-deps.ts");
      const deps = await productionDeps();
      handler = createGroupHandler(group, factory(deps), deps.logger);
    }
    return handler(event, context);
  };
}
