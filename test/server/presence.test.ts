/**
 * Viewer presence at whole-school scale: hundreds of real socket.io viewer connections join and
 * leave an assembly on the real app server. Viewers are counted, not announced: the crew hears
 * of each camera and crew member, and of viewers only through `viewers:count`, at most once a
 * second; another viewer gets the same count; a camera gets none. Meanwhile /healthz keeps
 * answering. Before aggregation every join and leave went to the whole room, twice, so the
 * events grew with the square of the audience (3.9 M for 2,000 viewers).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'socket.io-client';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type {
  ClientToServerEvents,
  ServerToClientEvents,
  WelcomeWire,
} from '../../server/signaling/events.js';
import { connectPage, welcomed } from '../e2e/drivers.js';
import { createAssembly, setup } from './appHelpers.js';

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const VIEWERS = 300;
/** Connections opened at once: enough to be a crowd, few enough not to time out a busy box. */
const BATCH = 50;
/** Generous: a loaded 2-core machine answers /healthz in milliseconds when nothing is O(n²). */
const HEALTHZ_BOUND_MS = 2000;

/** Every server event a socket received, by name, with the time it arrived. */
class EventLog {
  readonly counts = new Map<string, number>();
  readonly viewerCounts: number[] = [];

  constructor(socket: ClientSocket) {
    socket.onAny((event: string, ...args: unknown[]) => {
      this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
      if (event === 'viewers:count') {
        this.viewerCounts.push((args[0] as { count: number }).count);
      }
    });
  }

  count(event: string): number {
    return this.counts.get(event) ?? 0;
  }

  get lastViewerCount(): number | undefined {
    return this.viewerCounts.at(-1);
  }
}

/** A bound that a busy machine meets: hundreds of handshakes arrive at once here. */
const WELCOME_MS = 30_000;

async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

/** Asks /healthz every 100 ms until stopped; resolves with every answer's status and time. */
function pollHealth(url: string): { stop(): Promise<{ status: number; ms: number }[]> } {
  const answers: { status: number; ms: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) });
      await response.arrayBuffer();
      answers.push({ status: response.status, ms: performance.now() - started });
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return answers;
    },
  };
}

test(`${VIEWERS} viewers join and leave: the crew gets counts once a second, not an event per viewer`, async (t) => {
  const running = await setup();
  const sockets: ClientSocket[] = [];
  t.after(async () => {
    for (const socket of sockets) socket.close();
    await running.teardown();
  });
  const created = await createAssembly(running, 'Whole school');
  const assembly = parseAssemblyId(created.id);
  const sign = (role: 'viewer' | 'camera') =>
    running.app.core.tokens.sign({ assembly, role, ttlSeconds: 600 });

  const moderator = connectPage(running.url, { token: created.moderatorToken, assembly });
  sockets.push(moderator);
  const crewLog = new EventLog(moderator);
  await welcomed(moderator, WELCOME_MS);
  const camera = connectPage(running.url, { token: sign('camera'), assembly });
  sockets.push(camera);
  const cameraLog = new EventLog(camera);
  await welcomed(camera, WELCOME_MS);
  await until('the crew heard of the camera', () => crewLog.count('participant:joined') === 1);
  const observer = connectPage(running.url, { token: sign('viewer'), assembly });
  sockets.push(observer);
  const observerLog = new EventLog(observer);
  await welcomed(observer, WELCOME_MS);
  await until('the crew counted the first viewer', () => crewLog.lastViewerCount === 1);

  const health = pollHealth(running.url);
  const started = performance.now();
  // One viewer token serves them all, as one invite link does for a whole school.
  const viewerToken = sign('viewer');
  const crowd: ClientSocket[] = [];
  let lastWelcome: WelcomeWire | undefined;
  for (let i = 0; i < VIEWERS; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, VIEWERS - i) }, () =>
      connectPage(running.url, { token: viewerToken, assembly }),
    );
    sockets.push(...batch);
    crowd.push(...batch);
    const welcomes = await Promise.all(batch.map((socket) => welcomed(socket, WELCOME_MS)));
    lastWelcome = welcomes.at(-1);
  }
  await until(
    'the crew counted every viewer',
    () => crewLog.lastViewerCount === VIEWERS + 1,
    10_000,
  );
  await until(
    'the observer counted every viewer',
    () => observerLog.lastViewerCount === VIEWERS + 1,
  );
  assert.equal(running.app.core.metrics.viewers.get({ assembly: created.id }), VIEWERS + 1);

  // The last viewer's welcome counts the crowd but lists only the camera and the crew.
  assert.ok(lastWelcome !== undefined);
  assert.ok(lastWelcome.viewers >= VIEWERS, `welcome.viewers = ${lastWelcome.viewers}`);
  assert.deepEqual(lastWelcome.participants.map((p) => p.role).sort(), ['camera', 'moderator']);
  const presence = (await moderator.timeout(5000).emitWithAck('presence:list', {})) as {
    ok: boolean;
    data: { role: string }[];
  };
  assert.deepEqual(presence.data.map((p) => p.role).sort(), ['camera', 'moderator']);

  for (const socket of crowd) socket.close();
  await until('the crew counted every viewer leaving', () => crewLog.lastViewerCount === 1);
  await until('the observer counted every viewer leaving', () => observerLog.lastViewerCount === 1);
  const seconds = (performance.now() - started) / 1000;
  const answers = await health.stop();
  assert.equal(running.app.core.metrics.viewers.get({ assembly: created.id }), 1);

  // Viewers are never announced one by one, to anyone.
  assert.equal(crewLog.count('participant:joined'), 1, 'only the camera was announced');
  assert.equal(crewLog.count('participant:left'), 0);
  assert.equal(observerLog.count('participant:joined'), 0);
  assert.equal(observerLog.count('participant:left'), 0);
  assert.equal(cameraLog.count('participant:joined'), 0, 'cameras hear of nobody');
  assert.equal(cameraLog.count('viewers:count'), 0, 'cameras show no count');
  // At most one count a second (and one more for the count before the crowd came): 600 joins
  // and leaves cost a handful of messages, not 600 per connection.
  const bound = Math.ceil(seconds) + 2;
  for (const [who, log] of [
    ['crew', crewLog],
    ['observer', observerLog],
  ] as const) {
    const counts = log.count('viewers:count');
    assert.ok(counts >= 2, `${who} got ${counts} counts`);
    assert.ok(counts <= bound, `${who} got ${counts} counts in ${seconds.toFixed(1)} s`);
    const total = [...log.counts.values()].reduce((sum, n) => sum + n, 0);
    assert.ok(total <= bound + 5, `${who} got ${total} events in all`);
    for (let i = 1; i < log.viewerCounts.length; i++) {
      assert.notEqual(log.viewerCounts[i], log.viewerCounts[i - 1], 'only changed counts are sent');
    }
  }

  assert.ok(answers.length >= 3, `/healthz answered ${answers.length} times`);
  for (const answer of answers) assert.equal(answer.status, 200);
  const slowest = Math.max(...answers.map((answer) => answer.ms));
  assert.ok(
    slowest < HEALTHZ_BOUND_MS,
    `/healthz took up to ${slowest.toFixed(0)} ms while ${VIEWERS} viewers came and went`,
  );
  t.diagnostic(
    `${VIEWERS} viewers joined and left in ${seconds.toFixed(1)} s; crew got ` +
      `${crewLog.count('viewers:count')} counts; /healthz slowest ${slowest.toFixed(0)} ms ` +
      `over ${answers.length} answers`,
  );
});
