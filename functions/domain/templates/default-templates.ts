/**
 * The three built-in templates with the product document's limits and features, seeded
 * idempotently at start. Matched by name, deleted rows included: an operator's edits are kept, and
 * so is a deletion — a deleted default is not recreated at the next start (that would undo the
 * operator's decision and take its name from the deleted row); `POST /templates/:id/restore`
 * (`template restore <id>`) brings it back, versions and all.
 */
import { eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenantTemplates } from "../../db/schema.ts";
import {
  type FeatureFlag,
  type InitialData,
  type TemplateSpec,
  templateSpecSchema,
} from "../../schemas/templates.ts";
import { ConflictError } from "../../shared/errors.ts";
import { createTemplate } from "./template-store.ts";

const BASIC_FEATURES: FeatureFlag[] = ["inventory", "contracts", "deliveries", "reports", "mobile"];

const CATALOGUE: [sku: string, name: string, category: string, unit: string, price: number][] = [
  ["PAP-A4-500", "Copy paper A4, 500 sheets", "Office supplies", "ream", 4.9],
  ["PEN-BLUE-10", "Ballpoint pens, blue, 10-pack", "Office supplies", "pack", 3.5],
  ["NB-A5-LINED", "Exercise book A5, lined", "Classroom", "pcs", 0.85],
  ["PENCIL-HB-12", "Pencils HB, 12-pack", "Classroom", "pack", 2.4],
  ["ERASER-WHITE", "Eraser, white", "Classroom", "pcs", 0.3],
  ["GLUE-STICK-40", "Glue stick 40 g", "Arts and crafts", "pcs", 1.2],
  ["SCISSORS-KIDS", "Children's scissors", "Arts and crafts", "pcs", 2.1],
  ["MARKER-WB-4", "Whiteboard markers, 4 colours", "Classroom", "pack", 5.6],
  ["TONER-BLK", "Printer toner, black", "IT", "pcs", 62.0],
  ["CHROMEBOOK-11", 'Student laptop 11"', "IT", "pcs", 289.0],
  ["HEADSET-USB", "USB headset", "IT", "pcs", 19.9],
  ["BALL-FOOT-5", "Football, size 5", "Sports", "pcs", 14.5],
  ["CONE-SET-20", "Training cones, 20-pack", "Sports", "pack", 12.0],
  ["SOAP-5L", "Hand soap refill 5 l", "Cleaning", "pcs", 11.3],
  ["TISSUE-24", "Paper towels, 24 rolls", "Cleaning", "pack", 18.7],
  ["MILK-1L", "Milk 1 l (school lunch)", "Catering", "l", 1.05],
  ["OATS-5KG", "Oat flakes 5 kg", "Catering", "pcs", 7.9],
  ["APPLE-KG", "Apples", "Catering", "kg", 1.9],
  ["CHAIR-STUDENT", "Student chair, adjustable", "Furniture", "pcs", 79.0],
  ["DESK-STUDENT", "Student desk, adjustable", "Furniture", "pcs", 149.0],
];

function products(n: number): NonNullable<InitialData["products"]> {
  return CATALOGUE.slice(0, n).map(([sku, name, category, unit, unitPrice]) => ({
    sku,
    name,
    category,
    unit,
    unitPrice,
  }));
}

