/**
 * The CDK app (`cdk.json`: `npx tsx lib/app.ts`). Environment-agnostic: the account and region
 * come from the credentials `cdk deploy` runs with. cdk-nag's AWS Solutions checks run on every
 * synth, so an unsuppressed finding fails `cdk synth` / `cdk deploy`.
 */
import { App, Aspects, Tags } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { webhookDestinationsFromContext } from "./constructs/events.ts";
import { deploySettings } from "./context.ts";
import { TenantProvisioningStack } from "./tenant-provisioning-stack.ts";

const app = new App();
const settings = deploySettings((key) => app.node.tryGetContext(key));

const stack = new TenantProvisioningStack(app, settings.stackName, {
  description: "Tenant provisioning service: Aurora (Data API), Step Functions workflows, REST API",
  deletionProtection: settings.deletionProtection,
  database: settings.database,
  apiThrottling: settings.apiThrottling,
  sweepIntervalMinutes: settings.sweepIntervalMinutes,
  ...(settings.alertEmail ? { alertEmail: settings.alertEmail } : {}),
  ...(settings.notificationSender ? { notificationSender: settings.notificationSender } : {}),
  ...(settings.sesConfigurationSet ? { sesConfigurationSet: settings.sesConfigurationSet } : {}),
  ...(settings.invitationBaseUrl ? { invitationBaseUrl: settings.invitationBaseUrl } : {}),
  ...(settings.retryPolicy ? { retryPolicy: settings.retryPolicy } : {}),
  tenantCells: settings.tenantCells,
  webhookDestinations: webhookDestinationsFromContext(app.node.tryGetContext("webhookDestinations")),
});
Tags.of(stack).add("service", "tenant-provisioning");
Tags.of(stack).add("stage", settings.stage);
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
