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
