/**
 * The numbers /metrics publishes, kept as labelled gauges that the domain sets, and written in
 * the Prometheus text exposition format (version 0.0.4) by hand: it is a few lines of text and
 * needs no client library.
 */

export type Labels = Record<string, string>;

class Gauge {
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(value: number, labels: Labels = {}): void {
    this.#values.set(labelKey(labels), { labels, value });
  }

  /** Removes the series with exactly these labels (an assembly that ended). */
  remove(labels: Labels): void {
    this.#values.delete(labelKey(labels));
  }

  /** Removes every series whose labels include `match` (all sources of one assembly). */
  removeMatching(match: Labels): void {
    for (const [key, series] of this.#values) {
      if (Object.entries(match).every(([name, value]) => series.labels[name] === value)) {
        this.#values.delete(key);
      }
    }
  }

  get(labels: Labels = {}): number | undefined {
    return this.#values.get(labelKey(labels))?.value;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const { labels, value } of this.#values.values()) {
      lines.push(`${this.name}${renderLabels(labels)} ${formatValue(value)}`);
    }
    return lines.join('\n');
  }
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

/** Label values escape backslash, double quote and newline, as the format requires. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function renderLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export class MetricsRegistry {
  readonly assemblies = new Gauge('montage_assemblies', 'Assemblies stored on this server.');
  readonly cameras = new Gauge('montage_cameras', 'Cameras connected to an assembly, by assembly.');
  readonly viewers = new Gauge('montage_viewers', 'Viewers connected to an assembly, by assembly.');
  readonly programSource = new Gauge(
    'montage_program_source',
    'The program source of an assembly: 1 for the current source (composite, camera:ID, video).',
  );
  readonly mediaServerConnected = new Gauge(
    'montage_media_server_connected',
    'Whether the app server is connected to its media server (1) or not (0).',
  );
  readonly diskFreeBytes = new Gauge(
    'montage_disk_free_bytes',
    "Free space of the file system holding a media folder (recordings, the local edge's HLS).",
  );
  readonly diskLow = new Gauge(
    'montage_disk_low',
    'Whether a media folder has less free space than MONTAGE_DISK_WARN_FREE_MB (1) or not (0).',
  );

  constructor() {
    this.assemblies.set(0);
    this.mediaServerConnected.set(0);
  }

  /** The whole registry in the Prometheus text format, ending with a newline. */
  render(): string {
    const gauges = [
      this.assemblies,
      this.cameras,
      this.viewers,
      this.programSource,
      this.mediaServerConnected,
      this.diskFreeBytes,
      this.diskLow,
    ];
    return `${gauges.map((gauge) => gauge.render()).join('\n')}\n`;
  }
}

/** The content type Prometheus expects for the text format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
