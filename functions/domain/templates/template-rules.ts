/**
 * Template rules that the zod shape cannot express alone: named migrations must exist under
 * `migrations/tenant/` and start with `core`.
 */

import type { TemplateSpec } from "../../schemas/templates.ts";
import type { FieldIssue } from "../../shared/errors.ts";
import { RequestValidationError } from "../../shared/errors.ts";
import { POST_PROVISIONING_REGISTRY } from "../provisioning/post-provisioning-actions.ts";
import { availableTenantMigrations, CORE_MIGRATION } from "../tenants/tenant-migrations.ts";

/** Returns the problems with a template's migrations; empty when it is fine. */
export function templateMigrationIssues(migrations: readonly string[], prefix = "migrations"): FieldIssue[] {
  const available = new Set(availableTenantMigrations());
  const issues: FieldIssue[] = [];
  migrations.forEach((name, i) => {
    if (!available.has(name)) {
      issues.push({
        field: `${prefix}[${i}]`,
        message: `unknown tenant migration "${name}" (available: ${[...available].join(", ")})`,
      });
    }
  });
  if (migrations[0] !== CORE_MIGRATION) {
    issues.push({ field: prefix, message: `must start with "${CORE_MIGRATION}"` });
  }
  return issues;
}

/** Post-provisioning actions need the tenant migrations that create their tables. */
export function postProvisioningIssues(
  spec: Pick<TemplateSpec, "migrations" | "postProvisioningSteps">,
  prefix = "postProvisioningSteps",
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  spec.postProvisioningSteps.forEach((action, i) => {
    const missing = POST_PROVISIONING_REGISTRY[action].requires.filter((m) => !spec.migrations.includes(m));
    if (missing.length > 0) {
      issues.push({
        field: `${prefix}[${i}]`,
        message: `"${action}" needs the tenant migration(s) ${missing.join(", ")}`,
      });
    }
  });
  return issues;
}

/** Throws a 400 naming every problem when a (zod-valid) template breaks a catalogue rule. */
export function assertTemplateRules(
  spec: Pick<TemplateSpec, "migrations" | "postProvisioningSteps">,
  prefix = "",
): void {
  const p = prefix ? `${prefix}.` : "";
  const issues = [
    ...templateMigrationIssues(spec.migrations, `${p}migrations`),
    ...postProvisioningIssues(spec, `${p}postProvisioningSteps`),
  ];
  if (issues.length > 0) {
    throw new RequestValidationError(issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues);
  }
}
