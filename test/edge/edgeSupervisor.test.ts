/**
 * The local edge that `npm start` runs is supervised: whichever way its nginx dies (the whole
 * process group killed, or only its master, which leaves workers behind holding the ports), it
 * is started again, the origin pushes to it again, and its HLS carries on in the same playlist.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NginxEdge } from '../../server/edges/NginxEdge.js';
import { RtmpOrigin, streamName, type EdgeId } from '../../server/origin/RtmpOrigin.js';
import { freePort } from '../helpers/engineProcess.js';
import {
  EDGE_SECRET,
  fragments,
  publishQuadrants,
  waitForText,
  type TestProcess,
} from './helpers.js';

const stream = streamName('assembly-supervised');
let origin: RtmpOrigin;
let edge: NginxEdge;
let prefix: string;
let publisher: TestProcess;

/** nginx processes whose parent is `pid` (the master's workers). */
async function childrenOf(pid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // Gone between readdir and readFile: not a worker any more.
    }
  }
  return pids;
}

/** Whether `pid` runs (a zombie, which nobody reaped in this container, does not). */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

before(async () => {
  origin = new RtmpOrigin({ port: await freePort(), edgeSecret: EDGE_SECRET });
  await origin.start();
  prefix = await mkdtemp(path.join(tmpdir(), 'montage-edge-supervised-'));
  edge = new NginxEdge({
    prefix,
    httpPort: await freePort(),
    rtmpPort: await freePort(),
    edgeSecret: EDGE_SECRET,
    user: process.getuid?.() === 0 ? 'root' : undefined,
    supervise: true,
    restartDelayMs: 200,
  });
  await edge.start();
  origin.addEdge('local' as EdgeId, edge.ingestUrl);
  origin.allowStream(stream, 'stream-key-supervised-0001');
  publisher = publishQuadrants(origin.publishUrl(stream), ['red', 'green', 'blue', 'yellow']);
  await waitForText(edge.playlistUrl(stream), (body) => fragments(body).length >= 2, 20_000);
});

after(async () => {
  await publisher?.stop();
  await origin?.stop();
  await edge?.stop();
  await rm(prefix, { recursive: true, force: true });
});

for (const [how, kill] of [
  ['its whole process group is killed', (pid: number) => process.kill(-pid, 'SIGKILL')],
  ['only its master is killed', (pid: number) => process.kill(pid, 'SIGKILL')],
] as const) {
  test(`a supervised edge is started again when ${how}, and its playlist carries on`, async () => {
    const playlistUrl = edge.playlistUrl(stream);
    const before = fragments(await (await fetch(playlistUrl)).text());
    const master = await edge.pid();
    assert.ok(master !== undefined, 'nginx runs');
    const workers = await childrenOf(master);
    assert.ok(workers.length > 0, 'nginx has workers');
    const restarted = once(edge, 'started');
    kill(master);
    const [pid] = (await restarted) as [number];
    assert.notEqual(pid, master);
    // Nothing of the old nginx is left: orphaned workers would hold the ports and serve stale state.
    for (const worker of workers) {
      assert.equal(await running(worker), false, `old worker ${worker} is gone`);
    }
    const after = await waitForText(
      playlistUrl,
      (body) => fragments(body).length >= before.length + 3,
      30_000,
    );
    assert.deepEqual(fragments(after).slice(0, before.length), before, 'the same playlist goes on');
    assert.ok(edge.restarts >= 1);
  });
}

test('a stopped supervised edge stays stopped', async () => {
  const master = await edge.pid();
  assert.ok(master !== undefined);
  await edge.stop();
  assert.equal(await running(master), false);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(await edge.pid(), undefined, 'no restart after stop()');
});
