import { UriPolicy } from './objects/UriPolicy.js';
import { HttpEndpointServer } from './http/HttpEndpointServer.js';
import { HttpsUploadRelay } from './http/HttpsUploadRelay.js';
import { MediaSet } from './objects/MediaSet.js';
import { Methods } from './rpc/Methods.js';
import { RpcServer } from './rpc/RpcServer.js';
import { SessionRegistry } from './rpc/SessionRegistry.js';
import { defaultConfig, type EngineConfig } from './config.js';

export interface RunningEngine {
  /** ws://host:port/path */
  url: string;
  /** Stops accepting clients, releases every pipeline and waits for all workers to exit. Safe to call twice. */
  close(): Promise<void>;
  /** Pids of the live pipeline workers (tests use it to kill one). */
  workerPids(): number[];
}

/** Starts the Kurento-protocol server; `config` fields override the defaults. */
export async function startEngine(overrides: Partial<EngineConfig> = {}): Promise<RunningEngine> {
  const config: EngineConfig = { ...defaultConfig(), ...overrides };
  // The registry needs the media set and the media set asks it for session
  // ids, so the callback reads it through a holder filled right after.
  const holder: { registry?: SessionRegistry } = {};
  // Listens only once an HttpPostEndpoint is created.
  const httpsRelay = new HttpsUploadRelay();
  const http = new HttpEndpointServer({
    address: config.httpEndpointAddress,
    port: config.httpEndpointPort,
    announcedAddress: config.httpEndpointAnnouncedAddress,
    maxBytes: config.httpEndpointMaxBytes,
  });
  const mediaSet = new MediaSet({
    worker: {
      command: config.workerPath,
      prefixArgs: [],
      iceAddresses: config.iceAddresses,
      stun: config.stun,
      turn: config.turn,
      jitterBufferMs: config.jitterBufferMs,
      logPrefix: '[worker]',
      startTimeoutMs: config.workerStartTimeoutMs,
    },
    ice: { stun: config.stun, turn: config.turn },
    uris: new UriPolicy({
      fileRoots: config.fileRoots,
      playerAllowedHosts: config.playerAllowedHosts,
      recorderAllowedHosts: config.recorderAllowedHosts,
    }),
    maxPipelines: config.maxPipelines,
    recorderOverwrite: config.recorderOverwrite,
    rtpIpv6Address: config.rtpIpv6Address,
    http,
    httpsRelay,
    sessions: () => holder.registry?.ids() ?? [],
  });
  const sessions = new SessionRegistry(mediaSet, config.sessionGcSeconds * 1000);
  holder.registry = sessions;
  const server = await RpcServer.listen(
    {
      host: config.host,
      port: config.port,
      path: config.path,
      maxMessageBytes: config.maxMessageBytes,
      access: { allowedOrigins: config.allowedOrigins, authToken: config.authToken },
    },
    new Methods(mediaSet, sessions),
    sessions,
  );
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    workerPids: () =>
      mediaSet
        .pipelines()
        .map((pipeline) => pipeline.workerPid)
        .filter((pid): pid is number => pid !== undefined),
    close: () => {
      closing ??= (async () => {
        await server.close();
        sessions.close();
        await mediaSet.closeAll();
        await http.close();
        await httpsRelay.close();
      })();
      return closing;
    },
  };
}
