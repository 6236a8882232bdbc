/**
 * One assembly of a feature test: created through REST with the operator token, with its
 * moderator's socket, the cameras that joined it and the presenter's program monitor, all closed
 * together. Cameras and monitors are pages in browsers the test file launched once.
 */
import { mkdir } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { parseAssemblyId } from '../../server/domain/ids.js';
import type {
  AssemblyWire,
  CutRequest,
  LayoutWire,
  ProgramWire,
} from '../../server/signaling/events.js';
import type { PaletteName } from '../helpers/media.js';
import { createAssembly } from '../server/appHelpers.js';
import { CameraClient } from './CameraClient.js';
import { connectPage, welcomed } from './drivers.js';
import { MonitorClient } from './MonitorClient.js';
import { call, type Client, mintToken, type Stack } from './stack.js';

/** What scenes share: the running stack and the browsers. */
export interface SceneContext {
  stack: Stack;
  /** A Chromium per colour, whose fake camera plays a picture of that colour. */
  cameraBrowsers: ReadonlyMap<PaletteName, Browser>;
  /** A Chromium for program monitors. */
  monitorBrowser: Browser;
}

export class Scene {
  readonly assemblyId: string;
  readonly moderator: Client;
  readonly cameras: CameraClient[] = [];
  readonly #context: SceneContext;
  #monitor: MonitorClient | undefined;
  #previewMonitor: MonitorClient | undefined;

  private constructor(context: SceneContext, assemblyId: string, moderator: Client) {
    this.#context = context;
    this.assemblyId = assemblyId;
    this.moderator = moderator;
  }

  /** Creates an assembly named `name` (live, or backstage) and connects its moderator. */
  static async open(
    context: SceneContext,
    name: string,
    options: { live?: boolean } = {},
  ): Promise<Scene> {
    const { app, dataDir, operatorToken } = context.stack;
    const running = {
      app,
      url: app.url,
      dataDir,
      operatorToken,
      teardown: () => Promise.resolve(),
    };
    const created = await createAssembly(running, name, options);
    const moderator = connectPage(app.url, { token: created.moderatorToken, assembly: created.id });
    try {
      await welcomed(moderator);
    } catch (error) {
      moderator.close();
      throw error;
    }
    return new Scene(context, created.id, moderator);
  }

  /**
   * The folder of this assembly's media library (MediaLibrary.folder: its own in assembly scope),
   * created, where a test places the clips it cuts to.
   */
  async libraryFolder(): Promise<string> {
    const folder = this.#context.stack.app.library.folder(parseAssemblyId(this.assemblyId));
    await mkdir(folder, { recursive: true });
    return folder;
  }

  /** A camera of `colour` joins and publishes, with a camera key if given. */
  async join(colour: PaletteName, cameraKey?: string): Promise<CameraClient> {
    const browser = this.#context.cameraBrowsers.get(colour);
    if (browser === undefined) throw new Error(`no camera browser plays ${colour}`);
    const { app } = this.#context.stack;
    const camera = await CameraClient.join({
      url: app.url,
      token: mintToken(app, this.assemblyId, 'camera'),
      assembly: this.assemblyId,
      browser,
      colour,
      ...(cameraKey === undefined ? {} : { cameraKey }),
    });
    this.cameras.push(camera);
    return camera;
  }

  /** Opens the presenter's program monitor. */
  async openMonitor(): Promise<MonitorClient> {
    const { app } = this.#context.stack;
    this.#monitor = await MonitorClient.open({
      url: app.url,
      token: mintToken(app, this.assemblyId, 'presenter'),
      assembly: this.assemblyId,
      browser: this.#context.monitorBrowser,
    });
    return this.#monitor;
  }

  /** Opens a studio's preview monitor (a presenter's socket of its own). */
  async openPreview(): Promise<MonitorClient> {
    const { app } = this.#context.stack;
    this.#previewMonitor = await MonitorClient.open({
      url: app.url,
      token: mintToken(app, this.assemblyId, 'presenter'),
      assembly: this.assemblyId,
      browser: this.#context.monitorBrowser,
      bus: 'preview',
    });
    return this.#previewMonitor;
  }

  /** The moderator's `program:cut`. */
  async cut(payload: CutRequest): Promise<ProgramWire> {
    return call<ProgramWire>(this.moderator.timeout(20_000).emitWithAck('program:cut', payload));
  }

  /** The moderator's `preview:set`. */
  async preview(payload: CutRequest): Promise<ProgramWire> {
    return call<ProgramWire>(this.moderator.timeout(20_000).emitWithAck('preview:set', payload));
  }

  /** The moderator's `preview:take`. */
  async take(): Promise<{ program: ProgramWire; preview: ProgramWire }> {
    return call<{ program: ProgramWire; preview: ProgramWire }>(
      this.moderator.timeout(20_000).emitWithAck('preview:take', {}),
    );
  }

  /** The moderator's `layout:set`; rejects with the server's error when refused. */
  async layout(payload: {
    layout: LayoutWire;
    maxTiles?: number;
    cameras?: string[] | null;
  }): Promise<AssemblyWire> {
    return call<AssemblyWire>(this.moderator.timeout(20_000).emitWithAck('layout:set', payload));
  }

  /** The moderator's `camera:mute`. */
  async mute(cameraId: string, muted: boolean): Promise<void> {
    await call<null>(
      this.moderator.timeout(10_000).emitWithAck('camera:mute', { cameraId, muted }),
    );
  }

  /** The moderator's `recording:set`. */
  async record(on: boolean): Promise<void> {
    await call<{ on: boolean }>(
      this.moderator.timeout(10_000).emitWithAck('recording:set', { on }),
    );
  }

  async close(): Promise<void> {
    this.moderator.close();
    for (const camera of this.cameras) await camera.close();
    await this.#monitor?.close();
    await this.#previewMonitor?.close();
  }
}
