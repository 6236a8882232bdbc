import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { KurentoError } from '../rpc/KurentoError.js';
import type { JsonObject } from '../worker/Channel.js';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { UriEndpoint, validateMediaUri } from './UriEndpoint.js';
import type { UriPolicy } from './UriPolicy.js';
import type { HttpsUploadRelay } from '../http/HttpsUploadRelay.js';

/** Media profiles the worker can write (MediaProfileSpecType of the kmd). */
const SUPPORTED_PROFILES = new Set([
  'WEBM',
  'WEBM_VIDEO_ONLY',
  'WEBM_AUDIO_ONLY',
  'MKV',
  'MKV_VIDEO_ONLY',
  'MKV_AUDIO_ONLY',
  'MP4',
  'MP4_VIDEO_ONLY',
  'MP4_AUDIO_ONLY',
]);
const KNOWN_PROFILES = new Set([
  ...SUPPORTED_PROFILES,
  'JPEG_VIDEO_ONLY',
  'KURENTO_SPLIT_RECORDER',
  'FLV',
]);

/** Where a recording goes, as the worker takes it: a file path or an http(s) URL. */
type Destination = { path: string } | { url: string };

/**
 * A file:// URI is written as a local file (checked like the player's); an http(s):// URI is
 * uploaded there, as Kurento does: one POST with chunked transfer encoding while recording.
 */
async function destination(uri: string, uris: UriPolicy): Promise<Destination> {
  validateMediaUri(uri);
  if (uri.startsWith('http://') || uri.startsWith('https://')) {
    await uris.checkRecorderUpload(uri);
    return { url: uri };
  }
  let path: string;
  try {
    path = fileURLToPath(uri);
  } catch (error) {
    throw KurentoError.marshall(
      `Invalid URI '${uri}': ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  uris.checkRecorder(uri, path);
  return { path };
}

/**
 * Kurento's RecorderEndpoint backed by a muxer and filesink in the worker. The worker's
 * `recorder.stop` replies once the file is complete (EOS written, at most 3 s) without blocking
 * its other requests, so stop and stopAndWait both wait for it, within the 4 s KMS allows
 * stopAndWait. Recording, Paused and Stopped come from the worker after the matching request's
 * reply; with stopOnEndOfStream the worker also stops (and sends Stopped) when a connected
 * player's clip ends. A file that cannot be opened is an Error event (RESOURCE_ERROR_OPEN) and
 * no Recording; a write failure while recording is RESOURCE_ERROR_WRITE or
 * RESOURCE_ERROR_NO_SPACE_LEFT. An http(s) upload that fails (refused, closed, an HTTP error
 * status) is an Error event RESOURCE_ERROR_WRITE with curl's reason, when it happens. An
 * https:// upload goes through the engine's HttpsUploadRelay (curlhttpsink cannot do TLS with
 * Debian's libcurl), whose reason replaces curl's "received: 502".
 */
export class RecorderEndpoint extends UriEndpoint {
  /** The relay and this recorder's path on it, for an https:// URI. */
  #relay: { relay: HttpsUploadRelay; path: string } | undefined;

  private constructor(host: ObjectHost, pipeline: MediaPipeline, uri: string) {
    super(
      host,
      'RecorderEndpoint',
      `${pipeline.id}/${randomUUID()}_kurento.RecorderEndpoint`,
      pipeline,
      uri,
    );
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    params: Args,
    uris: UriPolicy,
    overwrite: boolean,
    relay: HttpsUploadRelay,
  ): Promise<RecorderEndpoint> {
    const uri = String(params.uri);
    const where = await destination(uri, uris);
    const profile = params.mediaProfile ?? 'WEBM';
    if (typeof profile !== 'string' || !KNOWN_PROFILES.has(profile)) {
      throw KurentoError.marshall(
        `Invalid value for 'MediaProfileSpecType': ${JSON.stringify(profile)}`,
      );
    }
    if (!SUPPORTED_PROFILES.has(profile)) {
      throw new KurentoError(
        'MEDIA_OBJECT_ILLEGAL_PARAM_ERROR',
        `Media profile ${profile} is not supported; use WEBM, MKV or MP4 (or their _VIDEO_ONLY/_AUDIO_ONLY variants)`,
      );
    }
    const stopOnEndOfStream = params.stopOnEndOfStream ?? false;
    if (typeof stopOnEndOfStream !== 'boolean') {
      throw KurentoError.marshall(
        `Invalid value for 'stopOnEndOfStream': ${JSON.stringify(stopOnEndOfStream)}`,
      );
    }
    const recorder = new RecorderEndpoint(host, pipeline, uri);
    let target: Destination = where;
    if ('url' in where && where.url.startsWith('https://')) {
      const relayed = await relay.register(where.url);
      recorder.#relay = { relay, path: relayed.path };
      target = { url: relayed.url };
    }
    const options: JsonObject = { ...target, profile, stopOnEndOfStream, overwrite };
    await recorder.createInWorker(options);
    return recorder;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'record':
        await this.request('recorder.record');
        return null;
      case 'pause':
        await this.request('recorder.pause');
        return null;
      case 'stop':
      case 'stopAndWait':
        try {
          await this.request('recorder.stop');
        } catch (error) {
          if (!this.#releasedDuringStop()) throw error;
        }
        return null;
      default:
        return super.callMethod(name, args);
    }
  }

  /**
   * Kurento's stop() answers before the file is complete, so its apps (the recorder tutorial
   * among them) call stop() and release the pipeline at once. Here stop waits for the file, and
   * the release ends the worker under it; but the release finishes the file itself (the worker
   * writes its end before it exits), so the stop did what was asked and succeeds as in Kurento.
   */
  #releasedDuringStop(): boolean {
    const pipeline = this.mediaPipeline;
    return (
      this.released ||
      this.releasing ||
      pipeline === undefined ||
      pipeline.released ||
      pipeline.releasing
    );
  }

  override onWorkerEvent(event: string, data: JsonObject): void {
    const why = this.#relay?.relay.failure(this.#relay.path);
    if (event === 'Error' && why !== undefined) {
      super.onWorkerEvent(event, {
        ...data,
        description: `Could not upload the recording: ${why}`,
      });
      return;
    }
    switch (event) {
      case 'Recording':
        this.setState('START');
        this.raise('Recording');
        return;
      case 'Paused':
        this.setState('PAUSE');
        this.raise('Paused');
        return;
      case 'Stopped':
        this.setState('STOP');
        this.raise('Stopped');
        return;
      default:
        super.onWorkerEvent(event, data);
    }
  }

  protected override onRelease(): void {
    if (this.#relay !== undefined) this.#relay.relay.unregister(this.#relay.path);
    super.onRelease();
  }
}
