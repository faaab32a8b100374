/** Small inline-SVG charts for the statistics page (no chart library: the console has no build step). */
import { formatDuration, s } from "./dom.js";

/**
 * Bins for a histogram: `count` equal-width bins over [min, max] rounded to a readable step.
 *
 * @param {number[]} values
 * @param {number} [count]
 * @returns {{from: number, to: number, n: number}[]}
 */
export function histogramBins(values, count = 10) {
  if (values.length === 0) return [];
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = Math.max(max - min, 1);
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= raw) ?? raw;
  const start = Math.floor(min / step) * step;
  const bins = [];
  for (let from = start; from <= max; from += step) bins.push({ from, to: from + step, n: 0 });
  for (const v of values) {
    const i = Math.min(bins.length - 1, Math.floor((v - start) / step));
    const bin = bins[i];
    if (bin) bin.n += 1;
  }
  return bins;
}

/**
 * A vertical-bar histogram of durations, with optional marker lines (median, p95).
 *
 * @param {number[]} durations  milliseconds
 * @param {{label: string, value: number | null, className: string}[]} markers
 * @param {string} title
 */
export function durationHistogram(durations, markers, title) {
  const bins = histogramBins(durations);
  const width = 860;
  const height = 240;
  const left = 44;
  const right = 16;
  const top = 40;
  const bottom = 48;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const maxN = Math.max(1, ...bins.map((b) => b.n));
  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": title,
    "data-testid": "chart-completion-histogram",
  });
  svg.append(s("title", {}, title));
  const ticks = niceTicks(maxN);
  for (const t of ticks) {
    const ty = top + plotH - (t / maxN) * plotH;
    svg.append(s("line", { x1: left, x2: width - right, y1: ty, y2: ty, class: "grid" }));
    svg.append(s("text", { x: left - 8, y: ty + 4, class: "axis-label", "text-anchor": "end" }, t));
  }
  if (bins.length === 0) {
    svg.append(
      s(
        "text",
        { x: width / 2, y: height / 2, class: "empty-label", "text-anchor": "middle" },
        "no completed runs",
      ),
    );
    return svg;
  }
  const lo = bins[0]?.from ?? 0;
  const hi = bins[bins.length - 1]?.to ?? 1;
  const xOf = (/** @type {number} */ v) => left + ((v - lo) / (hi - lo)) * plotW;
  const bw = plotW / bins.length;
  bins.forEach((b, i) => {
    const bh = (b.n / maxN) * plotH;
    const x = left + i * bw;
    const bar = s("rect", {
      x: x + 2,
      y: top + plotH - bh,
      width: Math.max(1, bw - 4),
      height: bh,
      class: "bar",
    });
    bar.append(s("title", {}, `${formatDuration(b.from)} – ${formatDuration(b.to)}: ${b.n} runs`));
    svg.append(bar);
    if (b.n > 0) {
      svg.append(
        s(
          "text",
          { x: x + bw / 2, y: top + plotH - bh - 4, class: "bar-label", "text-anchor": "middle" },
          b.n,
        ),
      );
    }
    if (i % Math.ceil(bins.length / 6) === 0) {
      svg.append(
        s(
          "text",
          { x, y: top + plotH + 16, class: "axis-label", "text-anchor": "middle" },
          formatDuration(b.from),
        ),
      );
    }
  });
  svg.append(
    s(
      "text",
      { x: width - right, y: top + plotH + 16, class: "axis-label", "text-anchor": "end" },
      formatDuration(hi),
    ),
  );
  svg.append(s("line", { x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
  svg.append(
    s(
      "text",
      { x: left + plotW / 2, y: height - 8, class: "axis-title", "text-anchor": "middle" },
      "completion time",
    ),
  );
  markers.forEach((m, i) => {
    if (m.value === null || m.value < lo || m.value > hi) return;
    const mx = xOf(m.value);
    // Labels on separate rows, so that close values (median near p95) stay readable.
    const ly = top - 28 + 14 * i;
    const anchor = mx > left + plotW * 0.8 ? "end" : "start";
    svg.append(s("line", { x1: mx, x2: mx, y1: ly + 3, y2: top + plotH, class: `marker ${m.className}` }));
    svg.append(
      s(
        "text",
        {
          x: anchor === "end" ? mx - 4 : mx + 4,
          y: ly,
          "text-anchor": anchor,
          class: `marker-label ${m.className}`,
        },
        `${m.label} ${formatDuration(m.value)}`,
      ),
    );
  });
  return svg;
}

/**
 * Horizontal bars, one per row, with the value written at the end of each bar.
 *
 * @param {{label: string, value: number, text: string, className?: string}[]} rows
 * @param {{max?: number, title: string, testid: string}} options
 */
export function horizontalBars(rows, options) {
  const labelW = 160;
  const width = 500;
  const rowH = 28;
  const top = 8;
  const height = top * 2 + Math.max(1, rows.length) * rowH;
  const plotW = width - labelW - 124;
  const max = options.max ?? Math.max(1, ...rows.map((r) => r.value));
  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": options.title,
    "data-testid": options.testid,
  });
  svg.append(s("title", {}, options.title));
  if (rows.length === 0) {
    svg.append(
      s(
        "text",
        { x: width / 2, y: height / 2 + 4, class: "empty-label", "text-anchor": "middle" },
        "no data",
      ),
    );
    return svg;
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const bw = max > 0 ? (Math.max(0, r.value) / max) * plotW : 0;
    svg.append(
      s("text", { x: labelW - 10, y: y + rowH / 2 + 4, class: "axis-label", "text-anchor": "end" }, r.label),
    );
    svg.append(
      s("rect", { x: labelW, y: y + 6, width: plotW, height: rowH - 12, rx: 3, class: "bar-track" }),
    );
    const bar = s("rect", {
      x: labelW,
      y: y + 6,
      width: Math.max(bw, r.value > 0 ? 2 : 0),
      height: rowH - 12,
      rx: 3,
      class: `bar ${r.className ?? ""}`,
    });
    bar.append(s("title", {}, `${r.label}: ${r.text}`));
    svg.append(bar);
    svg.append(s("text", { x: labelW + plotW + 8, y: y + rowH / 2 + 4, class: "bar-label" }, r.text));
  });
  return svg;
}

/** @param {number} max */
function niceTicks(max) {
  const step =
    max <= 5
      ? 1
      : max <= 10
        ? 2
        : max <= 25
          ? 5
          : 10 ** Math.floor(Math.log10(max)) * (max / 10 ** Math.floor(Math.log10(max)) > 5 ? 2 : 1);
  const ticks = [];
  for (let t = 0; t <= max; t += step) ticks.push(t);
  return ticks;
}
