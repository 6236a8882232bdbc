import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import kurento from 'kurento-client';
import type { Browser } from 'playwright-core';
import { BrowserPeer, QUADRANT_CENTRES, type CandidateInit } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import {
  classify,
  makeQuadrantClip,
  makeQuadrantY4m,
  mediaDir,
  type Quadrants,
} from '../helpers/media.js';
import { negotiate } from '../helpers/negotiate.js';

// Quadrant colours that no fake-camera default and no black screen could produce by chance.
const CAMERA: Quadrants = ['red', 'green', 'blue', 'yellow'];
const CLIP: Quadrants = ['blue', 'white', 'red', 'green'];

let engine: EngineProcess;
let browser: Browser;
let clip: string;

before(async () => {
  const dir = await mediaDir();
  const camera = await makeQuadrantY4m(path.join(dir, 'camera.y4m'), CAMERA);
  clip = await makeQuadrantClip(path.join(dir, 'clip.webm'), CLIP, {
    seconds: 30,
    container: 'webm',
  });
  engine = await startEngineProcess();
  browser = await launchChromium({ fakeVideoFile: camera });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

/**
 * Calls a kurento-client method with a callback: with none, kurento-client's SdpEndpoint methods
 * log a failure and resolve with undefined instead of rejecting.
 */
function call(target: unknown, method: string, ...args: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const object = target as Record<string, (...a: unknown[]) => void>;
    const fn = object[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    fn.call(object, ...args, (error?: Error, value?: unknown) =>
      error ? reject(error) : resolve(value),
    );
  });
}

/** The m= lines of an SDP, in order. */
function mLines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((line) => line.startsWith('m='));
}

function portOf(mLine: string): number {
  return Number(mLine.split(' ')[1]);
}

/** Media sections of an SDP, each as its lines. */
function sections(sdp: string): string[][] {
  return sdp
    .split(/\r?\n/)
    .join('\n')
    .split(/^(?=m=)/m)
    .slice(1)
    .map((section) => section.split('\n').filter((line) => line !== ''));
}

