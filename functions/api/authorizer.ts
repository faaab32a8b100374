/**
 * API Gateway Lambda REQUEST authorizer: the same `authenticate` the local server calls. The
 * principal travels to the handlers in the authorizer context.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from "aws-lambda";
import type { Database } from "../db/client.ts";
import { authenticate } from "../domain/auth/api-keys.ts";
import { productionDatabase } from "./production-deps.ts";

/** Builds the authorizer over a database. Throwing "Unauthorized" makes API Gateway answer 401. */
export function createAuthorizer(getDb: () => Promise<Database>) {
  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const headers = event.headers ?? {};
    const header = headers.Authorization ?? headers.authorization;
    const principal = await authenticate(await getDb(), header);
    if (!principal) throw new Error("Unauthorized");
    // Allow the whole API: role checks per route happen in the handlers, and the policy is cached per key.
    const arn = event.methodArn.split("/").slice(0, 2).join("/");
    return {
      principalId: principal.keyId,
      policyDocument: {
        Version: "2012-10-17",
        Statement: [{ Action: "execute-api:Invoke", Effect: "Allow", Resource: `${arn}/*` }],
      },
      context: { keyId: principal.keyId, role: principal.role, tenantId: principal.tenantId ?? "" },
    };
  };
}

export const handler = createAuthorizer(productionDatabase);
