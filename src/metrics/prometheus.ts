import type { HistogramCollection, MetricCollection, ScalarCollection } from "./collect.js";

const TYPES = { counter: "counter", upDownCounter: "gauge", gauge: "gauge", histogram: "histogram" } as const;

/**
 * Prometheus text exposition (format 0.0.4). Every series carries the one
 * label `workspace_id` (histogram buckets add the standard `le`), and each
 * metric has at most K + 1 series, so a scrape costs O(K), not O(workspaces).
 */
export function renderPrometheus(collections: readonly MetricCollection[]): string {
  const lines: string[] = [];
  for (const collection of collections) {
    const { name, description, unit, kind } = collection.metric;
    const help = [description, unit ? `(unit: ${unit})` : ""].filter(Boolean).join(" ");
    lines.push(`# HELP ${name} ${escapeHelp(help || name)}`, `# TYPE ${name} ${TYPES[kind]}`);
    if (collection.kind === "scalar") scalarLines(collection, lines);
    else histogramLines(collection, lines);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function scalarLines(collection: ScalarCollection, lines: string[]): void {
  const name = collection.metric.name;
  for (const point of collection.series) lines.push(`${name}{workspace_id="${point.workspaceId}"} ${num(point.value)}`);
}

function histogramLines(collection: HistogramCollection, lines: string[]): void {
  const { name, boundaries } = collection.metric;
  for (const point of collection.series) {
    const label = `workspace_id="${point.workspaceId}"`;
    let cumulative = 0;
    for (let i = 0; i < point.buckets.length; i++) {
      cumulative += point.buckets[i] ?? 0;
      const le = i < boundaries.length ? num(boundaries[i] ?? 0) : "+Inf";
      lines.push(`${name}_bucket{${label},le="${le}"} ${num(cumulative)}`);
    }
    lines.push(`${name}_sum{${label}} ${num(point.sum)}`, `${name}_count{${label}} ${num(point.count)}`);
  }
}

function num(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
