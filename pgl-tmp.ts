import { PGlite } from "@electric-sql/pglite";
import { openDatabase } from "/work/main/functions/db/client.ts";
import { migrate } from "/work/main/functions/db/migrate.ts";
let t = performance.now();
const h = await openDatabase({ kind: "pglite", dataDir: "memory://" });
console.log("open", Math.round(performance.now() - t)); t = performance.now();
await migrate(h.db);
console.log("migrate", Math.round(performance.now() - t)); t = performance.now();
const client = (h as any).client ?? null;
await h.close();
const p = new PGlite("memory://"); await p.waitReady;
console.log("bare open", Math.round(performance.now() - t)); t = performance.now();
const dump = await p.dumpDataDir("none");
console.log("dump", Math.round(performance.now() - t), dump.size); t = performance.now();
const q = new PGlite("memory://", { loadDataDir: dump }); await q.waitReady;
console.log("load", Math.round(performance.now() - t)); t = performance.now();
for (let i = 0; i < 3; i++) { const r = new PGlite("memory://"); await r.waitReady; await r.close(); }
console.log("3 more bare opens", Math.round(performance.now() - t));
