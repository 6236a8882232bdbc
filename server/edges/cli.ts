/**
 * Renders an edge's nginx config from nginx/edge.conf.template: the one command that turns a
 * VM with nginx and libnginx-mod-rtmp into a Montage edge (see nginx/README.md).
 *
 *   node dist/server/edges/cli.js render --out /srv/montage-edge --secret SECRET \
 *     --origin-allow 10.0.0.5 [--http-host 0.0.0.0] [--http-port 8090] \
 *     [--rtmp-host 0.0.0.0] [--rtmp-port 1935] [--stat-allow 10.0.0.5] \
 *     [--playlist-length 8h] [--fragment 900ms] [--user www-data] \
 *     [--live-window 10] [--retention 48h] [--workers 1] [--nofile N] [--connections N] \
 *     [--node /usr/bin/node] [--start]
 *
 * It prints the two values to register the edge with the app server, its HTTP base URL and its
 * RTMP ingest URL, and the same as an entry for the app server's MONTAGE_EDGES.
 *
 *   node dist/server/edges/cli.js register --app APP_URL --token OPERATOR_TOKEN --id ID \
 *     --public-url URL --ingest-url rtmp://HOST:PORT/live [--status-url URL]
 *
 * registers the edge with a running app server (server/edges/registerEdge.ts): the origin
 * pushes to it at once, no restart.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NginxEdge } from './NginxEdge.js';
import { runRegisterCommand } from './registerEdge.js';
import { WORKER_WRITABLE, writeEdgePrefix, type EdgeConfigOptions } from './renderEdgeConfig.js';

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((item) => item.trim());
}

/** A whole-number flag, or undefined when absent; anything else is refused by the renderer. */
function count(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      secret: { type: 'string' },
      'origin-allow': { type: 'string' },
      'stat-allow': { type: 'string' },
      'http-host': { type: 'string', default: '0.0.0.0' },
      'http-port': { type: 'string', default: '8090' },
      'rtmp-host': { type: 'string', default: '0.0.0.0' },
      'rtmp-port': { type: 'string', default: '1935' },
      'playlist-length': { type: 'string' },
      fragment: { type: 'string' },
      user: { type: 'string', default: 'www-data' },
      'live-window': { type: 'string' },
      retention: { type: 'string' },
      workers: { type: 'string' },
      nofile: { type: 'string' },
      connections: { type: 'string' },
      node: { type: 'string' },
      'public-host': { type: 'string' },
      start: { type: 'boolean', default: false },
    },
  });
  if (positionals[0] !== 'render' || values.out === undefined || values.secret === undefined) {
    process.stderr.write(
      'usage: cli.js render --out DIR --secret EDGE_SECRET --origin-allow ORIGIN_IP [options]\n',
    );
    process.exit(2);
  }
  const options: EdgeConfigOptions = {
    prefix: path.resolve(values.out),
    httpHost: values['http-host'],
    httpPort: Number(values['http-port']),
    rtmpHost: values['rtmp-host'],
    rtmpPort: Number(values['rtmp-port']),
    edgeSecret: values.secret,
    originAllow: list(values['origin-allow']),
    statAllow: list(values['stat-allow'] ?? values['origin-allow']),
    hlsFragment: values.fragment,
    hlsPlaylistLength: values['playlist-length'],
    user: values.user === '' ? undefined : values.user,
    liveWindow: count(values['live-window']),
    retention: values.retention,
    workerProcesses:
      values.workers === undefined
        ? undefined
        : values.workers === 'auto'
          ? 'auto'
          : Number(values.workers),
    workerRlimitNofile: count(values.nofile),
    workerConnections: count(values.connections),
    nodeBinary: values.node,
  };
  const file = await writeEdgePrefix(options);
  // nginx's workers run as `user`: they write the HLS files and their unix sockets, and the
  // playlist agents they start write the playlists and their log.
  if (options.user !== undefined && process.getuid?.() === 0) {
    const [user, group] = options.user.split(' ');
    const owned = WORKER_WRITABLE.map((item) => path.join(options.prefix, item));
    execFileSync('chown', ['-R', `${user}:${group ?? user}`, ...owned]);
  }
  const host = values['public-host'] ?? 'THIS_HOST';
  const httpUrl = `http://${host}:${options.httpPort}`;
  const ingestUrl = `rtmp://${host}:${options.rtmpPort}/live`;
  process.stdout.write(
    [
      `rendered ${file}`,
      `start:    nginx -p ${options.prefix} -c ${file} -e logs/error.log`,
      `register: http ${httpUrl}  ingest ${ingestUrl}`,
      // The app server's syntax (server/config.ts); the id is only a name, so the host serves.
      `app server: MONTAGE_EDGES=${host}=${httpUrl}|${ingestUrl}`,
      '',
    ].join('\n'),
  );
  if (values.start) {
    const pid = await new NginxEdge(options).start();
    process.stdout.write(`nginx started, pid ${pid}\n`);
  }
}

const command =
  process.argv[2] === 'register'
    ? runRegisterCommand(process.argv.slice(3)).then((code) => {
        process.exitCode = code;
      })
    : main();
command.catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
