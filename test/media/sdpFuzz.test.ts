/**
 * Fuzzing of processOffer with mutated Chromium offers: a real offer (fake camera and
 * microphone) is captured once, then its lines are dropped, duplicated, garbled, renumbered or
 * blown up, and each result goes through kurento-client's processOffer to a fresh
 * WebRtcEndpoint of the engine (a separate process, with its real workers). Seeded
 * (MONTAGE_FUZZ_SEED repeats a run) and bounded in count.
 *
 * Invariants: each offer gets an SDP answer or a Kurento SDP error within a bound, the
 * pipeline's worker never dies (same pid, no Error event), the engine process lives, and
 * afterwards a valid Chromium offer still negotiates and its picture comes back.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import kurento from 'kurento-client';
import { BrowserPeer } from '../helpers/BrowserPeer.js';
import { launchChromium } from '../helpers/browser.js';
import { startEngineProcess, workerPids } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { negotiate } from '../helpers/negotiate.js';
import { Rng } from '../helpers/Rng.js';

const OFFERS = Number(process.env.MONTAGE_FUZZ_OFFERS ?? 150);
const ANSWER_TIMEOUT_MS = 20_000;
/**
 * What a bad offer may be refused with: Kurento's SDP errors (parse, process offer) and the
 * marshalling error for an offer that is not a usable string (the empty one).
 */
const SDP_ERRORS = new Set([40001, 40201, 40205]);

/** The line kinds the mutations aim at, as prefixes. */
const TARGETS = [
  'm=',
  'a=rtpmap:',
  'a=fmtp:',
  'a=fingerprint:',
  'a=ice-ufrag:',
  'a=ice-pwd:',
  'c=',
  'a=group:BUNDLE',
  'a=mid:',
  'a=setup:',
  'a=ssrc',
  'a=msid',
  'a=rtcp',
  'a=extmap:',
  'o=',
  'v=',
  't=',
];

function garble(rng: Rng, line: string): string {
  const colon = line.indexOf(':');
  const head = colon > 0 ? line.slice(0, colon + 1) : line.slice(0, 2);
  switch (rng.int(0, 5)) {
    case 0:
      return head + rng.text(rng.int(0, 40));
    case 1:
      // A huge value (under the JSON-RPC frame sizes any client would send).
      return head + 'x'.repeat(rng.int(1000, 60_000));
    case 2:
      // Every number swapped for a boundary value.
      return line.replace(/\d+/g, () =>
        String(rng.pick(['0', '-1', '65535', '65536', '4294967296', '99999999999999999999', ''])),
      );
    case 3:
      return head;
    case 4:
      return line + ' ' + rng.text(rng.int(1, 20));
    default:
      return rng.bytes(rng.int(1, 40)).toString('latin1');
  }
}

function mutate(offer: string, rng: Rng): string {
  let lines = offer.split('\r\n').filter((line) => line !== '');
  const target = rng.pick(TARGETS);
  const matching = (): number[] => lines.flatMap((line, i) => (line.startsWith(target) ? [i] : []));
  const some = (): number => {
    const found = matching();
    return found.length > 0 ? rng.pick(found) : rng.int(0, lines.length - 1);
  };
  switch (rng.int(0, 8)) {
    case 0:
      lines.splice(some(), 1);
      break;
    case 1:
      // Every line of the kind dropped.
      lines = lines.filter((line) => !line.startsWith(target));
      break;
    case 2: {
      const i = some();
      lines.splice(i, 0, lines[i] ?? '');
      break;
    }
    case 3:
    case 4: {
      const i = some();
      lines[i] = garble(rng, lines[i] ?? '');
      break;
    }
    case 5: {
      // A line moved elsewhere (into another section, or before v=).
      const [line] = lines.splice(some(), 1);
      lines.splice(rng.int(0, lines.length), 0, line ?? '');
      break;
    }
    case 6:
      // Truncated anywhere, even inside a line.
      return lines.join('\r\n').slice(0, rng.int(0, lines.join('\r\n').length));
    case 7:
      // Line endings: bare \n, or a mixture.
      return lines.join(rng.pick(['\n', '\r', '\r\r\n'])) + '\n';
    default:
      // Many lines garbled at once.
      lines = lines.map((line) => (rng.chance(0.15) ? garble(rng, line) : line));
  }
  return lines.join('\r\n') + '\r\n';
}