function schools(prefix: string, n: number): NonNullable<InitialData["schools"]> {
  const types = ["primary", "secondary", "high_school", "vocational"] as const;
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix} School ${i + 1}`,
    code: `${prefix.slice(0, 3).toUpperCase()}-${String(i + 1).padStart(3, "0")}`,
    type: types[i % types.length]!,
  }));
}

function users(domain: string, roles: ("buyer" | "approver" | "viewer" | "school_admin")[]) {
  return roles.map((role, i) => ({
    name: `${role.replace("_", " ")} ${i + 1}`,
    email: `${role}${i + 1}@${domain}`,
    role,
  }));
}

/** The built-in templates, exactly as seeded. */
export const DEFAULT_TEMPLATES: readonly TemplateSpec[] = [
  {
    name: "Basic School System",
    description:
      "For small schools with essential features: ordering, inventory, contracts, deliveries, reports and the mobile app.",
    category: "basic",
    settings: {
      features: BASIC_FEATURES,
      locale: "en",
      timezone: "Europe/Helsinki",
      currency: "EUR",
      requireOrderApproval: false,
    },
    limits: { maxUsers: 50, maxSchools: 10, maxProducts: 500 },
    initialData: {
      schools: schools("Main", 2),
      products: products(10),
      users: users("example.school", ["buyer", "approver"]),
      configurations: [
        { key: "orders.default_vat", value: 24 },
        { key: "orders.approval_required", value: false },
      ],
    },
    migrations: ["core", "inventory", "contracts", "deliveries", "reports"],
    postProvisioningSteps: ["send-welcome-notification", "create-default-reports"],
  },
  {
    name: "School District",
    description:
      "For school districts with multiple schools: the basic features plus analytics across schools.",
    category: "school_district",
    settings: {
      features: [...BASIC_FEATURES, "analytics"],
      locale: "en",
      timezone: "Europe/Helsinki",
      currency: "EUR",
      requireOrderApproval: true,
      orderApprovalThreshold: 1000,
    },
    limits: { maxUsers: 200, maxSchools: 50, maxProducts: 2000 },
    initialData: {
      schools: schools("District", 5),
      products: products(15),
      users: users("example.district", ["buyer", "buyer", "approver", "school_admin", "viewer"]),
      configurations: [
        { key: "orders.default_vat", value: 24 },
        { key: "orders.approval_required", value: true },
        { key: "analytics.reporting_period", value: "monthly" },
      ],
    },
    migrations: ["core", "inventory", "contracts", "deliveries", "reports", "analytics"],
    postProvisioningSteps: [
      "send-welcome-notification",
      "create-default-reports",
      "record-onboarding-checklist",
    ],
  },
  {
    name: "Municipality",
    description:
      "For municipal education systems: all features, including integrations with municipal ERP and e-invoicing.",
    category: "municipality",
    settings: {
      features: [...BASIC_FEATURES, "analytics", "integrations"],
      locale: "en",
      timezone: "Europe/Helsinki",
      currency: "EUR",
      requireOrderApproval: true,
      orderApprovalThreshold: 5000,
      fiscalYearStartMonth: 1,
    },
    limits: { maxUsers: 500, maxSchools: 200, maxProducts: 5000 },
    initialData: {
      schools: schools("Municipal", 10),
      products: products(20),
      users: users("example.city", [
        "buyer",
        "buyer",
        "buyer",
        "approver",
        "approver",
        "school_admin",
        "viewer",
        "viewer",
      ]),
      configurations: [
        { key: "orders.default_vat", value: 24 },
        { key: "orders.approval_required", value: true },
        { key: "analytics.reporting_period", value: "monthly" },
        { key: "integrations.einvoice_format", value: "finvoice" },
      ],
    },
    migrations: ["core", "inventory", "contracts", "deliveries", "reports", "analytics", "integrations"],
    postProvisioningSteps: [
      "send-welcome-notification",
      "create-default-reports",
      "enable-integrations",
      "record-onboarding-checklist",
    ],
  },
].map((t) => templateSpecSchema.parse(t));

/**
 * Creates the built-in templates that have no row yet (by name; a deleted row counts). Returns the
 * names created.
 */
export async function seedDefaultTemplates(db: Database): Promise<string[]> {
  const created: string[] = [];
  for (const spec of DEFAULT_TEMPLATES) {
    const [existing] = await db
      .select({ id: tenantTemplates.id })
      .from(tenantTemplates)
      .where(eq(tenantTemplates.name, spec.name));
    if (existing) continue;
    try {
      await createTemplate(db, spec, { keyId: null, requestId: "seed" }, { isDefault: true });
      created.push(spec.name);
    } catch (error) {
      // Another process seeded it first.
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  return created;
}
