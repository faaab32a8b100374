/**
 * Template shapes (the product document's `TenantTemplate`), shared by the API, the OpenAPI
 * document and the CLI.
 */
import { z } from "zod";
import { cellNameSchema } from "./cells.ts";
import { INT4_MAX, isoDateTime, pageSchema, paginationQuerySchema } from "./common.ts";

export const TEMPLATE_CATEGORIES = [
  "basic",
  "school_district",
  "municipality",
  "enterprise",
  "custom",
] as const;
export const FEATURE_FLAGS = [
  "inventory",
  "contracts",
  "deliveries",
  "reports",
  "mobile",
  "analytics",
  "integrations",
] as const;
/** Named actions the PostProvisioningSteps state can run (implemented in functions/domain/post-provisioning). */
export const POST_PROVISIONING_ACTIONS = [
  "send-welcome-notification",
  "create-default-reports",
  "enable-integrations",
  "record-onboarding-checklist",
] as const;

export type TemplateCategory = (typeof TEMPLATE_CATEGORIES)[number];
export type FeatureFlag = (typeof FEATURE_FLAGS)[number];
export type PostProvisioningAction = (typeof POST_PROVISIONING_ACTIONS)[number];

const name = z.string().trim().min(1).max(255);
const shortText = z.string().trim().min(1).max(255);
const positiveInt = z.number().int("must be an integer").positive("must be positive").max(1_000_000);

export const tenantSettingsSchema = z.strictObject({
  features: z
    .array(z.enum(FEATURE_FLAGS))
    .max(FEATURE_FLAGS.length)
    .refine((f) => new Set(f).size === f.length, "features must not repeat")
    .optional(),
  locale: z
    .string()
    .regex(/^[a-z]{2}(-[A-Z]{2})?$/, "must be a locale such as en or fi-FI")
    .optional(),
  timezone: z.string().min(1).max(64).optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as EUR")
    .optional(),
  requireOrderApproval: z.boolean().optional(),
  orderApprovalThreshold: z.number().nonnegative().max(1e9).optional(),
  fiscalYearStartMonth: z.number().int().min(1).max(12).optional(),
});
export type TenantSettings = z.infer<typeof tenantSettingsSchema>;

export const tenantLimitsSchema = z.strictObject({
  maxUsers: positiveInt.optional(),
  maxSchools: positiveInt.optional(),
  maxProducts: positiveInt.optional(),
  maxStorageMb: positiveInt.optional(),
});
export type TenantLimits = z.infer<typeof tenantLimitsSchema>;

export const initialSchoolSchema = z.strictObject({
  name,
  code: z.string().trim().min(1).max(50).optional(),
  type: z.enum(["primary", "secondary", "high_school", "vocational", "special", "other"]).optional(),
  address: z.string().max(500).optional(),
});
export const initialProductSchema = z.strictObject({
  sku: z.string().trim().min(1).max(64),
  name,
  category: shortText.optional(),
  unit: z.string().trim().min(1).max(32).optional(),
  unitPrice: z.number().nonnegative().max(1e9),
});
export const initialUserSchema = z.strictObject({
  name,
  email: z.email({ message: "must be an email address" }).max(320),
  role: z.enum(["buyer", "approver", "viewer", "school_admin"]).default("buyer"),
});
export const initialConfigurationSchema = z.strictObject({
  key: z.string().regex(/^[a-z][a-z0-9_.-]{0,99}$/, "must be a lowercase key such as orders.default_vat"),
  value: z.json(),
});

export const initialDataSchema = z.strictObject({
  schools: z.array(initialSchoolSchema).max(100_000).optional(),
  products: z.array(initialProductSchema).max(100_000).optional(),
  users: z.array(initialUserSchema).max(100_000).optional(),
  configurations: z.array(initialConfigurationSchema).max(1000).optional(),
});
export type InitialData = z.infer<typeof initialDataSchema>;

