import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectKurento } from '../helpers/kurento.js';
import {
  REAL_WORKER,
  RawClient,
  eventValue,
  isEvent,
  startTestEngine,
  waitUntil,
  workerProcesses,
  type Json,
} from './helpers.js';

test("kill -9 of one pipeline's worker raises Error events on its objects while another pipeline keeps working", async () => {
  const engine = await startTestEngine();
  const raw = await RawClient.open(engine.url);
  const spawned: number[] = [];
  try {
    const doomed = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
    const doomedPids = engine.workerPids();
    assert.equal(doomedPids.length, 1);
    const doomedEndpoint = (
      await raw.ok('create', {
        type: 'WebRtcEndpoint',
        constructorParams: { mediaPipeline: doomed },
      })
    ).value as string;
    const healthy = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
    const healthyEndpoint = (
      await raw.ok('create', {
        type: 'WebRtcEndpoint',
        constructorParams: { mediaPipeline: healthy },
      })
    ).value as string;
    assert.equal(engine.workerPids().length, 2);
    spawned.push(...engine.workerPids());
    await raw.ok('subscribe', { object: doomed, type: 'Error' });
    await raw.ok('subscribe', { object: doomedEndpoint, type: 'Error' });
    await raw.ok('subscribe', { object: healthyEndpoint, type: 'Error' });

    process.kill(doomedPids[0] ?? 0, 'SIGKILL');
    const pipelineError = eventValue(await raw.waitEvent(isEvent('Error', doomed)));
    assert.equal(pipelineError.data.type, 'UNEXPECTED_PIPELINE_ERROR');
    const elementError = eventValue(await raw.waitEvent(isEvent('Error', doomedEndpoint)));
    assert.equal(elementError.data.type, 'UNEXPECTED_ELEMENT_ERROR');
    assert.equal(typeof elementError.data.description, 'string');

    // The dead pipeline answers with an error; the healthy one still works end to end.
    const dead = await raw.call('invoke', {
      object: doomedEndpoint,
      operation: 'generateOffer',
      operationParams: {},
    });
    assert.equal((dead.error as Json).code, -32603);
    const offer = await raw.ok('invoke', {
      object: healthyEndpoint,
      operation: 'generateOffer',
      operationParams: {},
    });
    assert.match(offer.value as string, /^v=0/);
    const dot = await raw.ok('invoke', { object: healthy, operation: 'getGstreamerDot' });
    assert.equal(typeof dot.value, 'string');
    await raw.settle();
    assert.equal(raw.events.filter(isEvent('Error', healthyEndpoint)).length, 0);

    await raw.ok('release', { object: doomed });
    await raw.ok('release', { object: healthy });
    assert.deepEqual(engine.workerPids(), []);
    await waitUntil(
      'the healthy worker to exit after its pipeline was released',
      () => workerProcesses(REAL_WORKER).filter((pid) => spawned.includes(pid)).length === 0,
    );
  } finally {
    await raw.close();
    await engine.close();
  }
  // Other test files (and other engineers) may run workers concurrently, so
  // only this engine's worker pids are looked up in /proc.
  assert.ok(spawned.length === 2);
  assert.deepEqual(
    workerProcesses(REAL_WORKER).filter((pid) => spawned.includes(pid)),
    [],
  );
});

test('engine close() ends every worker, warm ones included, even when pipelines were never released', async () => {
  const engine = await startTestEngine();
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  await pipeline.create('WebRtcEndpoint');
  await client.create('MediaPipeline');
  const pids = engine.workerPids();
  assert.equal(pids.length, 2);
  // The warm pool (KMS_WARM_WORKERS, 1 by default) refills behind the two creates.
  await waitUntil('the warm pool to refill', () => engine.warmWorkerPids().length === 1, 30_000);
  const warm = engine.warmWorkerPids();
  client.close();
  await engine.close();
  for (const pid of [...pids, ...warm])
    assert.throws(() => process.kill(pid, 0), `worker ${pid} is still running`);
});

test('a hung pipeline worker is killed after KMS_WORKER_REQUEST_TIMEOUT_MS: the call fails, the pipeline raises Error, another pipeline keeps working', async () => {
  const engine = await startTestEngine({ workerRequestTimeoutMs: 2000, warmWorkers: 0 });
  const client = await connectKurento(engine.url);
  try {
    const hung = await client.create('MediaPipeline');
    const [pid] = engine.workerPids();
    assert.ok(pid !== undefined);
    await hung.create('WebRtcEndpoint');
    const healthy = await client.create('MediaPipeline');
    const pipelineError = new Promise<{ type: string; description: string }>((resolve) => {
      void hung.on('Error', resolve);
    });
    // A stopped process never answers, as a deadlocked worker would not.
    process.kill(pid, 'SIGSTOP');
    const startedAt = Date.now();
    // With a callback: in promise form kurento-client logs a method's error and resolves
    // undefined (its default callback swallows the error).
    const withCallback = hung as unknown as {
      getGstreamerDot(callback: (error: Error | undefined, dot: string) => void): void;
    };
    const dot = new Promise<string>((resolve, reject) => {
      withCallback.getGstreamerDot((error, value) => (error ? reject(error) : resolve(value)));
    });
    await assert.rejects(dot, (error: unknown) => {
      const { code, message } = error as { code?: number; message?: string };
      assert.equal(code, -32603, String(message));
      assert.match(message ?? '', /did not answer within 2000 ms/);
      return true;
    });
    assert.ok(Date.now() - startedAt >= 1900, 'the call waited for the timeout');
    const event = await pipelineError;
    assert.equal(event.type, 'UNEXPECTED_PIPELINE_ERROR');
    await waitUntil('the hung worker to be killed', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    // The rest of the engine never waited on it.
    const offer = await (await healthy.create('WebRtcEndpoint')).generateOffer();
    assert.match(offer, /^v=0/);
    await hung.release();
    await healthy.release();
  } finally {
    client.close();
    await engine.close();
  }
});
