/**
 * The playlist agent process of one live stream on an edge (see `PlaylistAgent`). nginx-rtmp
 * starts it when the origin's push of a stream begins and stops it when the push ends
 * (`exec_push` in nginx/edge.conf.template), as the nginx worker user, so it needs no service
 * of its own:
 *
 *   node dist/server/edges/edgeAgent.js --hls-dir PREFIX/hls --window 10 --retention 48h \
 *     --stream NAME
 *
 * Its stdout (JSON log lines) and stderr go to the edge's logs/agent.log.
 *
 * Lifecycle: nginx-rtmp runs it once per stream, in the worker that holds the origin's push
 * (relayed copies in other workers run no exec), restarts it a second after it dies, and sends
 * TERM when the stream ends (after writing its own last playlist, which the agent then turns
 * into its last playlists). When the worker itself goes away (nginx stopped or crashed), the
 * kernel sends TERM too (PR_SET_PDEATHSIG); the agent then exits without writing, and so it
 * does if it ever finds itself orphaned.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Logger } from '../log.js';
import { STREAM_NAME } from './hlsPlaylists.js';
import { PlaylistAgent } from './PlaylistAgent.js';
import { nginxDurationMs } from './renderEdgeConfig.js';

/** A stop that takes longer than this (a stuck disk) ends the process anyway. */
const STOP_DEADLINE_MS = 3000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'hls-dir': { type: 'string' },
      stream: { type: 'string' },
      window: { type: 'string', default: '10' },
      retention: { type: 'string', default: '48h' },
    },
  });
  const stream = values.stream ?? '';
  const logger = new Logger('info', process.stdout, {
    component: 'playlist-agent',
    stream,
    pid: process.pid,
  });
  const hlsDir = values['hls-dir'];
  const liveWindow = Number(values.window);
  let retentionMs = Number.NaN;
  try {
    retentionMs = nginxDurationMs(values.retention);
  } catch {
    // Reported below with the other checks.
  }
  const problems = [
    hlsDir === undefined || !hlsDir.startsWith('/') ? '--hls-dir must be an absolute path' : '',
    STREAM_NAME.test(stream) ? '' : `stream name must match ${STREAM_NAME.source}`,
    Number.isInteger(liveWindow) && liveWindow >= 3 ? '' : '--window must be 3 or more',
    retentionMs >= 60_000 ? '' : '--retention must be an nginx duration of at least 1m',
  ].filter((problem) => problem !== '');
  if (hlsDir === undefined || problems.length > 0) {
    logger.error('not starting', { problems, argv: process.argv.slice(2) });
    // nginx-rtmp restarts an agent that exits, every second for as long as the stream lasts:
    // a bad stream name (it comes from RTMP) would fill the log. Wait for the stream's end.
    await waitForSignal();
    return;
  }

  const parent = process.ppid;
  const agent = new PlaylistAgent({ hlsDir, stream, liveWindow, retentionMs, logger });
  let stopping = false;
  const stop = (reason: string, final: boolean): void => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { reason });
    setTimeout(() => {
      logger.error('stop took too long; exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    agent.stop(final).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('stop failed', { error });
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // The worker that started the agent still runs: the stream ended, write its end.
      // Otherwise nginx is going away and the stream folder may be going with it.
      const workerAlive = process.ppid === parent;
      stop(`${signal}${workerAlive ? '' : ' (nginx worker gone)'}`, workerAlive);
    });
  }
  // PR_SET_PDEATHSIG covers the worker's death; this covers any way of being orphaned.
  setInterval(() => {
    if (process.ppid !== parent) stop('orphaned: the nginx worker is gone', false);
  }, 2000).unref();

  await agent.start();
  logger.info('started', { hlsDir, liveWindow, retentionMs });
  // The watcher and the timers keep the process alive from here on.
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => undefined, 60_000);
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.once(signal, () => {
        clearInterval(timer);
        resolve();
      });
    }
  });
}

process.on('uncaughtException', (error) => {
  process.stderr.write(`playlist agent crashed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});

await main().catch(async (error: unknown) => {
  process.stderr.write(
    `playlist agent failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  // Leave a second before nginx-rtmp's respawn, so a persistent failure is not a busy loop.
  await sleep(1000);
  process.exit(1);
});
