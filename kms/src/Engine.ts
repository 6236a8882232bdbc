import os from 'node:os';
import { CpuMonitor } from './CpuMonitor.js';
import { UriPolicy } from './objects/UriPolicy.js';
import { HttpEndpointServer } from './http/HttpEndpointServer.js';
import { HttpsUploadRelay } from './http/HttpsUploadRelay.js';
import { WorkerPool } from './worker/WorkerPool.js';
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
  /** Pids of the warm workers, running but not yet given to a pipeline (KMS_WARM_WORKERS). */
  warmWorkerPids(): number[];
}

/** How much higher than its media workers the engine's protocol thread runs, where allowed. */
const PROTOCOL_PRIORITY_BOOST = 5;

/**
 * Gives the thread that answers clients (this one) a higher CPU priority than the media
 * workers, so that `ping` and every other answer keep coming when media or worker starts
 * saturate the cores. Linux priorities are per thread and a child inherits its spawning
 * thread's: the workers are spawned by the Spawner's thread, which sets itself to the normal
 * priority, so they keep it. Raising a priority needs root or CAP_SYS_NICE; without either the
 * engine runs at its normal priority, as before.
 */
function raiseProtocolPriority(): void {
  try {
    const current = os.getPriority();
    if (current > -PROTOCOL_PRIORITY_BOOST) os.setPriority(current - PROTOCOL_PRIORITY_BOOST);
  } catch {
    // Not permitted (EACCES/EPERM): the normal priority is what an unprivileged engine gets.
  }
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
  const workers = new WorkerPool({
    settings: {
      command: config.workerPath,
      prefixArgs: [],
      iceAddresses: config.iceAddresses,
      stun: config.stun,
      turn: config.turn,
      jitterBufferMs: config.jitterBufferMs,
      logPrefix: '[warm worker]',
      startTimeoutMs: config.workerStartTimeoutMs,
      requestTimeoutMs: config.workerRequestTimeoutMs,
    },
    warm: config.warmWorkers,
    maxStarting: config.workerStartConcurrency,
    queueMs: config.pipelineQueueMs,
  });
  raiseProtocolPriority();
  const mediaSet = new MediaSet({
    workers,
    ice: { stun: config.stun, turn: config.turn },
    uris: new UriPolicy({
      fileRoots: config.fileRoots,
      playerAllowedHosts: config.playerAllowedHosts,
      recorderAllowedHosts: config.recorderAllowedHosts,
    }),
    maxPipelines: config.maxPipelines,
    cpu:
      config.maxCpuPercent > 0
        ? { limit: config.maxCpuPercent, monitor: new CpuMonitor() }
        : undefined,
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
    warmWorkerPids: () => workers.idlePids(),
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
