import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import path from 'node:path';
import { after, before, test } from 'node:test';
import kurento from 'kurento-client';
import { QUADRANT_CENTRES } from '../helpers/BrowserPeer.js';
import { startEngineProcess, type EngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { classify, makeQuadrantClip, mediaDir, type Quadrants } from '../helpers/media.js';
import { freeUdpPortPair, RtpReceiver } from '../helpers/RtpReceiver.js';
import { REAL_WORKER } from '../kms/helpers.js';
import { Worker } from '../../kms/src/worker/Worker.js';

let engine: EngineProcess;
let dir: string;
let clip: string;
const QUADRANTS: Quadrants = ['red', 'green', 'blue', 'yellow'];
const TONE_HZ = 440;

before(async () => {
  dir = await mediaDir();
  engine = await startEngineProcess();
  clip = await makeQuadrantClip(path.join(dir, 'clip.webm'), QUADRANTS, {
    seconds: 20,
    container: 'webm',
    toneHz: TONE_HZ,
  });
});

after(async () => {
  await engine?.stop();
});

/** kurento-client checks that `crypto` is an instance of its SDES complex type. */
function sdes(fields: { crypto: string; keyBase64?: string }): unknown {
  const SDES = kurento.getComplexType('SDES') as unknown as new (value: object) => unknown;
  return new SDES(fields);
}

/** Asserts the receiver shows the clip's quadrants and hears its tone, not another one. */
async function assertClip(receiver: RtpReceiver): Promise<void> {
  await receiver.waitForFrames(20, 15_000);
  const colours = receiver.sample(QUADRANT_CENTRES).map(classify);
  assert.deepEqual(colours, [...QUADRANTS], 'the picture arrives with its quadrants in place');
  // The tone must fill one 500 ms window of the next few: on this shared machine a relayed
  // stream can have a short gap (measured: level 0.04 instead of 0.12 once, then back).
  let levels: number[] = [];
  for (let window = 0; window < 5; window += 1) {
    await receiver.waitForAudio(1_500 + window * 500, 10_000);
    levels = receiver.toneLevels([TONE_HZ, 1_000], 500);
    if ((levels[0] ?? 0) > 0.05 && (levels[1] ?? 1) < 0.01) return;
  }
  assert.fail(`the ${TONE_HZ} Hz tone is heard (level ${levels[0]}, 1 kHz ${levels[1]})`);
}

test('a PlayerEndpoint sent through an RtpEndpoint reaches ffmpeg with its picture and its tone', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240 });
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const rtp = await pipeline.create('RtpEndpoint');
    const states: string[] = [];
    rtp.on('MediaStateChanged', (event: { newState: string }) => states.push(event.newState));
    const flowing = new Promise<void>((resolve) => {
      rtp.on('MediaFlowOutStateChanged', (event: { state: string }) => {
        if (event.state === 'FLOWING') resolve();
      });
    });
    await player.connect(rtp);
    const answer = await rtp.processOffer(receiver.offer);
    assert.match(answer, /^m=video [1-9]\d* RTP\/AVP 96/m, 'video accepted with the offered type');
    assert.match(answer, /^m=audio [1-9]\d* RTP\/AVP 111/m, 'audio accepted with the offered type');
    assert.match(answer, /^c=IN IP4 127\.0\.0\.1/m);
    await receiver.start(answer);
    await player.play();
    await assertClip(receiver);
    await flowing;
    assert.deepEqual(states, ['CONNECTED'], 'RTP flowing out counts as connected');
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('a receiver that joins late still decodes the picture (SPS/PPS repeated)', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240, audio: false });
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const rtp = await pipeline.create('RtpEndpoint');
    await player.connect(rtp);
    const answer = await rtp.processOffer(receiver.offer);
    await player.play();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await receiver.start(answer);
    const started = Date.now();
    await receiver.waitForFrames(5, 10_000);
    assert.ok(receiver.firstFrameAt - started < 5_000, 'a picture within one keyframe interval');
    assert.deepEqual(receiver.sample(QUADRANT_CENTRES).map(classify), [...QUADRANTS]);
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('SDES-SRTP: an RtpEndpoint with a crypto suite sends RTP/SAVP that ffmpeg decrypts', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({
    width: 320,
    height: 240,
    crypto: { suite: 'AES_CM_128_HMAC_SHA1_80' },
  });
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const rtp = await pipeline.create('RtpEndpoint', {
      crypto: sdes({ crypto: 'AES_128_CM_HMAC_SHA1_80' }),
    });
    await player.connect(rtp);
    const answer = await rtp.processOffer(receiver.offer);
    assert.match(answer, /^m=video [1-9]\d* RTP\/SAVP 96/m);
    assert.match(answer, /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\S{40}/m);
    await receiver.start(answer);
    await player.play();
    await assertClip(receiver);
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('SDES-SRTP between two RtpEndpoints: generateOffer/processOffer/processAnswer carry the picture', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240 });
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const sender = await pipeline.create('RtpEndpoint', {
      crypto: sdes({ crypto: 'AES_256_CM_HMAC_SHA1_80' }),
    });
    const relay = await pipeline.create('RtpEndpoint', {
      crypto: sdes({
        crypto: 'AES_256_CM_HMAC_SHA1_80',
        keyBase64: Buffer.alloc(46, 7).toString('base64'),
      }),
    });
    const out = await pipeline.create('RtpEndpoint');
    await player.connect(sender);
    await relay.connect(out);
    const offer = await sender.generateOffer();
    assert.match(offer, /^m=video \d+ RTP\/SAVP 96/m);
    const answer = await relay.processOffer(offer);
    await sender.processAnswer(answer);
    const outAnswer = await out.processOffer(receiver.offer);
    await receiver.start(outAnswer);
    await player.play();
    await assertClip(receiver);
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('useIpv6: RtpEndpoints bind and announce ::1, carry RTP between each other over IPv6, and ffmpeg listening on ::1 gets the picture and the tone', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ width: 320, height: 240, ipv6: true });
  try {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    // sender -> relay is engine to engine over IPv6 (the relay receives on ::1); the relay's
    // picture leaves through `out`, also IPv6, to ffmpeg on ::1.
    const sender = await pipeline.create('RtpEndpoint', { useIpv6: true });
    const relay = await pipeline.create('RtpEndpoint', { useIpv6: true });
    const out = await pipeline.create('RtpEndpoint', { useIpv6: true });
    await player.connect(sender);
    await relay.connect(out);
    const offer = await sender.generateOffer();
    assert.match(offer, /^o=\S+ \d+ \d+ IN IP6 ::1$/m);
    assert.match(offer, /^c=IN IP6 ::1$/m);
    assert.doesNotMatch(offer, /IP4/, 'nothing in the offer is IPv4');
    const answer = await relay.processOffer(offer);
    assert.match(answer, /^c=IN IP6 ::1$/m);
    assert.match(answer, /^m=video [1-9]\d* RTP\/AVP 96/m);
    await sender.processAnswer(answer);
    const outAnswer = await out.processOffer(receiver.offer);
    assert.match(outAnswer, /^c=IN IP6 ::1$/m);
    assert.match(outAnswer, /^m=video [1-9]\d* RTP\/AVP 96/m);
    await receiver.start(outAnswer);
    await player.play();
    await assertClip(receiver);
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('useIpv6: an IPv4 peer cannot be reached from IPv6 sockets, so its m-lines are rejected', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create({ video: true, audio: false });
  try {
    const rtp = await pipeline.create('RtpEndpoint', { useIpv6: true });
    // kurento-client's promise form of the SDP calls swallows errors; the callback form does not.
    const refused = new Promise<unknown>((resolve, reject) => {
      const target = rtp as unknown as Record<string, (...a: unknown[]) => void>;
      target.processOffer?.(receiver.offer, (error?: Error, value?: unknown) =>
        error ? reject(error) : resolve(value),
      );
    });
    // With every m-line unusable the RtpEndpoint refuses the offer (40205), as before useIpv6.
    await assert.rejects(refused, { code: 40205 });
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

test('RtpEndpoint SDP errors: 40209 before an offer, 40208 on a second offer, 40201 on garbage', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const receiver = await RtpReceiver.create();
  try {
    const rtp = await pipeline.create('RtpEndpoint');
    // kurento-client's promise form of the SDP calls swallows errors; the callback form does not.
    const call = (
      endpoint: unknown,
      method: 'processAnswer' | 'processOffer' | 'generateOffer',
      ...args: string[]
    ): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const target = endpoint as Record<string, (...a: unknown[]) => void>;
        target[method]?.(...args, (error?: Error, value?: unknown) =>
          error ? reject(error) : resolve(value),
        );
      });
    await assert.rejects(call(rtp, 'processAnswer', receiver.offer), { code: 40209 });
    await assert.rejects(call(rtp, 'processOffer', 'this is not an SDP'), { code: 40201 });
    await call(rtp, 'processOffer', receiver.offer);
    await assert.rejects(call(rtp, 'processOffer', receiver.offer), { code: 40208 });
    await assert.rejects(call(rtp, 'generateOffer'), { code: 40208 });
    const other = await pipeline.create('RtpEndpoint');
    await assert.rejects(
      call(other, 'processOffer', 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n'),
      (error: { code: number }) => [40201, 40205].includes(error.code),
    );
  } finally {
    await receiver.stop();
    await pipeline.release();
    client.close();
  }
});

/** True if an H.264 RTP payload starts (or is) an IDR picture: a single NAL, STAP-A or FU-A. */
function startsIdr(payload: Buffer): boolean {
  const type = (payload[0] ?? 0) & 0x1f;
  if (type === 5) return true;
  if (type === 28) return ((payload[1] ?? 0) & 0x80) !== 0 && ((payload[1] ?? 0) & 0x1f) === 5;
  if (type === 24) {
    for (let i = 1; i + 2 < payload.length;) {
      const size = payload.readUInt16BE(i);
      if (((payload[i + 2] ?? 0) & 0x1f) === 5) return true;
      i += 2 + size;
    }
  }
  return false;
}

test('the SDP carries rtcp-fb nack pli, and a PLI from the receiver brings a keyframe at once', async () => {
  const client = await connectKurento(engine.url);
  const pipeline = await client.create('MediaPipeline');
  const port = await freeUdpPortPair();
  const rtpSocket = createSocket('udp4');
  const rtcpSocket = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => rtpSocket.bind(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => rtcpSocket.bind(port + 1, '127.0.0.1', resolve));
    const idrTimes: number[] = [];
    let mediaSsrc = 0;
    rtpSocket.on('message', (packet: Buffer) => {
      if (packet.length < 13) return;
      const csrcs = (packet[0] ?? 0) & 0x0f;
      let offset = 12 + 4 * csrcs;
      if (((packet[0] ?? 0) & 0x10) !== 0) offset += 4 + 4 * packet.readUInt16BE(offset + 2);
      mediaSsrc = packet.readUInt32BE(8);
      if (startsIdr(packet.subarray(offset))) idrTimes.push(Date.now());
    });
    const offer = [
      'v=0',
      'o=- 1 0 IN IP4 127.0.0.1',
      's=PliProbe',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=video ${port} RTP/AVP 96`,
      'a=rtpmap:96 H264/90000',
      'a=fmtp:96 packetization-mode=1',
      'a=rtcp-fb:96 nack pli',
      'a=recvonly',
      '',
    ].join('\r\n');
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
    const rtp = await pipeline.create('RtpEndpoint');
    await player.connect(rtp);
    const answer = await rtp.processOffer(offer);
    assert.match(answer, /^a=rtcp-fb:96 nack pli\r?$/m, 'the answer keeps PLI feedback');
    const generated = await (await pipeline.create('RtpEndpoint')).generateOffer();
    assert.match(generated, /^a=rtcp-fb:96 nack pli\r?$/m, 'offers announce PLI feedback');
    const rtcpPort = Number(/^a=rtcp:(\d+)/m.exec(answer)?.[1]);
    assert.ok(rtcpPort > 0, 'the answer names its RTCP port');
    await player.play();
    const until = async (check: () => boolean, ms: number): Promise<boolean> => {
      const deadline = Date.now() + ms;
      while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return check();
    };
    assert.ok(await until(() => idrTimes.length > 0, 10_000), 'a first keyframe arrives');
    // The encoder's own keyframes are 2 s apart; ask mid-interval, three times.
    for (let round = 0; round < 3; round++) {
      const last = idrTimes.at(-1) ?? Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, last + 600 - Date.now())));
      const count = idrTimes.length;
      // Compound RTCP: an empty receiver report, then the PLI (RFC 4585, PT 206, FMT 1).
      const rtcp = Buffer.alloc(20);
      rtcp.writeUInt8(0x80, 0);
      rtcp.writeUInt8(201, 1);
      rtcp.writeUInt16BE(1, 2);
      rtcp.writeUInt32BE(0x1234, 4);
      rtcp.writeUInt8(0x81, 8);
      rtcp.writeUInt8(206, 9);
      rtcp.writeUInt16BE(2, 10);
      rtcp.writeUInt32BE(0x1234, 12);
      rtcp.writeUInt32BE(mediaSsrc, 16);
      const sent = Date.now();
      rtcpSocket.send(rtcp, rtcpPort, '127.0.0.1');
      assert.ok(await until(() => idrTimes.length > count, 1_000), 'a keyframe follows the PLI');
      const delay = (idrTimes[count] ?? Infinity) - sent;
      assert.ok(delay < 400, `keyframe ${delay} ms after the PLI (round ${round})`);
    }
  } finally {
    rtpSocket.close();
    rtcpSocket.close();
    await pipeline.release();
    client.close();
  }
});

/** Binds a UDP port on 127.0.0.1, or resolves undefined when someone else holds it. */
function tryBindUdp(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

/** Holds `count` consecutive UDP ports from an even one, below the kernel's ephemeral range. */
async function holdPortBlock(count: number): Promise<{ base: number; sockets: Socket[] }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 2 * Math.floor(Math.random() * 5_000);
    const sockets: Socket[] = [];
    for (let port = base; port < base + count; port++) {
      const socket = await tryBindUdp(port);
      if (socket === undefined) break;
      sockets.push(socket);
    }
    if (sockets.length === count) return { base, sockets };
    for (const socket of sockets) socket.close();
  }
  throw new Error(`no ${count} consecutive free UDP ports found`);
}

test('RTP ports held by another process are skipped inside --port-range, and only a full range fails', async () => {
  // Six even pairs; four are made unusable by holding their RTP port, their RTCP port or both,
  // so whichever pair the worker starts from it must move on until it finds the two free ones.
  const { base, sockets } = await holdPortBlock(12);
  const freed = sockets.splice(8, 4);
  for (const socket of freed) await new Promise<void>((resolve) => socket.close(() => resolve()));
  const held = [sockets[1], sockets[2], sockets[5], sockets[6]];
  for (const socket of sockets) if (!held.includes(socket)) socket.close();
  const worker = await Worker.start({
    command: REAL_WORKER,
    prefixArgs: ['--port-range', `${base}-${base + 11}`],
    iceAddresses: ['127.0.0.1'],
    stun: undefined,
    turn: undefined,
    jitterBufferMs: 20,
    logPrefix: '[port-range worker]',
    startTimeoutMs: 10_000,
    requestTimeoutMs: 0,
  });
  try {
    // Ports base, base+3, base+4 and base+7 are free again but each pairs with a held one.
    await worker.request('element.create', { id: 'rtp1', type: 'RtpEndpoint', options: {} });
    const { sdp } = await worker.request('rtp.generateOffer', { id: 'rtp1' });
    assert.equal(typeof sdp, 'string');
    const ports = [...String(sdp).matchAll(/^m=\w+ (\d+) /gm)].map((m) => Number(m[1]));
    const rtcpPorts = [...String(sdp).matchAll(/^a=rtcp:(\d+)/gm)].map((m) => Number(m[1]));
    assert.deepEqual(
      [...ports].sort((a, b) => a - b),
      [base + 8, base + 10],
      `audio and video took the two free pairs of ${base}-${base + 11}: ${ports.join(', ')}`,
    );
    assert.deepEqual(
      rtcpPorts,
      ports.map((port) => port + 1),
    );
    // The range is full now: creating fails with the reason, and the worker lives on.
    await assert.rejects(
      worker.request('element.create', { id: 'rtp2', type: 'RtpEndpoint', options: {} }),
      /every port pair in \d+-\d+ is taken/,
    );
    assert.deepEqual(await worker.request('worker.ping'), {});
  } finally {
    await worker.close();
    for (const socket of held) socket?.close();
  }
});
