import type { WorkerPool } from '../worker/WorkerPool.js';
import { KurentoError } from '../rpc/KurentoError.js';
import type { Args, MediaObject, ObjectHost } from './MediaObject.js';
import { MediaPipeline } from './MediaPipeline.js';
import { PlayerEndpoint } from './PlayerEndpoint.js';
import { RecorderEndpoint } from './RecorderEndpoint.js';
import { RtpEndpoint } from './RtpEndpoint.js';
import { AlphaBlending } from './AlphaBlending.js';
import { Composite } from './Composite.js';
import { Dispatcher } from './Dispatcher.js';
import { DispatcherOneToMany } from './DispatcherOneToMany.js';
import { HubPort } from './HubPort.js';
import { FaceOverlayFilter } from './FaceOverlayFilter.js';
import { GStreamerFilter } from './GStreamerFilter.js';
import { ImageOverlayFilter } from './ImageOverlayFilter.js';
import { ZBarFilter } from './ZBarFilter.js';
import { HttpPostEndpoint } from './HttpPostEndpoint.js';
import type { HttpEndpointServer } from '../http/HttpEndpointServer.js';
import type { HttpsUploadRelay } from '../http/HttpsUploadRelay.js';
import { PassThrough } from './PassThrough.js';
import type { UriPolicy } from './UriPolicy.js';
import { WebRtcEndpoint, type IceDefaults } from './WebRtcEndpoint.js';

export interface FactoryContext {
  host: ObjectHost;
  /** Running workers for new pipelines. */
  workers: WorkerPool;
  ice: IceDefaults;
  /** Where players may read and recorders write (KMS_FILE_ROOTS, KMS_PLAYER_ALLOWED_HOSTS). */
  uris: UriPolicy;
  /** Recorders may replace an existing file (KMS_RECORDER_OVERWRITE), as Kurento does. */
  recorderOverwrite: boolean;
  /** Where an RtpEndpoint created with useIpv6 binds (KMS_RTP_IPV6_ADDRESS). */
  rtpIpv6Address: string;
  /** The HTTP server HttpPostEndpoints receive their media on. */
  http: HttpEndpointServer;
  /** Carries recorders' https:// uploads (curlhttpsink cannot do TLS here). */
  httpsRelay: HttpsUploadRelay;
  /** The constructor params exactly as the client sent them (before kmd defaults). */
  requested?: Args;
}

interface Factory {
  /** kmd module the class belongs to (reported by ServerManager.getInfo). */
  module: 'core' | 'elements' | 'filters';
  create(context: FactoryContext, params: Args): Promise<MediaObject>;
}

function pipelineArgument(context: FactoryContext, params: Args): MediaPipeline {
  const id = String(params.mediaPipeline);
  const pipeline = context.host.resolveArgument(id);
  if (!(pipeline instanceof MediaPipeline)) throw KurentoError.objectNotFound(id);
  return pipeline;
}

/**
 * The classes `create` accepts. Only what the engine implements is listed, so
 * getInfo never advertises a factory that would fail; any other Kurento type
 * gets 40108 "Factory 'X' not found", as KMS answers for unknown types.
 */
export const FACTORIES: ReadonlyMap<string, Factory> = new Map<string, Factory>([
  [
    'MediaPipeline',
    { module: 'core', create: (context) => MediaPipeline.create(context.host, context.workers) },
  ],
  [
    'WebRtcEndpoint',
    {
      module: 'elements',
      create: (context, params) =>
        WebRtcEndpoint.create(context.host, pipelineArgument(context, params), params, context.ice),
    },
  ],
  [
    'PlayerEndpoint',
    {
      module: 'elements',
      create: (context, params) =>
        PlayerEndpoint.create(
          context.host,
          pipelineArgument(context, params),
          params,
          context.uris,
        ),
    },
  ],
  [
    'RtpEndpoint',
    {
      module: 'elements',
      create: (context, params) =>
        RtpEndpoint.create(
          context.host,
          pipelineArgument(context, params),
          params,
          params.useIpv6 === true ? context.rtpIpv6Address : undefined,
        ),
    },
  ],
  [
    'RecorderEndpoint',
    {
      module: 'elements',
      create: (context, params) =>
        RecorderEndpoint.create(
          context.host,
          pipelineArgument(context, params),
          params,
          context.uris,
          context.recorderOverwrite,
          context.httpsRelay,
        ),
    },
  ],
  [
    'PassThrough',
    {
      module: 'core',
      create: (context, params) =>
        PassThrough.create(context.host, pipelineArgument(context, params)),
    },
  ],
  [
    'HttpPostEndpoint',
    {
      module: 'elements',
      create: (context, params) =>
        HttpPostEndpoint.create(
          context.host,
          pipelineArgument(context, params),
          params,
          context.http,
        ),
    },
  ],
  [
    'HubPort',
    { module: 'core', create: (context, params) => HubPort.create(context.host, params) },
  ],
  [
    'Composite',
    {
      module: 'elements',
      create: (context, params) =>
        Composite.create(context.host, pipelineArgument(context, params), context.requested ?? {}),
    },
  ],
  [
    'AlphaBlending',
    {
      module: 'elements',
      create: (context, params) =>
        AlphaBlending.create(context.host, pipelineArgument(context, params)),
    },
  ],
  [
    'Dispatcher',
    {
      module: 'elements',
      create: (context, params) =>
        Dispatcher.create(context.host, pipelineArgument(context, params)),
    },
  ],
  [
    'DispatcherOneToMany',
    {
      module: 'elements',
      create: (context, params) =>
        DispatcherOneToMany.create(context.host, pipelineArgument(context, params)),
    },
  ],
  [
    'GStreamerFilter',
    {
      module: 'filters',
      create: (context, params) =>
        GStreamerFilter.create(context.host, pipelineArgument(context, params), params),
    },
  ],
  [
    'ZBarFilter',
    {
      module: 'filters',
      create: (context, params) =>
        ZBarFilter.create(context.host, pipelineArgument(context, params)),
    },
  ],
  [
    'ImageOverlayFilter',
    {
      module: 'filters',
      create: (context, params) =>
        ImageOverlayFilter.create(context.host, pipelineArgument(context, params), context.uris),
    },
  ],
  [
    'FaceOverlayFilter',
    {
      module: 'filters',
      create: (context, params) =>
        FaceOverlayFilter.create(context.host, pipelineArgument(context, params), context.uris),
    },
  ],
]);

/** Factory names grouped by kmd module, for ServerManager.getInfo. */
export function factoriesByModule(): Map<string, string[]> {
  const byModule = new Map<string, string[]>([
    ['core', []],
    ['elements', []],
    ['filters', []],
  ]);
  for (const [name, factory] of FACTORIES) byModule.get(factory.module)?.push(name);
  for (const list of byModule.values()) list.sort();
  return byModule;
}