/** Problems with initial data against limits (the admin user counts towards `maxUsers`) and duplicates. */
export function initialDataIssues(
  data: InitialData | undefined,
  limits: TenantLimits,
  path: (string | number)[] = ["initialData"],
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const checks: [keyof InitialData, keyof TenantLimits, number][] = [
    ["schools", "maxSchools", 0],
    ["products", "maxProducts", 0],
    ["users", "maxUsers", 1],
  ];
  for (const [field, limit, reserved] of checks) {
    const count = (data?.[field]?.length ?? 0) + reserved;
    const max = limits[limit];
    // An invalid limit is reported on the limit itself; comparing against it only adds noise.
    if (max !== undefined && Number.isInteger(max) && max > 0 && count > max) {
      issues.push({
        path: [...path, field],
        message: `${count} ${field}${reserved ? " (including the admin)" : ""} exceed limits.${limit} = ${max}`,
      });
    }
  }
  const unique: [keyof InitialData, string][] = [
    ["products", "sku"],
    ["users", "email"],
    ["schools", "code"],
  ];
  for (const [field, key] of unique) {
    const seen = new Set<string>();
    for (const [i, item] of ((data?.[field] ?? []) as Record<string, unknown>[]).entries()) {
      if (item[key] === undefined) continue;
      const v = String(item[key]).toLowerCase();
      if (seen.has(v)) issues.push({ path: [...path, field, i, key], message: `duplicate ${key} ${v}` });
      seen.add(v);
    }
  }
  return issues;
}

/** `initialDataIssues` as zod refinement issues. */
export function initialDataWithinLimits(
  data: InitialData | undefined,
  limits: TenantLimits,
  ctx: z.RefinementCtx,
  path: (string | number)[] = ["initialData"],
): void {
  for (const issue of initialDataIssues(data, limits, path)) {
    ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
  }
}

const migrationList = z
  .array(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be a tenant migration name such as core"))
  .max(100)
  .refine((m) => new Set(m).size === m.length, "migrations must not repeat");
const postProvisioningStepList = z
  .array(z.enum(POST_PROVISIONING_ACTIONS))
  .max(50)
  .refine((s) => new Set(s).size === s.length, "postProvisioningSteps must not repeat");

const templateFields = {
  name,
  description: z.string().max(5000).optional(),
  category: z.enum(TEMPLATE_CATEGORIES).default("basic"),
  settings: tenantSettingsSchema.default({}),
  limits: tenantLimitsSchema.default({}),
  initialData: initialDataSchema.default({}),
  migrations: migrationList.default(["core"]),
  postProvisioningSteps: postProvisioningStepList.default([]),
};

/** A complete template definition (create body; also the inline spec of custom provisioning). */
export const templateSpecSchema = z.strictObject(templateFields).superRefine((t, ctx) => {
  initialDataWithinLimits(t.initialData, t.limits, ctx);
});
export type TemplateSpec = z.infer<typeof templateSpecSchema>;

/**
 * The cell a template pins its tenants to (null: the placement policy chooses). Where tenants go
 * is the template's placement, not its content: it lives on the template row only, outside the
 * immutable versions, so changing it makes no new version and a rollout never carries it.
 */
const pinnedCell = cellNameSchema.nullable();

/** Create body: a template definition and, optionally, the cell it pins its tenants to. */
export const templateCreateSchema = z
  .strictObject({ ...templateFields, cell: pinnedCell.optional() })
  .superRefine((t, ctx) => {
    initialDataWithinLimits(t.initialData, t.limits, ctx);
  });
export type TemplateCreate = z.infer<typeof templateCreateSchema>;

/**
 * A merge patch of one of a template's objects (RFC 7396, one level deep): each key given replaces
 * that key, `null` removes it, a key left out is kept. Removing a limit is therefore always explicit.
 */
function mergePatchOf<T extends z.ZodRawShape>(
  schema: z.ZodObject<T>,
): z.ZodObject<{ [K in keyof T]: z.ZodNullable<T[K]> }, z.core.$strict> {
  const shape = Object.fromEntries(
    Object.entries(schema.shape).map(([key, field]) => [key, (field as z.ZodType).nullable()]),
  ) as unknown as { [K in keyof T]: z.ZodNullable<T[K]> };
  return z.strictObject(shape);
}

export const tenantSettingsPatchSchema = mergePatchOf(tenantSettingsSchema);
export const tenantLimitsPatchSchema = mergePatchOf(tenantLimitsSchema);
export const initialDataPatchSchema = mergePatchOf(initialDataSchema);

/**
 * Applies a merge patch made by `mergePatchOf`: given keys replace (arrays as a whole), `null`
 * removes, absent keys stay.
 */
export function applyMergePatch<T extends object>(
  current: T,
  patch: { [K in keyof T]?: T[K] | null } | undefined,
): T {
  if (patch === undefined) return current;
  const merged = { ...current } as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged as T;
}

/**
 * Update body: any subset of the fields; the result is validated as a whole again. `settings`,
 * `limits` and `initialData` are merge patches (a key left out is kept, `null` removes it), so an
 * update never widens a limit by omission; the other fields replace the current value.
 */
export const templateUpdateSchema = z
  .strictObject({
    name: templateFields.name.optional(),
    description: templateFields.description,
    category: z.enum(TEMPLATE_CATEGORIES).optional(),
    settings: tenantSettingsPatchSchema.optional(),
    limits: tenantLimitsPatchSchema.optional(),
    initialData: initialDataPatchSchema.optional(),
    // Not templateFields': zod 4 applies a default even inside .optional(), which would reset
    // these fields on every update that leaves them out.
    migrations: migrationList.optional(),
    postProvisioningSteps: postProvisioningStepList.optional(),
    /** The pinned cell (null unpins); alone it changes the template row, not its version. */
    cell: pinnedCell.optional(),
  })
  .refine((u) => Object.keys(u).length > 0, "the update must change at least one field");
export type TemplateUpdate = z.infer<typeof templateUpdateSchema>;

export const templateSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  category: z.enum(TEMPLATE_CATEGORIES),
  settings: tenantSettingsSchema,
  limits: tenantLimitsSchema,
  initialData: initialDataSchema,
  migrations: z.array(z.string()),
  postProvisioningSteps: z.array(z.enum(POST_PROVISIONING_ACTIONS)),
  version: z.number().int(),
  isDefault: z.boolean(),
  /** The cell every tenant provisioned from it is placed on (null: the placement policy chooses). */
  cell: z.string().nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
  deletedAt: isoDateTime.nullable(),
});
export type Template = z.infer<typeof templateSchema>;

