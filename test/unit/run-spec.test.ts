/** What a provisioning run builds: the template's initial data merged with the request's overrides. */
import { describe, expect, it } from "vitest";
import { mergeInitialData } from "../../functions/domain/provisioning/run-spec.ts";
import type { InitialData } from "../../functions/schemas/templates.ts";

const TEMPLATE_DATA: InitialData = {
  schools: [
    { name: "North", code: "N-1" },
    { name: "South", code: "S-1" },
  ],
  products: [
    { sku: "PAP-A4", name: "Paper", unitPrice: 4.9 },
    { sku: "PEN-10", name: "Pens", unitPrice: 3.5 },
  ],
  users: [
    { name: "Buyer", email: "buyer@example.org", role: "buyer" },
    { name: "Approver", email: "approver@example.org", role: "approver" },
  ],
  configurations: [{ key: "orders.default_vat", value: 24 }],
};

describe("mergeInitialData", () => {
  it("keeps the template's data when there are no overrides", () => {
    // Act
    const merged = mergeInitialData(TEMPLATE_DATA, undefined);

    // Assess
    expect(merged).toEqual(TEMPLATE_DATA);
  });

  it("replaces products by sku, users by email and schools by code, and adds the rest", () => {
    // Act
    const merged = mergeInitialData(TEMPLATE_DATA, {
      products: [
        { sku: "pap-a4", name: "Recycled paper", unitPrice: 5.2 },
        { sku: "TONER", name: "Toner", unitPrice: 62 },
      ],
      users: [
        { name: "Chief Buyer", email: "BUYER@example.org", role: "approver" },
        { name: "Viewer", email: "viewer@example.org", role: "viewer" },
      ],
      schools: [{ name: "North renamed", code: "N-1" }],
    });

    // Assess
    expect(merged.products).toEqual([
      { sku: "PEN-10", name: "Pens", unitPrice: 3.5 },
      { sku: "pap-a4", name: "Recycled paper", unitPrice: 5.2 },
      { sku: "TONER", name: "Toner", unitPrice: 62 },
    ]);
    expect(merged.users!.map((u) => u.name)).toEqual(["Approver", "Chief Buyer", "Viewer"]);
    expect(merged.schools).toEqual([
      { name: "South", code: "S-1" },
      { name: "North renamed", code: "N-1" },
    ]);
    expect(merged.configurations).toEqual(TEMPLATE_DATA.configurations);
  });

  it("replaces configurations by key", () => {
    // Act
    const merged = mergeInitialData(TEMPLATE_DATA, {
      configurations: [{ key: "orders.default_vat", value: 25.5 }],
    });

    // Assess
    expect(merged.configurations).toEqual([{ key: "orders.default_vat", value: 25.5 }]);
  });

  it("does not change the template's data", () => {
    // Prepare
    const before = JSON.stringify(TEMPLATE_DATA);

    // Act
    mergeInitialData(TEMPLATE_DATA, { products: [{ sku: "PEN-10", name: "Other", unitPrice: 1 }] });

    // Assess
    expect(JSON.stringify(TEMPLATE_DATA)).toBe(before);
  });

  it("gives empty lists for a template without initial data", () => {
    // Act
    const merged = mergeInitialData({}, undefined);

    // Assess
    expect(merged).toEqual({ schools: [], products: [], users: [], configurations: [] });
  });
});