/** processOffer with a callback: without one, kurento-client resolves a failure as undefined. */
function processOffer(endpoint: kurento.WebRtcEndpoint, offer: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer nor error within ${ANSWER_TIMEOUT_MS} ms`)),
      ANSWER_TIMEOUT_MS,
    );
    const withCallback = endpoint as unknown as {
      processOffer(
        offer: string,
        callback: (error: (Error & { code?: number }) | undefined, answer?: string) => void,
      ): void;
    };
    withCallback.processOffer(offer, (error, answer) => {
      clearTimeout(timer);
      if (error !== undefined && error !== null) reject(error);
      else resolve(answer ?? '');
    });
  });
}

test('mutated Chromium offers get an answer or a Kurento SDP error; no worker dies, and a valid offer still negotiates', async (t) => {
  const rng = Rng.fromEnv('SDP fuzz');
  const started = Date.now();
  // Undone last to first: the peer and the pipeline before the client, the engine last.
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  // No warm worker (KMS_WARM_WORKERS): the pipeline's worker is the engine's only child, so a
  // worker that dies or is replaced shows.
  const engine = await startEngineProcess({ KMS_WARM_WORKERS: '0' });
  cleanups.push(() => engine.stop());
  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const capture = await BrowserPeer.open(browser);
  const offer = await capture.createOffer({ send: true });
  await capture.close();
  assert.match(offer, /^v=0\r\n/);
  assert.match(offer, /m=video /);

  const client = await connectKurento(engine.url);
  cleanups.push(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  cleanups.push(() => pipeline.release());
  const errors: unknown[] = [];
  pipeline.on('Error', (event: unknown) => errors.push(event));
  const workers = await workerPids(engine.pid);
  assert.equal(workers.length, 1, 'one worker for the pipeline');

  const counts = { answers: 0, refused: 0 };
  const codes = new Map<number, number>();
  /**
   * Offers the fuzzer found fatal before they were fixed, sent first on every run: a lone UTF-16
   * surrogate before an escaped control character (the worker refused the request line,
   * "malformed surrogate pair", and never answered: a hang), and an audio m-line whose first
   * payload type lost its rtpmap (the worker aborted in webrtcbin).
   */
  const rtpmap = /^a=rtpmap:111 .*\r\n/m.exec(offer)?.[0] ?? '';
  const found = [
    offer.replace('\r\ns=-\r\n', '\r\ns=\ud800\u0000-\r\n'),
    offer.replace(rtpmap, '').replace('\r\nm=audio', `\r\n${rtpmap}m=audio`),
  ];
  assert.notEqual(rtpmap, '', 'the offer has Opus at payload type 111');
  for (let n = 0; n < found.length + OFFERS; n++) {
    let mutated = found[n] ?? mutate(offer, rng);
    for (let more = n < found.length ? 0 : rng.int(0, 2); more > 0; more--)
      mutated = mutate(mutated, rng);
    const what = `#${n} ${JSON.stringify(mutated.slice(0, 400))}`;
    const endpoint = await pipeline.create('WebRtcEndpoint');
    endpoint.on('Error', (event: unknown) => errors.push(event));
    try {
      const answer = await processOffer(endpoint, mutated);
      assert.match(answer, /^v=0\r\n/, `${what}: the answer is not SDP: ${answer.slice(0, 200)}`);
      counts.answers++;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // The whole offer, to reproduce a failure without the browser.
      if (typeof code !== 'number' || !SDP_ERRORS.has(code))
        writeFileSync(join(tmpdir(), `sdp-fuzz-${rng.seed}-${n}.sdp`), mutated);
      assert.ok(
        typeof code === 'number' && SDP_ERRORS.has(code),
        `${what}: not a Kurento SDP error: ${String(error)} (code ${String(code)}; the offer is in ${join(tmpdir(), `sdp-fuzz-${rng.seed}-${n}.sdp`)})`,
      );
      codes.set(code, (codes.get(code) ?? 0) + 1);
      counts.refused++;
    }
    await endpoint.release();
    if ((n + 1) % 20 === 0) {
      assert.deepEqual(await workerPids(engine.pid), workers, `${what}: the worker died`);
      assert.deepEqual(errors, []);
    }
  }
  assert.equal(engine.child.exitCode, null, 'the engine process lives');
  assert.deepEqual(await workerPids(engine.pid), workers, 'the worker is the same one');
  assert.deepEqual(errors, []);
  assert.ok(counts.answers > 0 && counts.refused > 0, `too few of each: ${JSON.stringify(counts)}`);

  // A valid offer still negotiates on the same pipeline, and the picture comes back (loopback).
  const endpoint = await pipeline.create('WebRtcEndpoint');
  await endpoint.connect(endpoint);
  const peer = await BrowserPeer.open(browser);
  cleanups.push(() => peer.close());
  await negotiate(
    {
      processOffer: (sdp) => endpoint.processOffer(sdp),
      gatherCandidates: () => endpoint.gatherCandidates(),
      addIceCandidate: (candidate) => endpoint.addIceCandidate(candidate as kurento.IceCandidate),
      on: endpoint.on.bind(endpoint),
    },
    peer,
    { send: true, videoCodec: 'VP8' },
  );
  const received = await peer.waitForFrames(10, 30_000);
  assert.ok(received.frames >= 10);
  console.log(
    `# SDP fuzz: ${JSON.stringify(counts)} codes ${JSON.stringify([...codes])} in ${Date.now() - started} ms`,
  );
});
