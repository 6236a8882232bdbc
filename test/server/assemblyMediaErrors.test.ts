/**
 * The media server's refusals reach the app: kurento-client 7 resolves `undefined` for a method
 * whose server call failed unless it is given a callback, so a cut, a recording start, a mute, a
 * layout change or an ICE candidate the engine refused used to be acknowledged as done. Real
 * engine and worker; the worker is made to hang (SIGSTOP) so the engine's request timeout fails
 * the call, or is sent a candidate it cannot parse.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type kurento from 'kurento-client';
import { MediaRefusedError } from '../../server/domain/errors.js';
import { newAssemblyId, newCameraId } from '../../server/domain/ids.js';
import { Logger } from '../../server/log.js';
import { AssemblyMedia } from '../../server/media/AssemblyMedia.js';
import { connectKurento } from '../helpers/kurento.js';
import { startTestEngine } from '../kms/helpers.js';

const TIMEOUT_MS = 3000;

/** An assembly's media on the engine: a grid of up to 4, no program output. */
function assemblyMedia(
  client: kurento.KurentoClient,
  recordingsDir: string,
): Promise<AssemblyMedia> {
  return AssemblyMedia.create({
    client,
    assemblyId: newAssemblyId(),
    layout: { layout: 'grid', maxTiles: 4, cameras: undefined },
    output: undefined,
    deliver: false,
    recordingsDir,
    logger: new Logger('silent'),
  });
}

test('a cut and a recording start that the media server refuses fail instead of being acknowledged', async () => {
  const engine = await startTestEngine({ workerRequestTimeoutMs: TIMEOUT_MS, warmWorkers: 0 });
  const client = await connectKurento(engine.url);
  const recordingsDir = await mkdtemp(path.join(tmpdir(), 'montage-media-errors-'));
  try {
    const media = await assemblyMedia(client, recordingsDir);
    // A working pipeline takes the cut.
    await media.cutTo({ kind: 'composite' });
    const [pid] = engine.workerPids();
    assert.ok(pid !== undefined, 'the assembly has a worker');
    process.kill(pid, 'SIGSTOP');
    await assert.rejects(media.cutTo({ kind: 'composite' }), (error: unknown) => {
      assert.ok(error instanceof MediaRefusedError, String(error));
      assert.match(
        error.message,
        /^the media server refused the cut: .*did not answer within 3000 ms/,
      );
      return true;
    });
    // The worker was killed as hung: a recording cannot start on its dead pipeline either.
    await assert.rejects(media.setRecording(true));
    assert.deepEqual(await readdir(recordingsDir), [], 'no recording file was left behind');
    // Not media.release(): its unsubscribes from the dead pipeline would time out in
    // kurento-client after the test; closing the client and the engine ends everything.
  } finally {
    client.close();
    await engine.close();
    await rm(recordingsDir, { recursive: true, force: true });
  }
});

test('a mute, a layout change and an ICE candidate that the media server refuses fail instead of being acknowledged', async () => {
  const engine = await startTestEngine({ workerRequestTimeoutMs: TIMEOUT_MS, warmWorkers: 0 });
  const client = await connectKurento(engine.url);
  try {
    // Nothing is recorded here.
    const media = await assemblyMedia(client, tmpdir());
    // A camera: an offer from an endpoint of another pipeline stands in for a browser's.
    const offerer = await client.create('MediaPipeline');
    const peer = await offerer.create('WebRtcEndpoint');
    const cameraId = newCameraId();
    assert.match(await media.offerCamera(cameraId, await peer.generateOffer()), /^v=0/);
    assert.deepEqual(media.tiles, [cameraId], 'the camera has its tile');

    // A candidate for a media section the offer never had is refused, and the caller hears it.
    await assert.rejects(
      media.addCameraCandidate(cameraId, {
        candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host',
        sdpMid: '99',
        sdpMLineIndex: 99,
      }),
      (error: unknown) => {
        assert.ok(error instanceof MediaRefusedError, String(error));
        assert.match(error.message, /^the media server refused the ICE candidate: .*invalid/);
        return true;
      },
    );
    // What the engine does, it does: mute and unmute.
    await media.muteCamera(cameraId, true);
    await media.muteCamera(cameraId, false);

    await offerer.release();
    const [pid, ...others] = engine.workerPids();
    assert.ok(pid !== undefined && others.length === 0, 'only the assembly has a worker now');
    process.kill(pid, 'SIGSTOP');
    await assert.rejects(media.muteCamera(cameraId, true), (error: unknown) => {
      assert.ok(error instanceof MediaRefusedError, String(error));
      assert.match(
        error.message,
        /^the media server refused the mute: .*did not answer within 3000 ms/,
      );
      return true;
    });
    // The worker was killed as hung: taking the camera out of the grid is refused too.
    await assert.rejects(
      media.setLayout({ layout: 'grid', maxTiles: 4, cameras: [] }),
      (error: unknown) => {
        assert.ok(error instanceof MediaRefusedError, String(error));
        assert.match(error.message, /^the media server refused the layout: /);
        return true;
      },
    );
  } finally {
    client.close();
    await engine.close();
  }
});
