/**
 * The edge's capacity settings on a real nginx-rtmp, with ffmpeg publishing through the real
 * origin: the worker really gets the descriptor limit and connections the config was sized with,
 * thousands of simultaneous viewers are served (the old edge logged "worker_connections are not
 * enough" at 4096), /stat and /nginx_status report the stream and the connections, and HLS (the
 * fragments, nginx-rtmp's playlist, the playlist agent) exists once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseRtmpStat } from '../../server/edges/probeEdge.js';
import { streamName } from '../../server/origin/RtmpOrigin.js';
import {
  agentProcesses,
  EDGE_SECRET,
  publishQuadrants,
  readPlaylist,
  startMediaStack,
  waitForText,
  type MediaStack,
  type TestProcess,
} from './helpers.js';

const run = promisify(execFile);
const stream = streamName('assembly-capacity');
let stack: MediaStack;
let publisher: TestProcess | undefined;

/** A GET; `agent` false gives it a connection of its own. */
function get(url: string, agent: Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The pids of the edge's nginx workers: the master's children. */
async function workerPids(): Promise<number[]> {
  const master = Number((await readFile(path.join(stack.edge.prefix, 'nginx.pid'), 'utf8')).trim());
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== master) continue;
    const title = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (title.startsWith('nginx: worker process')) pids.push(Number(entry));
  }
  return pids;
}

function setting(config: string, name: string): number {
  return Number(new RegExp(`^\\s*${name} (\\d+);$`, 'm').exec(config)?.[1]);
}

before(async () => {
  stack = await startMediaStack();
  stack.origin.allowStream(stream, 'stream-key-assembly-capacity');
  publisher = publishQuadrants(stack.origin.publishUrl(stream), ['blue', 'red', 'yellow', 'green']);
  await waitForText(
    stack.edge.hlsUrl(stream, 'live.m3u8'),
    (text) => readPlaylist(text).segments.length >= 3,
    30_000,
  );
});

after(async () => {
  await publisher?.stop();
  await stack.teardown();
});

test('the worker runs with the descriptor limit and connections the config was sized with', async () => {
  const config = await readFile(stack.edge.configFile, 'utf8');
  const nofile = setting(config, 'worker_rlimit_nofile');
  const connections = setting(config, 'worker_connections');
  assert.ok(nofile >= 1024 && connections >= 512, `${nofile} / ${connections}`);
  assert.ok(connections * 2 <= nofile, 'a socket and a file per connection');
  const workers = await workerPids();
  assert.equal(workers.length, 1, 'one worker (see nginx/edge.conf.template)');
  const limits = await readFile(`/proc/${workers[0] ?? 0}/limits`, 'utf8');
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
  assert.equal(soft, nofile);
});

test('5000 viewers connected at once each get the playlist', async () => {
  // Each viewer on its own keep-alive connection, all open together, as a school opening the
  // watch page at the same minute; nothing is refused and nothing is logged as missing.
  const viewers = 5000;
  const agents = Array.from(
    { length: viewers },
    () => new Agent({ keepAlive: true, maxSockets: 1 }),
  );
  try {
    const url = stack.edge.hlsUrl(stream, 'live.m3u8');
    let ok = 0;
    const failures: string[] = [];
    for (let first = 0; first < viewers; first += 500) {
      const batch = agents.slice(first, first + 500).map((agent) =>
        get(url, agent).then(
          (response) => (response.status === 200 ? ok++ : failures.push(String(response.status))),
          (error: unknown) => failures.push(String(error)),
        ),
      );
      await Promise.all(batch);
    }
    assert.deepEqual(failures.slice(0, 5), []);
    assert.equal(ok, viewers);
    const status = await get(`${stack.edge.httpUrl}/nginx_status`);
    const active = Number(/Active connections:\s*(\d+)/.exec(status.body)?.[1]);
    assert.ok(active >= viewers, `/nginx_status counts them: ${active}`);
  } finally {
    for (const agent of agents) agent.destroy();
  }
  const errorLog = await readFile(path.join(stack.edge.prefix, 'logs', 'error.log'), 'utf8');
  assert.doesNotMatch(errorLog, /worker_connections are not enough|Too many open files/);
});

