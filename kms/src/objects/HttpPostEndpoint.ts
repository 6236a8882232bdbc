import { randomUUID } from 'node:crypto';
import { constants, open } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { refuse, type HttpEndpointServer, type PostTarget } from '../http/HttpEndpointServer.js';
import { formDataBoundary, MultipartFile } from '../http/MultipartFile.js';
import { KurentoError } from '../rpc/KurentoError.js';
import type { JsonObject } from '../worker/Channel.js';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { SessionEndpoint } from './SessionEndpoint.js';

/** A body that sends nothing for this long is treated as a lost connection. */
const IDLE_TIMEOUT_MS = 30_000;

type UploadState = 'waiting' | 'receiving' | 'interrupted' | 'ended';

/**
 * Waits until the FIFO takes more (or is gone), leaving no listener behind: a long upload waits
 * thousands of times.
 */
function drained(sink: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      sink.off('drain', done);
      sink.off('close', done);
      resolve();
    };
    sink.on('drain', done);
    sink.on('close', done);
  });
}

/**
 * Kurento's HttpPostEndpoint: getUrl names a URL on the engine's HTTP server; the body POSTed
 * there (any container the worker can demux: WebM, MP4, Matroska, …; sent whole or chunked) is
 * decoded and played into the pipeline at its own pace, as a PlayerEndpoint plays a file, and
 * EndOfStream follows the end of the body. A browser form's upload (multipart/form-data) works
 * too, as in Kurento: the first file of the form is the media. One upload per endpoint: a
 * second POST while one is in progress is 409, after it ended 410. MediaSessionStarted comes with the first POST and
 * MediaSessionTerminated when the upload is over. A connection lost mid-body may be resumed by
 * a new POST (its body continues the stream) within disconnectionTimeout seconds; after that the
 * stream ends there. The body goes to the worker through a FIFO (HttpEndpointServer).
 */
export class HttpPostEndpoint extends SessionEndpoint implements PostTarget {
  readonly #server: HttpEndpointServer;
  readonly #fifo: string;
  readonly #disconnectionTimeoutMs: number;
  #path = '';
  #url = '';
  #state: UploadState = 'waiting';
  #bytes = 0;
  /** The FIFO's write end, open from the first POST until the stream ends. */
  #sink: Socket | undefined;
  #current: { request: IncomingMessage; response: ServerResponse } | undefined;
  #resumeTimer: NodeJS.Timeout | undefined;

