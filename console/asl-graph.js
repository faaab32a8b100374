/**
 * Draws a workflow's state machine as SVG from its ASL definition (the JSON in `statemachines/`,
 * served by `GET /api/provisioning/workflows/{kind}`), each state coloured by the run's progress.
 *
 * Layout: the states reachable from `StartAt` through `Next`, `Default` and `Choices` form the main
 * column, ordered by their longest distance from the start; states reached only through `Catch`
 * (failure recording, the Fail terminals) form a side column. Edges between neighbours in a column
 * are straight arrows; `Choices` that jump ahead run in lanes on the left; `Catch` edges run in a
 * bus on the right.
 */
import { formatDuration, s } from "./dom.js";

const BOX_W = 320;
const SIDE_W = 220;
const GAP = 30;
const LANE = 12;
const PAD = 16;
const LINE = 17;

/** A symbol per status, so that the graph does not rely on colour alone. */
export const STATUS_SYMBOL = {
  pending: "○",
  running: "◔",
  completed: "✓",
  failed: "✕",
  skipped: "⤼",
  cancelled: "⊘",
  passed: "✓",
  reached: "●",
  idle: "○",
  waiting: "◔",
};

/**
 * @typedef {{Type: string, Next?: string, Default?: string, End?: boolean, Choices?: {Next: string, [k: string]: unknown}[], Catch?: {ErrorEquals: string[], Next: string}[], ItemProcessor?: {StartAt: string, States: Record<string, AslState>}, Iterator?: {StartAt: string, States: Record<string, AslState>}, Comment?: string, MaxConcurrency?: number, Error?: string, Cause?: string}} AslState
 * @typedef {{StartAt: string, States: Record<string, AslState>}} AslDefinition
 * @typedef {{name: string, title?: string, status: string, attempts: number, durationMs: number | null, error: {name: string, message: string} | null, actions?: {name: string, status: string, attempts: number, error: {name: string, message: string} | null}[]}} Step
 * @typedef {{status: string, steps: Step[]}} Run
 * @typedef {{from: string, to: string, kind: "next" | "default" | "choice" | "catch", label: string}} Edge
 */

/**
 * The edges leaving a state.
 *
 * @param {string} name
 * @param {AslState} state
 * @returns {Edge[]}
 */
function edgesOf(name, state) {
  /** @type {Edge[]} */
  const out = [];
  for (const c of state.Choices ?? []) {
    const value = Object.entries(c).find(([k]) => k !== "Next" && k !== "Variable")?.[1];
    out.push({ from: name, to: c.Next, kind: "choice", label: value === undefined ? "" : String(value) });
  }
  if (state.Default) out.push({ from: name, to: state.Default, kind: "default", label: "default" });
  if (state.Next) out.push({ from: name, to: state.Next, kind: "next", label: "" });
  for (const c of state.Catch ?? []) {
    out.push({ from: name, to: c.Next, kind: "catch", label: c.ErrorEquals.join(", ") });
  }
  return out;
}

/**
 * Orders a definition's states into a main and a side column (pure; exported for reuse).
 *
 * @param {AslDefinition} definition
 */
