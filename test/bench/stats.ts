/** Small statistics helpers for benchmarks: medians and percentiles over repeated runs. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** One line of a benchmark table: our figure next to its anchor, and the ratio. */
export interface ComparisonRow {
  metric: string;
  ours: number;
  anchor: number;
  unit: string;
  goal?: string;
}

export function printComparison(title: string, rows: readonly ComparisonRow[]): void {
  console.log(`\n${title}`);
  const header = ['metric', 'montage', 'anchor', 'ratio', 'goal'];
  // A figure a benchmark could not measure (NaN: no samples) shows as n/a, not as "NaN ms".
  const value = (x: number, unit: string): string =>
    Number.isFinite(x) ? `${x.toFixed(1)} ${unit}` : 'n/a';
  const lines = rows.map((row) => [
    row.metric,
    value(row.ours, row.unit),
    value(row.anchor, row.unit),
    row.anchor > 0 && Number.isFinite(row.ours) ? `${(row.ours / row.anchor).toFixed(2)}x` : 'n/a',
    row.goal ?? '',
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.map((line) => (line[i] ?? '').length)),
  );
  const format = (cells: readonly string[]): string =>
    cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}