  private constructor(
    host: ObjectHost,
    pipeline: MediaPipeline,
    server: HttpEndpointServer,
    fifoDir: string,
    disconnectionTimeoutSeconds: number,
  ) {
    const uuid = randomUUID();
    super(host, 'HttpPostEndpoint', `${pipeline.id}/${uuid}_kurento.HttpPostEndpoint`, pipeline);
    this.#server = server;
    this.#fifo = join(fifoDir, uuid);
    this.#disconnectionTimeoutMs = disconnectionTimeoutSeconds * 1000;
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    params: Args,
    server: HttpEndpointServer,
  ): Promise<HttpPostEndpoint> {
    const timeout = params.disconnectionTimeout ?? 2;
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0) {
      throw KurentoError.marshall(
        `Invalid value for 'disconnectionTimeout': ${JSON.stringify(timeout)} (whole seconds, 0 or more)`,
      );
    }
    const encoded = params.useEncodedMedia ?? false;
    if (typeof encoded !== 'boolean') {
      throw KurentoError.marshall(
        `Invalid value for 'useEncodedMedia': ${JSON.stringify(encoded)}`,
      );
    }
    const fifoDir = await server.start();
    const endpoint = new HttpPostEndpoint(host, pipeline, server, fifoDir, timeout);
    // useEncodedMedia is accepted and, as Kurento recommends, the media is always decoded.
    await endpoint.createInWorker({ fifo: endpoint.#fifo });
    if (endpoint.released) return endpoint;
    const { path, url } = await server.register(endpoint);
    endpoint.#path = path;
    endpoint.#url = url;
    if (endpoint.released) server.unregister(path);
    return endpoint;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    if (name === 'getUrl') return this.#url;
    return super.callMethod(name, args);
  }

  handlePost(request: IncomingMessage, response: ServerResponse): void {
    if (this.#state === 'receiving') {
      // The current connection may be gone already; the engine knows once it has played what
      // that connection sent. A client resuming an upload retries.
      request.resume();
      response.setHeader('Retry-After', '1');
      refuse(response, 409, 'An upload to this HttpPostEndpoint is already in progress');
      return;
    }
    if (this.#state === 'ended' || this.released) {
      request.resume();
      refuse(response, 410, 'This HttpPostEndpoint already received its media');
      return;
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    if (this.#bytes + declared > this.#server.maxBytes) {
      request.resume();
      refuse(response, 413, `At most ${this.#server.maxBytes} bytes (KMS_HTTP_ENDPOINT_MAX_BYTES)`);
      return;
    }
    const contentType = request.headers['content-type'];
    const boundary = formDataBoundary(contentType);
    if (boundary === undefined && /^multipart\//i.test(contentType ?? '')) {
      request.resume();
      refuse(response, 400, 'A multipart body must be multipart/form-data with a boundary');
      return;
    }
    clearTimeout(this.#resumeTimer);
    this.#state = 'receiving';
    this.#current = { request, response };
    const form = boundary === undefined ? undefined : new MultipartFile(boundary);
    void this.#receive(request, response, form).catch((error: unknown) => {
      refuse(response, 500, `The upload failed: ${String(error)}`);
      this.#endStream();
    });
  }

  async #receive(
    request: IncomingMessage,
    response: ServerResponse,
    form: MultipartFile | undefined,
  ): Promise<void> {
    if (this.#sink === undefined) {
      this.raise('MediaSessionStarted');
      // The worker opens the read end first, so opening the write end does not wait.
      await this.request('httppost.open');
      const fd = await promisify(open)(this.#fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      this.#sink = new Socket({ fd, readable: false, writable: true });
      this.#sink.on('error', () => this.#endStream());
      await this.request('player.play');
    }
    const sink = this.#sink;
    request.setTimeout(IDLE_TIMEOUT_MS, () => request.destroy());
    let complete = false;
    try {
      for await (const chunk of request as AsyncIterable<Buffer>) {
        this.#bytes += chunk.length;
        if (this.#bytes > this.#server.maxBytes) {
          refuse(
            response,
            413,
            `At most ${this.#server.maxBytes} bytes (KMS_HTTP_ENDPOINT_MAX_BYTES); the media ends here`,
          );
          this.#endStream();
          return;
        }
        if (this.#state !== 'receiving' || sink.destroyed) break;
        if (form?.done === true) continue; // what follows the form's file is not media
        let pieces: Buffer[];
        try {
          pieces = form === undefined ? [chunk] : form.push(chunk);
        } catch (error) {
          refuse(response, 400, `The form upload is malformed: ${(error as Error).message}`);
          request.destroy();
          this.#endStream();
          return;
        }
        for (const piece of pieces) {
          if (!sink.write(piece)) await drained(sink);
        }
      }
      complete = request.complete;
    } catch {
      complete = false;
    } finally {
      if (this.#current?.request === request) this.#current = undefined;
    }
    if (this.#state !== 'receiving' || sink.destroyed) {
      // Released, refused (already answered), or the worker stopped reading (it died).
      refuse(response, 503, 'The media pipeline no longer takes this upload');
      request.destroy();
      this.#endStream();
      return;
    }
    if (complete) {
      this.#endStream();
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('Received\n');
      return;
    }
    // Lost mid-body: a new POST may continue the stream for a while.
    this.#state = 'interrupted';
    this.#resumeTimer = setTimeout(() => this.#endStream(), this.#disconnectionTimeoutMs);
  }

  /** The body is over: closing the FIFO is the end of the stream for the worker. */
  #endStream(): void {
    if (this.#state === 'ended') return;
    const started = this.#sink !== undefined;
    this.#state = 'ended';
    clearTimeout(this.#resumeTimer);
    this.#sink?.end();
    if (started) this.raise('MediaSessionTerminated');
  }

  override onWorkerEvent(event: string, data: JsonObject): void {
    if (event === 'EndOfStream') {
      this.raise('EndOfStream');
      return;
    }
    if (event === 'Error' && this.#current !== undefined) {
      // The body is not media the worker can decode: nothing will read the rest.
      const { request, response } = this.#current;
      const why = typeof data.description === 'string' ? data.description : 'media error';
      refuse(response, 415, `The POSTed body could not be played: ${why}`);
      request.destroy();
      this.#endStream();
    }
    super.onWorkerEvent(event, data);
  }

  protected override onRelease(): void {
    this.#server.unregister(this.#path);
    if (this.#current !== undefined) {
      refuse(this.#current.response, 410, 'The HttpPostEndpoint was released');
      this.#current.request.destroy();
      this.#current = undefined;
    }
    clearTimeout(this.#resumeTimer);
    this.#state = 'ended';
    this.#sink?.destroy();
    super.onRelease();
  }
}
