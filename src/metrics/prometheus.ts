/**
 * The Prometheus text exposition format, version 0.0.4: one `# HELP` and one `# TYPE` line per
 * family, then its samples, `name{label="value",...} value`. Pure: families in, text out.
 */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'summary' | 'histogram' | 'untyped';
export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Appended to the family name: `_sum` and `_count` of a summary, `_bucket` of a histogram. */
  suffix?: string;
  labels?: Labels;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A sample value: Go's float syntax, which Prometheus parses; non-finite values by their names. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** HELP text: only backslash and line feed are escaped. */
export const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A label value: backslash, double quote and line feed are escaped. */
export const escapeLabelValue = (text: string): string =>
  text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function formatLabels(labels: Labels | undefined): string {
  if (!labels) return '';
  const pairs = Object.entries(labels).map(([name, value]) => {
    // Names come from code, never from input: a bad one is a bug, caught by the tests.
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`invalid label name '${name}'`);
    return `${name}="${escapeLabelValue(value)}"`;
  });
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

/** The exposition text; families without samples are left out, a repeated family name is a bug. */
export function encode(families: Iterable<MetricFamily>): string {
  const seen = new Set<string>();
  let text = '';
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`invalid metric name '${family.name}'`);
    if (seen.has(family.name)) throw new Error(`metric family '${family.name}' appears twice`);
    seen.add(family.name);
    if (family.samples.length === 0) continue;
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const s of family.samples) {
      text += `${family.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}\n`;
    }
  }
  return text;
}
