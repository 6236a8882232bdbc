import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../worker/Channel.js';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { UriEndpoint, validateMediaUri } from './UriEndpoint.js';
import type { UriPolicy } from './UriPolicy.js';

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** Kurento's PlayerEndpoint backed by uridecodebin in the worker. */
export class PlayerEndpoint extends UriEndpoint {
  private constructor(host: ObjectHost, pipeline: MediaPipeline, uri: string) {
    super(
      host,
      'PlayerEndpoint',
      `${pipeline.id}/${randomUUID()}_kurento.PlayerEndpoint`,
      pipeline,
      uri,
    );
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    params: Args,
    uris: UriPolicy,
  ): Promise<PlayerEndpoint> {
    const uri = String(params.uri);
    validateMediaUri(uri);
    await uris.checkPlayer(uri);
    const player = new PlayerEndpoint(host, pipeline, uri);
    const options: JsonObject = { uri };
    if (typeof params.networkCache === 'number') options.networkCache = params.networkCache;
    await player.createInWorker(options);
    return player;
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'play':
        await this.request('player.play');
        this.setState('START');
        return null;
      case 'pause':
        await this.request('player.pause');
        this.setState('PAUSE');
        return null;
      case 'stop':
        await this.request('player.stop');
        this.setState('STOP');
        return null;
      default:
        return super.callMethod(name, args);
    }
  }

  protected override async getProperty(name: string): Promise<unknown> {
    switch (name) {
      case 'position': {
        const result = await this.request('player.getPosition');
        return num(result.position);
      }
      case 'videoInfo': {
        const info = await this.request('player.getVideoInfo');
        return {
          __module__: 'kurento',
          __type__: 'VideoInfo',
          isSeekable: info.isSeekable === true,
          seekableInit: num(info.seekableInit),
          seekableEnd: num(info.seekableEnd),
          duration: num(info.duration),
        };
      }
      case 'elementGstreamerDot': {
        const result = await this.request('element.getDot');
        return typeof result.dot === 'string' ? result.dot : '';
      }
      default:
        return super.getProperty(name);
    }
  }

  protected override async setProperty(name: string, value: unknown): Promise<void> {
    if (name === 'position') {
      await this.request('player.setPosition', { position: num(value) });
      return;
    }
    await super.setProperty(name, value);
  }

  override onWorkerEvent(event: string, data: JsonObject): void {
    if (event === 'EndOfStream') {
      this.raise('EndOfStream');
      return;
    }
    super.onWorkerEvent(event, data);
  }
}
