/**
 * Helpers for tests that start runs through the HTTP API and watch them: read a run, wait for it
 * to finish, provision from a default template by name, and look at the database the server uses.
 */
import { type SQL, sql } from "drizzle-orm";
import { expect } from "vitest";
import { numberValue, queryRows } from "../../functions/db/sql.ts";
import type { TestServer } from "./server.ts";
import { until } from "./wait.ts";

export const API = "/api/provisioning";
export const PROGRESS = `${API}/progress`;
export const TERMINAL = ["completed", "failed", "cancelled"];

/** One step of a run (the API's JSON). */
export const stepOf = (run: any, name: string): any => run.steps.find((s: any) => s.name === name);

/** The tenant's own schema: derived from its id. */
export const schemaOf = (tenantId: string) => `tenant_${tenantId.replace(/-/g, "")}`;

/** Helpers bound to one server (a function, so that a test file may start it later). */
export function runHelpers(server: () => TestServer) {
  const db = () => server().database.db;
  const rows = <T extends Record<string, unknown>>(query: SQL) => queryRows<T>(db(), query);
  const countOf = async (query: SQL) => numberValue((await rows<{ n: unknown }>(query))[0]?.n);
  const templateIds = new Map<string, string>();

  async function progressOf(id: string): Promise<any> {
    const res = await server().request("GET", `${PROGRESS}/${id}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  }

  /** Polls the run until it is finished, waits for its execution to end, and returns it. */
  async function settle(id: string): Promise<any> {
    await until(
      `run ${id} to finish`,
      () => progressOf(id),
      (p) => TERMINAL.includes(p.status),
    );
    await server().app.workflows.idle();
    return progressOf(id);
  }

  /** A template's id by name (read once per server). */
  async function templateId(name: string): Promise<string> {
    if (templateIds.size === 0) {
      const list = await server().request("GET", `${API}/templates?limit=100`);
      expect(list.status).toBe(200);
      for (const t of list.body.items) templateIds.set(t.name, t.id);
    }
    const id = templateIds.get(name);
    if (!id) throw new Error(`no template ${name}`);
    return id;
  }

  /** POST .../templates/:id/provision, expecting 202; returns the progress record. */
  async function provision(template: string, body: Record<string, unknown>): Promise<any> {
    const res = await server().request("POST", `${API}/templates/${await templateId(template)}/provision`, {
      body,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body;
  }

  async function schemaExists(tenantId: string): Promise<boolean> {
    return (
      (await countOf(
        sql`SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = ${schemaOf(tenantId)}`,
      )) > 0
    );
  }

  /** The base tables of a schema, by name. */
  async function tablesOf(schema: string): Promise<string[]> {
    return (
      await rows<{ table_name: string }>(
        sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} AND table_type = 'BASE TABLE' ORDER BY table_name`,
      )
    ).map((r) => r.table_name);
  }

  return {
    db,
    rows,
    countOf,
    progressOf,
    settle,
    templateId,
    provision,
    schemaExists,
    tablesOf,
  };
}