export function orderStates(definition) {
  const states = definition.States;
  const edges = Object.entries(states).flatMap(([name, st]) => edgesOf(name, st));
  const flow = (/** @type {string} */ name) =>
    edges.filter((e) => e.from === name && e.kind !== "catch" && states[e.to]).map((e) => e.to);

  // Longest distance from the start over non-catch edges, ignoring edges that close a cycle.
  /** @type {Map<string, number>} */
  const rank = new Map();
  /** @type {string[]} */
  const discovered = [];
  /** @type {Set<string>} */
  const onPath = new Set();
  /** @type {Set<string>} */
  const done = new Set();
  /** @type {[string, string][]} */
  const forward = [];
  const visit = (/** @type {string} */ name) => {
    if (done.has(name)) return;
    onPath.add(name);
    if (!discovered.includes(name)) discovered.push(name);
    for (const to of flow(name)) {
      if (onPath.has(to)) continue;
      forward.push([name, to]);
      visit(to);
    }
    onPath.delete(name);
    done.add(name);
  };
  visit(definition.StartAt);
  rank.set(definition.StartAt, 0);
  // Relax forward edges until stable (a DAG now, so at most |V| rounds).
  for (let round = 0; round < discovered.length; round++) {
    let changed = false;
    for (const [a, b] of forward) {
      const r = (rank.get(a) ?? 0) + 1;
      if (r > (rank.get(b) ?? -1)) {
        rank.set(b, r);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const main = [...discovered].sort(
    (a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0) || discovered.indexOf(a) - discovered.indexOf(b),
  );

  // Everything else, in the order the catch edges (then their own edges) reach it.
  /** @type {string[]} */
  const side = [];
  const queue = main.flatMap((n) => edges.filter((e) => e.from === n && e.kind === "catch").map((e) => e.to));
  while (queue.length > 0) {
    const name = /** @type {string} */ (queue.shift());
    if (!states[name] || main.includes(name) || side.includes(name)) continue;
    side.push(name);
    queue.push(...edgesOf(name, states[name]).map((e) => e.to));
  }
  for (const name of Object.keys(states)) if (!main.includes(name) && !side.includes(name)) side.push(name);
  return { main, side, edges: edges.filter((e) => states[e.to]) };
}

/**
 * The status a state shows for a run. Task and Map states that are progress steps show their
 * step's status; bookkeeping states and terminals show whether the run got there.
 *
 * @param {string} name
 * @param {AslState} state
 * @param {Run | null} run
 * @param {Map<string, Step>} steps
 * @param {"main" | "side"} column
 */
function stateStatus(name, state, run, steps, column) {
  const step = steps.get(name);
  if (step) return step.status;
  if (!run) return "idle";
  const started = run.steps.some((st) => st.status !== "pending");
  switch (state.Type) {
    case "Choice":
    case "Pass":
      return started ? "passed" : "pending";
    case "Succeed":
      return run.status === "completed" ? "completed" : "pending";
    case "Fail": {
      const cancelled = /cancel/i.test(`${name} ${state.Error ?? ""}`);
      if (cancelled) return run.status === "cancelled" ? "cancelled" : "pending";
      return run.status === "failed" ? "failed" : "pending";
    }
    default:
      // A bookkeeping Task: completion on the main path, failure recording on the side.
      if (column === "main") return run.status === "completed" ? "completed" : "pending";
      return run.status === "failed" ? "completed" : "pending";
  }
}

/** @param {string} text @param {number} max */
function clip(text, width) {
  // An estimate: SVG text does not wrap, and measuring needs the text in the document first.
  const max = Math.floor(width / 6.6);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** @param {number} n */
const plural = (/** @type {number} */ n, /** @type {string} */ word) =>
  `${n} ${word}${n === 1 ? "" : /(s|sh|ch|x)$/.test(word) ? "es" : "s"}`;

/**
 * One line describing a step: `✓ completed · 1 attempt · 83 ms`.
 *
 * @param {string} status
 * @param {Step | undefined} step
 */
function statusLine(status, step) {
  const parts = [
    `${STATUS_SYMBOL[/** @type {keyof typeof STATUS_SYMBOL} */ (status)] ?? ""} ${status}`.trim(),
  ];
  if (step && step.attempts > 0) parts.push(plural(step.attempts, "attempt"));
  if (step && step.durationMs !== null && step.durationMs !== undefined)
    parts.push(formatDuration(step.durationMs));
  return parts.join(" · ");
}

/**
 * @typedef {{name: string, state: AslState, column: "main" | "side", x: number, y: number, w: number, h: number, status: string, step?: Step}} Placed
 */

/**
 * The height a state needs.
 *
 * @param {AslState} state
 * @param {Step | undefined} step
 * @param {string[]} items  the Map's items (action names)
 */
function heightOf(state, step, items) {
  if (state.Type === "Succeed" || state.Type === "Fail") return 46;
  if (state.Type === "Choice") return 48;
  const base = PAD + LINE * (step || state.Type === "Wait" ? 3 : 2) + 6 + (step?.error ? LINE : 0);
  if (state.Type === "Map") return base + 8 + 54 + 10 + Math.max(1, items.length) * LINE + 10;
  return base;
}

/**
 * Draws the graph.
 *
 * @param {{definition: AslDefinition, steps?: {name: string, title: string}[]}} workflow
 * @param {Run | null} run
 * @param {{mapItems?: string[]}} [options]  the Map's items when the run has not reported them yet
 * @returns {SVGElement}
 */
export function drawWorkflowGraph(workflow, run, options = {}) {
  const { definition } = workflow;
  const { main, side, edges } = orderStates(definition);
  /** @type {Map<string, Step>} */
  const steps = new Map();
  for (const st of run?.steps ?? []) steps.set(st.name, st);
  const titles = new Map((workflow.steps ?? []).map((st) => [st.name, st.title]));

  const index = new Map(main.map((n, i) => [n, i]));
  const jumps = edges.filter(
    (e) =>
      e.kind !== "catch" &&
      index.has(e.from) &&
      index.has(e.to) &&
      Math.abs(/** @type {number} */ (index.get(e.to)) - /** @type {number} */ (index.get(e.from))) !== 1,
  );
  jumps.sort(
    (a, b) =>
      Math.abs((index.get(a.to) ?? 0) - (index.get(a.from) ?? 0)) -
      Math.abs((index.get(b.to) ?? 0) - (index.get(b.from) ?? 0)),
  );
  const catchTargets = [
    ...new Set(edges.filter((e) => e.kind === "catch" && index.has(e.from)).map((e) => e.to)),
  ];

  const boxX = 24 + jumps.length * LANE + 12;
  const busX0 = boxX + BOX_W + 36;
  const sideX = busX0 + catchTargets.length * LANE + 28;
  const width = side.length > 0 ? sideX + SIDE_W + 24 : boxX + BOX_W + 24;

  const mapItems = (/** @type {string} */ name) =>
    steps.get(name)?.actions?.map((a) => a.name) ?? options.mapItems ?? [];

  /** @type {Map<string, Placed>} */
  const placed = new Map();
  let y = 20;
  for (const name of main) {
    const state = definition.States[name];
    if (!state) continue;
    const step = steps.get(name);
    const h = heightOf(state, step, mapItems(name));
    placed.set(name, {
      name,
      state,
      column: "main",
      x: boxX,
      y,
      w: BOX_W,
      h,
      status: stateStatus(name, state, run, steps, "main"),
      ...(step ? { step } : {}),
    });
    y += h + GAP;
  }
  const mainBottom = y - GAP;
  // States without a step of their own (Choice, Pass, Wait, bookkeeping Tasks such as a grace
  // period check) were passed once a later step was reached; a Wait whose previous step completed
  // while the run goes on is waiting now. States after the last step keep what stateStatus said.
  if (run) {
    const column = main.map((n) => placed.get(n)).filter((p) => p !== undefined);
    column.forEach((p, i) => {
      if (p.step || p.state.Type === "Succeed" || p.state.Type === "Fail") return;
      const later = column.slice(i + 1).filter((q) => q.step);
      if (later.length === 0) return;
      const earlier = column.slice(0, i).filter((q) => q.step);
      const previous = earlier[earlier.length - 1];
      // Entered only through a Choice branch (a scheduled start, say): the run may have gone
      // around it, and the progress record does not say.
      const incoming = edges.filter((e) => e.to === p.name);
      const optional = incoming.length > 0 && incoming.every((e) => e.kind === "choice");
      if (optional) p.status = "idle";
      else if (later.some((q) => q.status !== "pending"))
        p.status = p.state.Type === "Task" ? "completed" : "passed";
      else if (
        p.state.Type === "Wait" &&
        (run.status === "running" || run.status === "pending") &&
        (!previous || previous.status === "completed" || previous.status === "skipped")
      )
        p.status = "running";
      else p.status = "pending";
    });
  }
  const sideHeights = side.map((n) => {
    const st = definition.States[n];
    return st ? heightOf(st, steps.get(n), mapItems(n)) : 0;
  });
  const sideTotal = sideHeights.reduce((a, b) => a + b, 0) + GAP * Math.max(0, side.length - 1);
  let sy = Math.max(20, mainBottom - sideTotal);
  side.forEach((name, i) => {
    const state = definition.States[name];
    if (!state) return;
    const step = steps.get(name);
    const h = sideHeights[i] ?? 0;
    placed.set(name, {
      name,
      state,
      column: "side",
      x: sideX,
      y: sy,
      w: SIDE_W,
      h,
      status: stateStatus(name, state, run, steps, "side"),
      ...(step ? { step } : {}),
    });
    sy += h + GAP;
  });
  const height = Math.max(mainBottom, sy - GAP) + 24;

  const edgeLayer = s("g", { class: "edges" });
  const REACHED = new Set(["running", "completed", "failed", "passed", "cancelled"]);
  /** The run went along this edge: both ends were reached (for a catch: the source failed). */
  const taken = (/** @type {Edge} */ e, /** @type {Placed} */ a, /** @type {Placed} */ b) => {
    if (!run || !REACHED.has(b.status)) return false;
    if (e.kind === "catch") return a.status === "failed" && b.column === "side";
    return (a.status === "completed" || a.status === "passed") && !jumps.includes(e);
  };
  const mid = (/** @type {Placed} */ p) => p.y + p.h / 2;
  for (const e of edges) {
    const a = placed.get(e.from);
    const b = placed.get(e.to);
    if (!a || !b) continue;
    const title = s("title", {}, `${e.from} → ${e.to}${e.label ? ` (${e.label})` : ""}`);
    const on = taken(e, a, b);
    const cls = `edge edge-${e.kind}${on ? " edge-taken" : ""}`;
    if (e.kind === "catch" && a.column === "main" && b.column === "side") {
      const bx = busX0 + catchTargets.indexOf(e.to) * LANE;
      const d = `M ${a.x + a.w} ${mid(a)} H ${bx} V ${mid(b)} H ${b.x - 2}`;
      const arrow = on ? "url(#arrow-fail)" : "url(#arrow-muted)";
      edgeLayer.append(s("path", { d, class: cls, "marker-end": arrow }, title));
      continue;
    }
    const jump = jumps.indexOf(e);
    if (jump >= 0) {
      const lx = boxX - 14 - jump * LANE;
      const d = `M ${a.x} ${mid(a)} H ${lx} V ${mid(b)} H ${b.x - 2}`;
      edgeLayer.append(s("path", { d, class: "edge edge-choice", "marker-end": "url(#arrow-muted)" }, title));
      continue;
    }
    if (a.column === b.column && a.y < b.y) {
      const x = a.x + a.w / 2;
      const d = `M ${x} ${a.y + a.h} V ${b.y - 2}`;
      edgeLayer.append(
        s("path", { d, class: cls, "marker-end": on ? "url(#arrow-taken)" : "url(#arrow)" }, title),
      );
      if (e.kind === "default" || e.kind === "choice") {
        edgeLayer.append(s("text", { x: x + 6, y: a.y + a.h + GAP / 2 + 4, class: "edge-label" }, e.label));
      }
      continue;
    }
    const d = `M ${a.x + a.w} ${mid(a)} L ${b.x - 2} ${mid(b)}`;
    edgeLayer.append(
      s("path", { d, class: cls, "marker-end": on ? "url(#arrow-taken)" : "url(#arrow-muted)" }, title),
    );
  }

  const nodeLayer = s("g", { class: "nodes" });
  for (const p of placed.values()) nodeLayer.append(drawNode(p, titles, mapItems(p.name)));

  const summary = [...placed.values()]
    .filter((p) => p.step)
    .map((p) => `${p.name}: ${p.status}`)
    .join("; ");
  return s(
    "svg",
    {
      class: "workflow-graph",
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-labelledby": "graph-title graph-desc",
      "data-testid": "workflow-graph",
    },
    s("title", { id: "graph-title" }, "State machine graph"),
    s("desc", { id: "graph-desc" }, summary || "No run data"),
    s(
      "defs",
      {},
      marker("arrow", "arrowhead", 10),
      marker("arrow-muted", "arrowhead-muted", 8),
      marker("arrow-taken", "arrowhead-taken", 10),
      marker("arrow-fail", "arrowhead-fail", 9),
    ),
    edgeLayer,
    nodeLayer,
  );
}

/**
 * An arrowhead marker.
 *
 * @param {string} id
 * @param {string} className
 * @param {number} size
 */
function marker(id, className, size) {
  return s(
    "marker",
    {
      id,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: size,
      markerHeight: size,
      // Fixed size: a thicker (taken) edge must not get a bigger arrowhead.
      markerUnits: "userSpaceOnUse",
      orient: "auto-start-reverse",
    },
    s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: className }),
  );
}

/**
 * @param {Placed} p
 * @param {Map<string, string>} titles
 * @param {string[]} items
 */
function drawNode(p, titles, items) {
  const { name, state, x, y, w, h, status, step } = p;
  const g = s("g", {
    class: `node node-${state.Type.toLowerCase()}`,
    "data-testid": `state-${name}`,
    "data-status": status,
    "data-state-type": state.Type,
  });
  const tooltip = [`${name} (${state.Type})`, `status: ${status}`];
  if (step?.error) tooltip.push(`${step.error.name}: ${step.error.message}`);
  if (state.Comment) tooltip.push(state.Comment);
  g.append(s("title", {}, tooltip.join("\n")));

  if (state.Type === "Succeed" || state.Type === "Fail") {
    g.append(s("rect", { x, y, width: w, height: h, rx: h / 2, class: "frame" }));
    const reached = status !== "pending" && status !== "idle";
    const symbol = STATUS_SYMBOL[/** @type {keyof typeof STATUS_SYMBOL} */ (status)] ?? "";
    g.append(
      s(
        "text",
        { x: x + w / 2, y: y + 19, class: "node-name", "text-anchor": "middle" },
        `${symbol} ${name}`,
      ),
    );
    g.append(
      s(
        "text",
        { x: x + w / 2, y: y + 35, class: "node-type", "text-anchor": "middle" },
        `${state.Type}${reached ? ` · ${status}` : ""}`,
      ),
    );
    return g;
  }
  if (state.Type === "Choice") {
    const k = 14;
    const points = [
      [x + k, y],
      [x + w - k, y],
      [x + w, y + h / 2],
      [x + w - k, y + h],
      [x + k, y + h],
      [x, y + h / 2],
    ]
      .map(([px, py]) => `${px},${py}`)
      .join(" ");
    g.append(s("polygon", { points, class: "frame" }));
    g.append(s("text", { x: x + 22, y: y + 21, class: "node-name" }, name));
    g.append(
      s(
        "text",
        { x: x + 22, y: y + 37, class: "node-detail" },
        `Choice · ${plural((state.Choices ?? []).length, "branch")}${state.Default ? " + default" : ""}`,
      ),
    );
    return g;
  }

  const stripe = 6;
  g.append(
    s("rect", {
      x,
      y,
      width: w,
      height: h,
      rx: 8,
      class: state.Type === "Map" ? "frame frame-map" : "frame",
    }),
  );
  g.append(s("rect", { x, y, width: stripe, height: h, rx: 3, class: "stripe" }));
  const tx = x + stripe + 12;
  let ty = y + PAD + 4;
  g.append(s("text", { x: tx, y: ty, class: "node-name" }, name));
  g.append(s("text", { x: x + w - 12, y: ty, class: "node-type", "text-anchor": "end" }, state.Type));
  ty += LINE;
  const textW = w - stripe - 24;
  const title = clip(titles.get(name) ?? state.Comment ?? "", textW);
  g.append(s("text", { x: tx, y: ty, class: "node-detail" }, title));
  if (step || state.Type === "Wait") {
    ty += LINE;
    const shown = !step && status === "running" ? "waiting" : status;
    g.append(
      s(
        "text",
        { x: tx, y: ty, class: "node-status", "data-testid": `state-status-${name}` },
        statusLine(shown, step),
      ),
    );
  }
  if (step?.error) {
    ty += LINE;
    g.append(
      s(
        "text",
        { x: tx, y: ty, class: "node-error" },
        clip(`${step.error.name}: ${step.error.message}`, textW),
      ),
    );
  }
  if (state.Type === "Map") {
    const processor = state.ItemProcessor ?? state.Iterator;
    const innerName = processor?.StartAt ?? "Iterator";
    const ix = tx;
    const iy = ty + 14;
    const iw = w - stripe - 24;
    const inner = s("g", {
      class: "node node-inner",
      "data-testid": `state-${innerName}`,
      "data-status": status,
    });
    inner.append(
      s(
        "title",
        {},
        `${innerName} (Task, runs once per item${state.MaxConcurrency === 1 ? ", one at a time" : ""})`,
      ),
    );
    inner.append(s("rect", { x: ix, y: iy, width: iw, height: 46, rx: 6, class: "frame" }));
    inner.append(s("text", { x: ix + 12, y: iy + 19, class: "node-name" }, innerName));
    inner.append(
      s("text", { x: ix + iw - 10, y: iy + 19, class: "node-type", "text-anchor": "end" }, "Task"),
    );
    inner.append(
      s(
        "text",
        { x: ix + 12, y: iy + 36, class: "node-detail" },
        `per item${state.MaxConcurrency === 1 ? " · one at a time" : ""}`,
      ),
    );
    g.append(inner);
    let ay = iy + 46 + 10 + 12;
    const actions = step?.actions ?? [];
    if (items.length === 0) {
      g.append(s("text", { x: ix + 4, y: ay, class: "node-detail" }, "no items"));
    }
    for (const item of items) {
      const action = actions.find((a) => a.name === item);
      const st = action?.status ?? "pending";
      const sym = STATUS_SYMBOL[/** @type {keyof typeof STATUS_SYMBOL} */ (st)] ?? "";
      const row = s("g", { class: "map-item", "data-status": st, "data-testid": `map-item-${item}` });
      row.append(s("circle", { cx: ix + 8, cy: ay - 4, r: 4.5, class: "dot" }));
      row.append(s("text", { x: ix + 20, y: ay, class: "node-detail" }, item));
      const extra = action && action.attempts > 1 ? ` · ${action.attempts} attempts` : "";
      row.append(
        s(
          "text",
          { x: ix + iw - 4, y: ay, class: "node-item-status", "text-anchor": "end" },
          `${sym} ${st}${extra}`,
        ),
      );
      if (action?.error) row.append(s("title", {}, `${action.error.name}: ${action.error.message}`));
      g.append(row);
      ay += LINE;
    }
  }
  return g;
}
