/**
 * Reading what services export: the Prometheus text format (the metric families a scrape
 * declares, and its samples) and the metric names the chart's Grafana dashboard queries.
 */
import { readFileSync } from 'node:fs';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a scrape (`name{a="x",…} value` lines). */
export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The metric families a scrape declares (`# TYPE name kind`). */
export function families(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!));
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function total(all: Sample[], name: string, labels: Record<string, string> = {}): number {
  return all
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

export const DASHBOARD = 'charts/diagon/files/dashboards/diagon.json';

/** Every metric family the dashboard's queries read (histogram series by their family). */
export function dashboardMetrics(file = DASHBOARD): Set<string> {
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
  };
  const functions = new Set(['sum', 'max', 'rate', 'by', 'histogram_quantile', 'le']);
  const names = json.panels
    .flatMap((p) => p.targets ?? [])
    // Label matchers {…}, ranges […] and `by (…)` lists hold no metric names.
    .map((t) =>
      t.expr
        .replace(/\{[^}]*\}/g, '')
        .replace(/\[[^\]]*\]/g, '')
        .replace(/by \([^)]*\)/g, ''),
    )
    .flatMap((e) => [...e.matchAll(/\b[a-z_][a-z0-9_]*\b/g)].map((m) => m[0]))
    .filter((n) => !functions.has(n) && n.includes('_'))
    .map((n) => n.replace(/_(bucket|sum|count)$/, ''));
  return new Set(names);
}