test('/stat shows the live stream and its publishing client on every request', async () => {
  for (let i = 0; i < 20; i++) {
    const stat = await get(`${stack.edge.httpUrl}/stat`);
    const entry = parseRtmpStat(stat.body).find((candidate) => candidate.name === stream);
    assert.equal(entry?.publishing, true, stat.body.slice(0, 500));
    assert.ok((entry?.clients ?? 0) >= 1);
  }
});

test('HLS is written once: one agent, whole fragments, no errors', async () => {
  const workers = await workerPids();
  const agents = await agentProcesses(stack.edge.prefix);
  assert.equal(agents.length, 1, JSON.stringify(agents));
  assert.ok(workers.includes(agents[0]?.ppid ?? 0), 'the agent is a child of the worker');
  const { segments } = readPlaylist((await get(stack.edge.hlsUrl(stream, 'history.m3u8'))).body);
  // Two writers of one fragment would interleave or double its frames.
  for (const segment of segments.slice(0, 3)) {
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-count_packets',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'csv=p=0',
      stack.edge.hlsUrl(stream, segment.name),
    ]);
    const frames = Number(stdout.trim().split('\n')[0]);
    const expected = (segment.durationMs / 1000) * 30;
    assert.ok(Math.abs(frames - expected) <= 2, `${segment.name}: ${frames} frames, ~${expected}`);
  }
  const errorLog = await readFile(path.join(stack.edge.prefix, 'logs', 'error.log'), 'utf8');
  assert.doesNotMatch(errorLog, /hls:|auto_push|exec:/, errorLog);
  const agentLog = await readFile(path.join(stack.edge.prefix, 'logs', 'agent.log'), 'utf8');
  assert.equal(agentLog.match(/"msg":"started"/g)?.length, 1, agentLog);
  // The agent runs as the worker's user (www-data on an edge VM).
  const uid = async (pid: number): Promise<string> =>
    /^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
  assert.equal(await uid(agents[0]?.pid ?? 0), await uid(workers[0] ?? 0));
});

test('a stream name the agent refuses is logged once, and the agent waits for its end', async () => {
  // Only the origin's names reach an edge, but the name comes from RTMP: published straight to
  // the edge (with the secret), a name with a dot still gets nginx-rtmp's HLS folder.
  const bad = publishQuadrants(`${stack.edge.ingestUrl}/bad.name?secret=${EDGE_SECRET}`, [
    'red',
    'red',
    'red',
    'red',
  ]);
  try {
    const log = path.join(stack.edge.prefix, 'logs', 'agent.log');
    const deadline = Date.now() + 20_000;
    let refusals: string[] = [];
    while (refusals.length === 0 && Date.now() < deadline) {
      refusals = (await readFile(log, 'utf8'))
        .split('\n')
        .filter((line) => line.includes('"not starting"'));
      await sleep(100);
    }
    assert.equal(refusals.length, 1, 'logged');
    assert.match(refusals[0] ?? '', /stream name must match/);
    const refused = (await agentProcesses(stack.edge.prefix)).find(
      (agent) => agent.stream === 'bad.name',
    );
    assert.ok(refused !== undefined, 'the agent stays, idle');
    // nginx-rtmp would restart an agent that exits, once a second: it has not.
    await waitForText(
      stack.edge.hlsUrl(stream, 'live.m3u8'),
      (text) => readPlaylist(text).segments.length >= 3,
      10_000,
    );
    const later = (await agentProcesses(stack.edge.prefix)).find(
      (agent) => agent.stream === 'bad.name',
    );
    assert.equal(later?.pid, refused.pid);
    const folder: string[] = await readdir(path.join(stack.edge.prefix, 'hls', 'bad.name')).catch(
      () => [],
    );
    assert.ok(!folder.includes('live.m3u8'));
    assert.equal((await get(`${stack.edge.httpUrl}/hls/bad.name/index.m3u8`)).status, 404);
  } finally {
    await bad.stop();
  }
});
