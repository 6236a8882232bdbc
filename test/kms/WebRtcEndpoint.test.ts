import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningEngine } from '../../kms/src/Engine.js';
import { RawClient, eventValue, isEvent, startTestEngine, type Json } from './helpers.js';

let engine: RunningEngine;

before(async () => {
  engine = await startTestEngine();
});

after(async () => {
  await engine.close();
});

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';

async function endpoint(raw: RawClient): Promise<{ pipeline: string; id: string }> {
  const pipeline = (await raw.ok('create', { type: 'MediaPipeline' })).value as string;
  const id = (
    await raw.ok('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipeline, recvonly: false },
    })
  ).value as string;
  return { pipeline, id };
}

function codeOf(response: Json): number {
  return (response.error as { code: number }).code;
}

test('SDP steps in the wrong order fail with 40202, 40203, 40208, 40209, 40210 and 40201', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await endpoint(raw);
  assert.equal(
    codeOf(await raw.call('invoke', { object: id, operation: 'getLocalSessionDescriptor' })),
    40202,
  );
  assert.equal(
    codeOf(await raw.call('invoke', { object: id, operation: 'getRemoteSessionDescriptor' })),
    40203,
  );
  assert.equal(
    codeOf(
      await raw.call('invoke', {
        object: id,
        operation: 'processAnswer',
        operationParams: { answer: OFFER },
      }),
    ),
    40209,
  );
  assert.equal(
    codeOf(
      await raw.call('invoke', {
        object: id,
        operation: 'processOffer',
        operationParams: { offer: '' },
      }),
    ),
    40201,
  );

  const offer = (
    await raw.ok('invoke', { object: id, operation: 'generateOffer', operationParams: {} })
  ).value as string;
  assert.match(offer, /^v=0/);
  assert.equal(codeOf(await raw.call('invoke', { object: id, operation: 'generateOffer' })), 40208);
  assert.equal(
    codeOf(
      await raw.call('invoke', {
        object: id,
        operation: 'processOffer',
        operationParams: { offer: OFFER },
      }),
    ),
    40208,
  );
  await raw.ok('subscribe', { object: id, type: 'MediaSessionStarted' });
  const local = await raw.ok('invoke', {
    object: id,
    operation: 'processAnswer',
    operationParams: { answer: OFFER },
  });
  assert.equal(local.value, offer);
  await raw.waitEvent(isEvent('MediaSessionStarted', id));
  assert.equal(
    codeOf(
      await raw.call('invoke', {
        object: id,
        operation: 'processAnswer',
        operationParams: { answer: OFFER },
      }),
    ),
    40210,
  );
  assert.equal(
    (await raw.ok('invoke', { object: id, operation: 'getRemoteSessionDescriptor' })).value,
    OFFER,
  );
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('processOffer returns the answer once; a worker SDP failure maps to 40205', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await endpoint(raw);
  assert.equal(
    codeOf(
      await raw.call('invoke', {
        object: id,
        operation: 'processOffer',
        operationParams: { offer: 'garbage' },
      }),
    ),
    40205,
  );
  const answer = (
    await raw.ok('invoke', {
      object: id,
      operation: 'processOffer',
      operationParams: { offer: OFFER },
    })
  ).value as string;
  assert.match(answer, /^v=0/);
  assert.equal(
    (await raw.ok('invoke', { object: id, operation: 'getLocalSessionDescriptor' })).value,
    answer,
  );
  assert.equal(
    codeOf(
      await raw.call('invoke', {
        object: id,
        operation: 'processOffer',
        operationParams: { offer: OFFER },
      }),
    ),
    40208,
  );
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('gatherCandidates raises IceCandidateFound with an IceCandidate, ICE states, pair, flow and media state', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await endpoint(raw);
  for (const type of [
    'IceCandidateFound',
    'IceGatheringDone',
    'IceComponentStateChanged',
    'NewCandidatePairSelected',
    'ConnectionStateChanged',
    'MediaStateChanged',
    'MediaFlowOutStateChanged',
    'MediaFlowInStateChanged',
  ]) {
    await raw.ok('subscribe', { object: id, type });
  }
  await raw.ok('invoke', {
    object: id,
    operation: 'processOffer',
    operationParams: { offer: OFFER },
  });
  assert.equal((await raw.ok('invoke', { object: id, operation: 'gatherCandidates' })).value, null);
  const found = eventValue(await raw.waitEvent(isEvent('IceCandidateFound', id)));
  assert.deepEqual(Object.keys(found.data.candidate as Json).sort(), [
    '__module__',
    '__type__',
    'candidate',
    'sdpMLineIndex',
    'sdpMid',
  ]);
  assert.equal((found.data.candidate as Json).__type__, 'IceCandidate');
  await raw.waitEvent(isEvent('IceGatheringDone', id));
  const component = eventValue(await raw.waitEvent(isEvent('IceComponentStateChanged', id)));
  assert.equal(typeof component.data.streamId, 'number');
  const pair = eventValue(await raw.waitEvent(isEvent('NewCandidatePairSelected', id)));
  assert.equal((pair.data.candidatePair as Json).__type__, 'IceCandidatePair');
  assert.equal(typeof (pair.data.candidatePair as Json).streamId, 'string');
  const connection = eventValue(await raw.waitEvent(isEvent('ConnectionStateChanged', id)));
  assert.deepEqual(
    [connection.data.oldState, connection.data.newState],
    ['DISCONNECTED', 'CONNECTED'],
  );
  const flow = eventValue(await raw.waitEvent(isEvent('MediaFlowOutStateChanged', id)));
  assert.deepEqual(
    [flow.data.state, flow.data.mediaType, flow.data.padName],
    ['FLOWING', 'VIDEO', 'default'],
  );
  const media = eventValue(await raw.waitEvent(isEvent('MediaStateChanged', id)));
  assert.equal(media.data.newState, 'CONNECTED');
  assert.equal(
    (
      await raw.ok('invoke', {
        object: id,
        operation: 'isMediaFlowingOut',
        operationParams: { mediaType: 'VIDEO' },
      })
    ).value,
    true,
  );
  assert.equal(
    (await raw.ok('invoke', { object: id, operation: 'getMediaState' })).value,
    'CONNECTED',
  );
  assert.equal(
    ((await raw.ok('invoke', { object: id, operation: 'getICECandidatePairs' })).value as Json[])
      .length,
    1,
  );
  assert.equal((await raw.ok('invoke', { object: id, operation: 'requestKeyframe' })).value, null);
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('addIceCandidate ignores an empty candidate, queues early ones and maps rejection to 40401', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await endpoint(raw);
  const candidate = (text: string): Json => ({
    candidate: { candidate: text, sdpMid: '0', sdpMLineIndex: 0 },
  });
  // Before the remote description: queued, so even a bad one is not rejected yet.
  assert.equal(
    (
      await raw.ok('invoke', {
        object: id,
        operation: 'addIceCandidate',
        operationParams: candidate('candidate:1 1 UDP 1 127.0.0.1 5000 typ host'),
      })
    ).value,
    null,
  );
  assert.equal(
    (
      await raw.ok('invoke', {
        object: id,
        operation: 'addIceCandidate',
        operationParams: candidate(''),
      })
    ).value,
    null,
  );
  await raw.ok('invoke', {
    object: id,
    operation: 'processOffer',
    operationParams: { offer: OFFER },
  });
  const bad = await raw.call('invoke', {
    object: id,
    operation: 'addIceCandidate',
    operationParams: candidate('nonsense'),
  });
  assert.equal(codeOf(bad), 40401);
  const missing = await raw.call('invoke', {
    object: id,
    operation: 'addIceCandidate',
    operationParams: { candidate: { sdpMid: '0' } },
  });
  assert.equal(codeOf(missing), 40001);
  await raw.ok('release', { object: pipeline });
  await raw.close();
});

test('data channel operations are refused with 40111 when data channels are not enabled', async () => {
  const raw = await RawClient.open(engine.url);
  const { pipeline, id } = await endpoint(raw);
  assert.equal(
    codeOf(
      await raw.call('invoke', { object: id, operation: 'createDataChannel', operationParams: {} }),
    ),
    40111,
  );
  await raw.ok('release', { object: pipeline });
  await raw.close();
});