async function expectPicture(peer: BrowserPeer, expected: Quadrants): Promise<void> {
  await peer.waitForFrames(30, 20_000);
  // Sample a few times: the first decoded frames can still be the encoder's warm-up.
  let colours: string[] = [];
  for (let attempt = 0; attempt < 20; attempt += 1) {
    colours = (await peer.sample(QUADRANT_CENTRES)).map(classify);
    if (colours.join() === expected.join()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(colours, [...expected], 'the received picture has the expected quadrants');
}

test('an offer with an unsupported audio codec and an unsupported second video m-line is answered with those m-lines at port 0, and the VP8 video flows', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const endpoint = await pipeline.create('WebRtcEndpoint');
    await endpoint.connect(endpoint);
    const peer = await BrowserPeer.open(browser);
    let answer = '';
    let offered = '';
    const wrapped = {
      processOffer: async (offer: string): Promise<string> => {
        offered = offer;
        assert.deepEqual(
          mLines(offer).map((line) => line.split(' ')[0]),
          ['m=audio', 'm=video', 'm=video'],
          'the browser offers audio, the camera video and a second video',
        );
        answer = await endpoint.processOffer(offer);
        return answer;
      },
      gatherCandidates: () => endpoint.gatherCandidates(),
      addIceCandidate: (candidate: unknown) =>
        endpoint.addIceCandidate(candidate as kurento.IceCandidate),
      on: endpoint.on.bind(endpoint),
    };
    await negotiate(wrapped, peer, {
      send: true,
      videoCodec: 'VP8',
      audioCodec: 'PCMU',
      extraVideoCodec: 'VP9',
    });
    const lines = mLines(answer);
    assert.equal(lines.length, 3, 'one answer m-line per offered m-line');
    assert.equal(portOf(lines[0] ?? ''), 0, `PCMU-only audio is rejected: ${lines[0]}`);
    assert.notEqual(portOf(lines[1] ?? ''), 0, `VP8 video is accepted: ${lines[1]}`);
    assert.match(answer, /a=rtpmap:\d+ VP8\/90000/);
    assert.equal(portOf(lines[2] ?? ''), 0, `VP9-only video is rejected: ${lines[2]}`);
    // As Kurento: the audio handler found no codec and lists the offer's first format; the
    // second video m-line had no handler at all and keeps every offered format.
    const formats = (line: string): string[] => line.split(' ').slice(3);
    const offeredLines = mLines(offered);
    assert.deepEqual(formats(lines[0] ?? ''), formats(offeredLines[0] ?? '').slice(0, 1));
    assert.deepEqual(formats(lines[2] ?? ''), formats(offeredLines[2] ?? ''));
    const group = /^a=group:BUNDLE (.*)$/m.exec(answer)?.[1]?.trim().split(' ') ?? [];
    assert.equal(group.length, 1, 'only the accepted m-line stays in the BUNDLE group');
    await expectPicture(peer, CAMERA);
    await peer.close();
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('an offer with no codec the engine supports gets an answer rejecting every m-line, which the browser accepts', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const endpoint = await pipeline.create('WebRtcEndpoint');
    const peer = await BrowserPeer.open(browser);
    const offer = await peer.createOffer({ send: false, audioCodec: 'PCMU', videoCodec: 'H264' });
    // Offer H.264 without packetization-mode=1 only: the engine takes none of it.
    const unusable = offer.replace(/packetization-mode=1/g, 'packetization-mode=0');
    const answer = await endpoint.processOffer(unusable);
    const lines = mLines(answer);
    assert.equal(lines.length, 2);
    for (const line of lines) assert.equal(portOf(line), 0, line);
    await peer.setAnswer(answer);
    assert.equal(await peer.signalingState(), 'stable');
    assert.equal(await endpoint.getLocalSessionDescriptor(), answer);
    await peer.close();
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('generateOffer on a fresh endpoint answers at once; the browser answers, processAnswer completes it and the player picture arrives; both descriptors are what Kurento returns', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const endpoint = await pipeline.create('WebRtcEndpoint');
    const started = Date.now();
    const offer = await endpoint.generateOffer();
    const offerMs = Date.now() - started;
    // Generous: the machine is shared; a stalled generateOffer took the client's 20 s before.
    assert.ok(offerMs < 10_000, `generateOffer took ${offerMs} ms`);
    assert.match(offer, /^v=0\r\n/);
    assert.match(offer, /^a=fingerprint:sha-256 /m);
    assert.deepEqual(
      mLines(offer).map((line) => line.split(' ')[0]),
      ['m=audio', 'm=video'],
    );
    assert.equal(await endpoint.getLocalSessionDescriptor(), offer);
    await assert.rejects(call(endpoint, 'getRemoteSessionDescriptor'), {
      code: 40203,
      message: 'No remote SDP',
    });
    await player.connect(endpoint);

    const peer = await BrowserPeer.open(browser);
    const makeCandidate = kurento.getComplexType('IceCandidate');
    const fromBrowser: CandidateInit[] = [];
    let answered = false;
    peer.onCandidate((candidate) => {
      if (answered) void endpoint.addIceCandidate(makeCandidate(candidate));
      else fromBrowser.push(candidate);
    });
    const localCandidates: string[] = [];
    const gathered = new Promise<void>((resolve) => {
      endpoint.on('IceGatheringDone', () => resolve());
    });
    endpoint.on('IceCandidateFound', (event: { candidate: CandidateInit }) => {
      localCandidates.push(event.candidate.candidate);
      void peer.addCandidate(event.candidate);
    });
    const answer = await peer.answer(offer);
    assert.equal(await endpoint.processAnswer(answer), offer, 'processAnswer returns the offer');
    answered = true;
    for (const candidate of fromBrowser.splice(0)) {
      await endpoint.addIceCandidate(makeCandidate(candidate));
    }
    await endpoint.gatherCandidates();
    await player.play();
    await expectPicture(peer, CLIP);
    await gathered;

    // Kurento's local description: the offer, plus every local candidate in each accepted
    // m-line and the default candidate's address in the m= and c= lines.
    const local = await endpoint.getLocalSessionDescriptor();
    assert.ok(localCandidates.length > 0);
    const audio = sections(local)[0] ?? [];
    for (const candidate of localCandidates) {
      assert.ok(audio.includes(`a=${candidate}`), `local description lacks ${candidate}`);
    }
    assert.notEqual(portOf(audio[0] ?? ''), 9, 'the default candidate port replaces 9');
    assert.ok(
      audio.some((line) => /^c=IN IP[46] (?!0\.0\.0\.0)/.test(line)),
      audio.join('\n'),
    );

    // Kurento's remote description: the answer (re-serialised) plus the remote candidates.
    const remote = await endpoint.getRemoteSessionDescriptor();
    assert.deepEqual(mLines(remote), mLines(answer));
    const remoteCandidates = remote
      .split(/\r?\n/)
      .filter((line) => line.startsWith('a=candidate:'));
    const answerCandidates = answer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
    assert.ok(
      remoteCandidates.length > answerCandidates.length,
      'the remote description gained the candidates the browser trickled',
    );
    await peer.close();
  } finally {
    await pipeline.release();
    client.close();
  }
});

/** The value of the first `a=ice-ufrag:` line of an SDP. */
function ufragOf(sdp: string): string {
  const line = sdp.split(/\r?\n/).find((l) => l.startsWith('a=ice-ufrag:'));
  return line?.slice('a=ice-ufrag:'.length) ?? '';
}

/** Waits until the browser's selected candidate pair uses the given local ICE ufrag. */
async function waitForPairUfrag(peer: BrowserPeer, ufrag: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pair = await peer.selectedPairUfrags();
    if (pair !== null && pair.local === ufrag) return pair;
    if (Date.now() > deadline) {
      throw new Error(`the selected pair is ${JSON.stringify(pair)}, not ufrag ${ufrag}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The browser's re-offer is answered, the answer applied, and the loopback keeps playing. */
async function renegotiate(
  endpoint: kurento.WebRtcEndpoint,
  peer: BrowserPeer,
  offer: string,
): Promise<string> {
  const before = await peer.received();
  const answer = String(await call(endpoint, 'processOffer', offer));
  assert.equal(mLines(answer).length, mLines(offer).length, 'one answer m-line per offered one');
  await peer.setAnswer(answer);
  assert.equal(await peer.signalingState(), 'stable');
  await peer.waitForFrames(before.frames + 60, 30_000);
  await expectPicture(peer, CAMERA);
  return answer;
}

test('a negotiated endpoint answers re-offers (same m-lines, ICE restart, an added track rejected with port 0) and the picture keeps flowing, as it does through an engine re-offer (generateOffer, processAnswer); a direction change is refused with 40205', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const endpoint = await pipeline.create('WebRtcEndpoint');
    await endpoint.connect(endpoint);
    const peer = await BrowserPeer.open(browser);
    const gathered = new Promise<void>((resolve) => {
      endpoint.on('IceGatheringDone', () => resolve());
    });
    // negotiate() keeps relaying candidates both ways, for the later ICE generation too.
    await negotiate(endpoint, peer, { send: true, videoCodec: 'VP8' });
    await expectPicture(peer, CAMERA);
    await gathered;

    // The answerer's descriptors, as Kurento keeps them: the answer with the local candidates
    // and the default address, the browser's offer with the candidates it trickled.
    const local = await endpoint.getLocalSessionDescriptor();
    for (const section of sections(local)) {
      assert.ok(
        section.some((line) => line.startsWith('a=candidate:')),
        section.join('\n'),
      );
      assert.notEqual(portOf(section[0] ?? ''), 9, 'the default candidate port replaces 9');
    }
    const remote = await endpoint.getRemoteSessionDescriptor();
    assert.ok(
      remote.split(/\r?\n/).some((line) => line.startsWith('a=candidate:')),
      'the remote description gained the browser candidates',
    );
    const firstAnswerUfrag = ufragOf(local);

    // 1. Chromium offers again with nothing changed (an app calling createOffer again).
    const same = await peer.reoffer();
    assert.equal(mLines(same).length, 2);
    const sameAnswer = await renegotiate(endpoint, peer, same);
    assert.ok(sections(sameAnswer).every((section) => portOf(section[0] ?? '') !== 0));
    const originOf = (sdp: string) => sdp.split(/\r?\n/).find((line) => line.startsWith('o='));
    assert.equal(originOf(await endpoint.getRemoteSessionDescriptor()), originOf(same));

    // 2. An ICE restart: new credentials on both sides, and the browser's transport moves to
    // a candidate pair of the new generation while the picture keeps arriving.
    const restart = await peer.reoffer({ iceRestart: true });
    const restartUfrag = ufragOf(restart);
    assert.notEqual(restartUfrag, ufragOf(same), 'Chromium restarts ICE');
    const restartAnswer = await renegotiate(endpoint, peer, restart);
    // webrtcbin 1.22 keeps its own credentials (see PROTOCOL.md); the browser's side restarts.
    assert.equal(ufragOf(restartAnswer), firstAnswerUfrag);
    assert.equal(ufragOf(await endpoint.getRemoteSessionDescriptor()), restartUfrag);
    await waitForPairUfrag(peer, restartUfrag, 30_000);
    await expectPicture(peer, CAMERA);

    // 3. A direction change (the browser stops sending its camera: sendrecv -> recvonly) is
    // refused with a clear error, as webrtcbin 1.22 cannot apply it; the browser rolls back and
    // the session goes on as negotiated.
    const recvonly = await peer.reoffer({ videoDirection: 'recvonly' });
    await assert.rejects(call(endpoint, 'processOffer', recvonly), {
      code: 40205,
      message: /m-line 1 of the re-offer would change its direction from sendrecv to sendonly/,
    });
    await peer.rollback();
    // A rollback leaves the transceiver's own direction as the app set it: set it back.
    await peer.reoffer({ videoDirection: 'sendrecv' });
    await peer.rollback();
    const beforeRollback = await peer.received();
    await peer.waitForFrames(beforeRollback.frames + 60, 30_000);
    await expectPicture(peer, CAMERA);

    // 4. The browser adds a second camera track: as in a first offer (Kurento has one video
    // handler), the extra video m-line is answered with port 0 and the first one keeps flowing.
    const added = await peer.reoffer({ addTrack: true });
    assert.equal(mLines(added).length, 3);
    const addedAnswer = await renegotiate(endpoint, peer, added);
    assert.equal(portOf(mLines(addedAnswer)[2] ?? ''), 0, mLines(addedAnswer).join('\n'));
    assert.notEqual(portOf(mLines(addedAnswer)[1] ?? ''), 0);

    // 5. The engine offers again (generateOffer on the negotiated endpoint): the same three
    // m-lines, which the browser answers; processAnswer applies it and the picture goes on.
    const engineOffer = String(await call(endpoint, 'generateOffer'));
    // It continues the session of the engine's last answer: same session id, next version.
    const [, lastId, lastVersion] = (originOf(addedAnswer) ?? '').split(' ');
    const [, offerId, offerVersion] = (originOf(engineOffer) ?? '').split(' ');
    assert.equal(offerId, lastId);
    assert.equal(Number(offerVersion), Number(lastVersion) + 1);
    assert.deepEqual(
      mLines(engineOffer).map((line) => line.split(' ')[0]),
      mLines(added).map((line) => line.split(' ')[0]),
    );
    await assert.rejects(call(endpoint, 'generateOffer'), {
      code: 40208,
      message: 'Endpoint already negotiated',
    });
    const browserAnswer = await peer.answerReoffer(engineOffer);
    const beforeAnswer = await peer.received();
    assert.equal(String(await call(endpoint, 'processAnswer', browserAnswer)), engineOffer);
    assert.equal(await peer.signalingState(), 'stable');
    await peer.waitForFrames(beforeAnswer.frames + 60, 30_000);
    await expectPicture(peer, CAMERA);
    await assert.rejects(call(endpoint, 'processAnswer', browserAnswer), { code: 40210 });
    await peer.close();
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('a re-offer that adds a camera track to an audio-only session is answered with the video m-line accepted, and the looped-back camera appears', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  try {
    const endpoint = await pipeline.create('WebRtcEndpoint');
    await endpoint.connect(endpoint);
    const peer = await BrowserPeer.open(browser);
    const audioFlowing = new Promise<void>((resolve) => {
      endpoint.on('MediaFlowInStateChanged', (event: { state: string; mediaType: string }) => {
        if (event.state === 'FLOWING' && event.mediaType === 'AUDIO') resolve();
      });
    });
    await negotiate(endpoint, peer, { send: true, audioOnly: true });
    const first = await endpoint.getLocalSessionDescriptor();
    assert.deepEqual(
      mLines(first).map((line) => line.split(' ')[0]),
      ['m=audio'],
    );
    // The first negotiation has no video; once the audio flows, the browser adds its camera.
    await audioFlowing;
    assert.equal((await peer.received()).frames, 0);
    const added = await peer.reoffer({ addTrack: true });
    assert.equal(mLines(added).length, 2);
    const answer = await renegotiate(endpoint, peer, added);
    assert.match(mLines(answer)[1] ?? '', /^m=video [1-9]/);
    assert.ok(sections(answer)[1]?.includes('a=sendrecv'), answer);
    await peer.close();
  } finally {
    await pipeline.release();
    client.close();
  }
});

test('with KMS_ICE_ADDRESSES=::1 a WebRtcEndpoint gathers on ::1 only, ICE pairs ::1 with the browser, and the picture loops back', async () => {
  const ipv6Engine = await startEngineProcess({ KMS_ICE_ADDRESSES: '::1' });
  const client = await connectKurento(ipv6Engine.url);
  try {
    const pipeline = await client.create('MediaPipeline');
    const endpoint = await pipeline.create('WebRtcEndpoint');
    await endpoint.connect(endpoint);
    const candidates: string[] = [];
    endpoint.on('IceCandidateFound', (event: { candidate: CandidateInit }) => {
      candidates.push(event.candidate.candidate);
    });
    const gathered = new Promise<void>((resolve) => {
      endpoint.on('IceGatheringDone', () => resolve());
    });
    const pair = new Promise<{ localCandidate: string; remoteCandidate: string }>((resolve) => {
      endpoint.on(
        'NewCandidatePairSelected',
        (event: { candidatePair: { localCandidate: string; remoteCandidate: string } }) =>
          resolve(event.candidatePair),
      );
    });
    const peer = await BrowserPeer.open(browser);
    await negotiate(endpoint, peer, { send: true, videoCodec: 'VP8' });
    await expectPicture(peer, CAMERA);
    await gathered;
    assert.ok(candidates.length > 0);
    for (const candidate of candidates) {
      assert.equal(candidate.split(' ')[4], '::1', `only ::1 is gathered: ${candidate}`);
    }
    // The engine has only ::1, so the pair is IPv6 whatever the browser's side (which may be
    // reported by its foundation alone when its checks arrive before its candidate).
    const selected = await pair;
    assert.equal(selected.localCandidate.split(' ')[4], '::1');
    const local = await endpoint.getLocalSessionDescriptor();
    assert.match(local, /^c=IN IP6 ::1$/m, 'the default candidate is IPv6');
    await peer.close();
    await pipeline.release();
  } finally {
    client.close();
    await ipv6Engine.stop();
  }
});
