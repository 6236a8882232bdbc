/**
 * Admission under a burst (issue 10): 200 sessions each create a MediaPipeline at the same
 * moment while another session pings. Every create is answered, with its pipeline or with
 * 40009 NOT_ENOUGH_RESOURCES naming the limit it hit, promptly; the engine keeps answering
 * ping within 100 ms (p99) throughout; and once everything is released only the warm workers
 * remain. The engine runs as its own process with its default settings, as `npm run kms` runs
 * it, and the pings come from a thread of their own (pingerThread.ts).
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { Worker as Thread } from 'node:worker_threads';
import { startEngineProcess, workerPids } from '../helpers/engineProcess.js';
import { RawClient, waitUntil, type Json } from './helpers.js';

const SESSIONS = 200;
/** KMS_WARM_WORKERS's default. */
const WARM = 1;
/** The engine's queue waits 750 ms (KMS_PIPELINE_QUEUE_MS); the rest is a loaded machine's slack. */
const REFUSED_WITHIN_MS = 2000;
/**
 * A create that a worker start reaches waits for that start, which takes up to a second on two
 * busy cores; the engine gives up on a start after 10 s.
 */
const CREATED_WITHIN_MS = 10_000;

type PingerMessage =
  | { type: 'ready' }
  | { type: 'result'; roundTrips: number[]; sentOffsets: number[] }
  | { type: 'error'; message: string };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

test('200 sessions creating a pipeline at once all get an answer promptly, ping p99 stays under 100 ms, and nothing but the warm pool stays behind', async () => {
  // The clients time the engine's answers, so their thread must not wait for a core behind the
  // machine's other programs either: the engine's protocol priority, where allowed (root).
  try {
    os.setPriority(os.getPriority() - 5);
  } catch {
    // Not permitted: the times then include this thread's own waits for a core.
  }
  const engine = await startEngineProcess();
  const clients: RawClient[] = [];
  let warmPids: number[] = [];
  let pinger: Thread | undefined;
  try {
    await waitUntil(
      'the warm worker to start',
      async () => (await workerPids(engine.pid)).length === WARM,
      30_000,
    );
    for (let i = 0; i < SESSIONS; i += 1) clients.push(await RawClient.open(engine.url));
    const pingerMessages: PingerMessage[] = [];
    pinger = new Thread(new URL('./pingerThread.js', import.meta.url), {
      workerData: { url: engine.url },
    });
    const thread = pinger;
    const pingerDone = new Promise<{ roundTrips: number[]; sentOffsets: number[] }>(
      (resolve, reject) => {
        thread.on('message', (message: PingerMessage) => {
          pingerMessages.push(message);
          if (message.type === 'result') resolve(message);
          if (message.type === 'error') reject(new Error(`pinger: ${message.message}`));
        });
        thread.once('error', reject);
      },
    );
    await waitUntil('the pinger to get its first pong', () => pingerMessages.length > 0, 10_000);
    thread.postMessage('start');

    const answers = await Promise.all(
      clients.map(async (client) => {
        const sent = performance.now();
        const reply = await Promise.race([
          client.call('create', { type: 'MediaPipeline' }),
          new Promise<Json>((resolve) => setTimeout(() => resolve({ unanswered: true }), 60_000)),
        ]);
        return { client, reply, ms: performance.now() - sent };
      }),
    );
    const created = answers.filter((answer) => answer.reply.result !== undefined);
    const refused = answers.filter((answer) => answer.reply.error !== undefined);
    assert.equal(created.length + refused.length, SESSIONS, 'every create is answered');
    assert.ok(created.length >= 1, 'the warm worker, at least, becomes a pipeline');
    // The default KMS_MAX_PIPELINES (100) refuses half of them whatever the machine's speed.
    assert.ok(refused.length >= SESSIONS - 100, `${refused.length} refused`);
    for (const { reply } of refused) {
      const error = reply.error as { code: number; message: string };
      assert.equal(error.code, 40009, error.message);
      assert.match(error.message, /\((KMS_MAX_PIPELINES|KMS_PIPELINE_QUEUE_MS)\)/);
    }
    const slowestRefusal = Math.max(...refused.map((answer) => answer.ms));
    assert.ok(slowestRefusal < REFUSED_WITHIN_MS, `a refusal came after ${slowestRefusal} ms`);
    const slowestCreate = Math.max(...created.map((answer) => answer.ms));
    assert.ok(slowestCreate < CREATED_WITHIN_MS, `a create took ${slowestCreate} ms`);

    for (const { client, reply } of created)
      await client.ok('release', { object: (reply.result as Json).value as string });
    // The pings go on while the released workers exit and the warm pool refills.
    await waitUntil(
      'only the warm pool to remain',
      async () => (await workerPids(engine.pid)).length === WARM,
      30_000,
    );
    thread.postMessage('stop');
    const { roundTrips, sentOffsets } = await pingerDone;
    // The slowest pings and when they were sent (ms after the burst), for a failure's message.
    const slowest = roundTrips
      .map((ms, i) => `${ms.toFixed(0)} ms at +${(sentOffsets[i] ?? 0).toFixed(0)}`)
      .filter((_, i) => (roundTrips[i] ?? 0) >= 50)
      .join(', ');
    const createsDoneAt = Math.max(...answers.map((answer) => answer.ms));
    assert.ok(roundTrips.length >= 20, `${roundTrips.length} pings`);
    const p99 = percentile(roundTrips, 0.99);
    assert.ok(
      p99 < 100,
      `ping p99 ${p99.toFixed(1)} ms over ${roundTrips.length} pings (p50 ${percentile(roundTrips, 0.5).toFixed(1)}); ` +
        `pings of 50 ms or more: ${slowest}; every create answered by +${createsDoneAt.toFixed(0)}`,
    );

    const pipelines = (
      await clients[0]?.ok('invoke', { object: 'manager_ServerManager', operation: 'getPipelines' })
    )?.value as string[];
    assert.deepEqual(pipelines, []);
    await waitUntil(
      'only the warm pool to remain',
      async () => (await workerPids(engine.pid)).length === WARM,
      30_000,
    );
    warmPids = await workerPids(engine.pid);
  } finally {
    await pinger?.terminate();
    await Promise.all(clients.map((client) => client.close()));
    await engine.stop();
  }
  for (const pid of warmPids)
    assert.throws(() => process.kill(pid, 0), `warm worker ${pid} outlived the engine`);
});