/** How many items of each kind a template's initial data holds. */
export const initialDataCountsSchema = z.object({
  schools: z.number().int(),
  products: z.number().int(),
  users: z.number().int(),
  configurations: z.number().int(),
});
export type InitialDataCounts = z.infer<typeof initialDataCountsSchema>;

/**
 * A template as listings show it: everything but its initial data (which may be far larger than
 * a listing should carry), with the counts of what that holds. `GET /templates/:id` has the data.
 */
export const templateSummarySchema = templateSchema
  .omit({ initialData: true })
  .extend({ initialDataCounts: initialDataCountsSchema });
export type TemplateSummary = z.infer<typeof templateSummarySchema>;

export const templateVersionSummarySchema = z.object({
  version: z.number().int(),
  name: z.string(),
  category: z.enum(TEMPLATE_CATEGORIES),
  createdAt: isoDateTime,
  createdBy: z.string().nullable(),
});

/** Which templates a listing shows: the usable ones (default), the deleted ones (to restore), or both. */
export const TEMPLATE_STATES = ["active", "deleted", "all"] as const;
export type TemplateState = (typeof TEMPLATE_STATES)[number];

export const listTemplatesQuerySchema = paginationQuerySchema.extend({
  category: z.enum(TEMPLATE_CATEGORIES).optional(),
  state: z.enum(TEMPLATE_STATES).default("active"),
});
export const getTemplateQuerySchema = z.strictObject({
  version: z.coerce.number().int().positive().max(INT4_MAX).optional(),
});
export const templatePageSchema = pageSchema(templateSummarySchema);
export const templateVersionsSchema = z.object({ items: z.array(templateVersionSummarySchema) });
