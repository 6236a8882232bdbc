/**
 * Renders an edge's nginx config from nginx/edge.conf.template: the one command that turns a
 * VM with nginx and libnginx-mod-rtmp into a Montage edge (see nginx/README.md).
 *
 *   node dist/server/edges/cli.js render --out /srv/montage-edge --secret SECRET \
 *     --origin-allow 10.0.0.5 [--http-host 0.0.0.0] [--http-port 8090] \
 *     [--rtmp-host 0.0.0.0] [--rtmp-port 1935] [--stat-allow 10.0.0.5] \
 *     [--playlist-length 8h] [--fragment 900ms] [--user www-data] [--start]
 *
 * It prints the two values to register the edge with the app server, its HTTP base URL and its
 * RTMP ingest URL, and the same as an entry for the app server's MONTAGE_EDGES.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NginxEdge } from './NginxEdge.js';
import { writeEdgePrefix, type EdgeConfigOptions } from './renderEdgeConfig.js';

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((item) => item.trim());
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
  };
  const file = await writeEdgePrefix(options);
  // nginx's workers run as `user` and write the HLS files: give them the folder.
  if (options.user !== undefined && process.getuid?.() === 0) {
    const [user, group] = options.user.split(' ');
    execFileSync('chown', ['-R', `${user}:${group ?? user}`, path.join(options.prefix, 'hls')]);
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

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
