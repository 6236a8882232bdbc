import { randomUUID } from 'node:crypto';
import { KurentoError } from '../rpc/KurentoError.js';
import type { JsonObject } from '../worker/Channel.js';
import { BaseRtpEndpoint } from './BaseRtpEndpoint.js';
import type { Args, ObjectHost } from './MediaObject.js';
import type { MediaPipeline } from './MediaPipeline.js';
import { addAttributeToAcceptedMedias, addMediaAttribute, setDefaultAddress } from './sdpText.js';

export interface IceDefaults {
  /** "host:port" from KMS_STUN, if any. */
  stun: string | undefined;
  /** "user:pass@host:port" from KMS_TURN, if any. */
  turn: string | undefined;
}

interface QueuedCandidate {
  candidate: string;
  sdpMid: string;
  sdpMLineIndex: number;
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

/** Ids may arrive as numbers or strings; Kurento types some of them as String. */
function idText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function int(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : fallback;
}

/** A candidate as an SDP attribute: `candidate:...` without any `a=`. */
function candidateAttribute(candidate: string): string {
  return candidate.startsWith('a=') ? candidate.slice(2) : candidate;
}

/** The `ufrag` extension of a candidate line (Chromium and libnice write it), if any. */
function candidateUfrag(attribute: string): string | undefined {
  const fields = attribute.split(' ');
  const at = fields.indexOf('ufrag');
  return at >= 0 ? fields[at + 1] : undefined;
}

/** Whether a remote description carries this ICE username fragment. */
function hasUfrag(sdp: string, ufrag: string): boolean {
  return sdp.split(/\r?\n/).some((line) => line === `a=ice-ufrag:${ufrag}`);
}

interface LocalCandidate {
  component: number;
  priority: number;
  address: string;
  port: number;
}

/** `candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE ...` */
function parseCandidate(attribute: string): LocalCandidate | undefined {
  const fields = attribute.split(' ');
  const candidate = {
    component: Number(fields[1]),
    priority: Number(fields[3]),
    address: fields[4] ?? '',
    port: Number(fields[5]),
  };
  if (!Number.isFinite(candidate.priority) || !Number.isFinite(candidate.port)) return undefined;
  return candidate;
}

/**
 * Kurento's WebRtcEndpoint backed by webrtcbin in the worker. Remote ICE
 * candidates that arrive before the remote description (or before the re-offer of their ICE
 * generation) are queued here and sent once it is set; per-endpoint STUN/TURN settings reach the worker just
 * before the first SDP step or candidate gathering.
 */
export class WebRtcEndpoint extends BaseRtpEndpoint {
  protected readonly sdpMethodPrefix = 'webrtc';
  readonly #useDataChannels: boolean;
  readonly #queuedCandidates: QueuedCandidate[] = [];
  readonly #candidatePairs: Args[] = [];
  readonly #localCandidates: LocalCandidate[] = [];
  readonly #iceStates = new Map<string, Args>();
  readonly #dtlsStates = new Map<string, Args>();
  #stunServerAddress: string;
  #stunServerPort: number;
  #turnUrl: string;
  #iceServersDirty = false;

  private constructor(
    host: ObjectHost,
    pipeline: MediaPipeline,
    useDataChannels: boolean,
    ice: IceDefaults,
  ) {
    super(
      host,
      'WebRtcEndpoint',
      `${pipeline.id}/${randomUUID()}_kurento.WebRtcEndpoint`,
      pipeline,
    );
    this.#useDataChannels = useDataChannels;
    const [stunHost, stunPort] = (ice.stun ?? '').split(':');
    this.#stunServerAddress = stunHost ?? '';
    this.#stunServerPort = stunPort ? Number(stunPort) : 0;
    this.#turnUrl = ice.turn ?? '';
  }

  static async create(
    host: ObjectHost,
    pipeline: MediaPipeline,
    params: Args,
    ice: IceDefaults,
  ): Promise<WebRtcEndpoint> {
    const endpoint = new WebRtcEndpoint(host, pipeline, params.useDataChannels === true, ice);
    await endpoint.createInWorker({
      recvonly: params.recvonly === true,
      sendonly: params.sendonly === true,
    });
    return endpoint;
  }

  protected override getProperty(name: string): unknown {
    switch (name) {
      case 'stunServerAddress':
        return this.#stunServerAddress;
      case 'stunServerPort':
        return this.#stunServerPort;
      case 'turnUrl':
        return this.#turnUrl;
      case 'networkInterfaces':
      case 'externalIPv4':
      case 'externalIPv6':
        return this.storedProperty(name) ?? '';
      case 'iceTcp':
        return this.storedProperty(name) ?? true;
      case 'ICECandidatePairs':
        return [...this.#candidatePairs];
      case 'IceConnectionState':
        return [...this.#iceStates.values()];
      case 'DtlsConnectionState':
        return [...this.#dtlsStates.values()];
      default:
        return super.getProperty(name);
    }
  }

  protected override setProperty(name: string, value: unknown): void | Promise<void> {
    switch (name) {
      case 'stunServerAddress':
        this.#stunServerAddress = str(value);
        this.#iceServersDirty = true;
        return;
      case 'stunServerPort':
        this.#stunServerPort = int(value);
        this.#iceServersDirty = true;
        return;
      case 'turnUrl':
        this.#turnUrl = str(value);
        this.#iceServersDirty = true;
        return;
      default:
        return super.setProperty(name, value);
    }
  }

  protected override async callMethod(name: string, args: Args): Promise<unknown> {
    switch (name) {
      case 'gatherCandidates':
        await this.beforeNegotiation();
        await this.request('webrtc.gatherCandidates', {}, { sdp: 'ICE_GATHER_CANDIDATES_ERROR' });
        return null;
      case 'addIceCandidate':
        await this.#addIceCandidate(args.candidate);
        return null;
      case 'createDataChannel':
      case 'closeDataChannel':
        if (!this.#useDataChannels) {
          throw new KurentoError(
            'MEDIA_OBJECT_OPERATION_NOT_SUPPORTED',
            'Data channels are not enabled in this endpoint',
          );
        }
        return this.unsupported(name);
      default:
        return super.callMethod(name, args);
    }
  }

  protected override async beforeNegotiation(): Promise<void> {
    if (!this.#iceServersDirty) return;
    this.#iceServersDirty = false;
    const params: JsonObject = {};
    if (this.#stunServerAddress)
      params.stunServer = `stun://${this.#stunServerAddress}:${this.#stunServerPort || 3478}`;
    if (this.#turnUrl) params.turnUrl = this.#turnUrl;
    await this.request('webrtc.setIceServers', params);
  }

  protected override async afterRemoteDescription(): Promise<void> {
    const queued = this.#queuedCandidates.splice(0);
    for (const candidate of queued) {
      await this.#applyRemoteCandidate(candidate);
    }
  }

  /** Kurento adds every remote candidate to the remote description it returns. */
  async #applyRemoteCandidate(candidate: QueuedCandidate): Promise<void> {
    await this.request('webrtc.addIceCandidate', { ...candidate });
    this.editRemoteSdp((sdp) =>
      addMediaAttribute(sdp, candidate.sdpMLineIndex, candidateAttribute(candidate.candidate)),
    );
  }

  /**
   * Kurento writes each local candidate into every accepted media section of the local
   * description, and once gathering is done puts the default candidate (libnice's: the one of
   * lowest priority for the RTP component) in the m= and c= lines.
   */
  #noteLocalCandidate(candidate: string): void {
    const attribute = candidateAttribute(candidate);
    this.editLocalSdp((sdp) => addAttributeToAcceptedMedias(sdp, attribute));
    const parsed = parseCandidate(attribute);
    if (parsed !== undefined) this.#localCandidates.push(parsed);
  }

  #noteGatheringDone(): void {
    let chosen: LocalCandidate | undefined;
    for (const candidate of this.#localCandidates) {
      if (candidate.component !== 1) continue;
      if (chosen === undefined || candidate.priority < chosen.priority) chosen = candidate;
    }
    if (chosen === undefined) return;
    const { address, port } = chosen;
    this.editLocalSdp((sdp) => setDefaultAddress(sdp, address, port));
  }

  async #addIceCandidate(value: unknown): Promise<void> {
    const record = (typeof value === 'object' && value !== null ? value : {}) as Record<
      string,
      unknown
    >;
    const candidate: QueuedCandidate = {
      candidate: str(record.candidate),
      sdpMid: str(record.sdpMid),
      sdpMLineIndex: int(record.sdpMLineIndex),
    };
    // An empty candidate is the browser's end-of-candidates marker; KMS ignores it.
    if (candidate.candidate.length === 0) return;
    // A candidate of an ICE generation that the worker does not know yet (the browser trickles
    // an ICE restart's candidates before the app passes on its re-offer) waits for that offer:
    // applied now, it would be checked with the old credentials.
    const ufrag = candidateUfrag(candidateAttribute(candidate.candidate));
    const remote = this.remoteSdp;
    if (remote === undefined || (ufrag !== undefined && !hasUfrag(remote, ufrag))) {
      this.#queuedCandidates.push(candidate);
      return;
    }
    await this.#applyRemoteCandidate(candidate);
  }

  override onWorkerEvent(event: string, data: JsonObject): void {
    switch (event) {
      case 'IceCandidateFound':
        this.#noteLocalCandidate(str(data.candidate));
        this.raise('IceCandidateFound', {
          candidate: {
            __module__: 'kurento',
            __type__: 'IceCandidate',
            candidate: str(data.candidate),
            sdpMid: str(data.sdpMid),
            sdpMLineIndex: int(data.sdpMLineIndex),
          },
        });
        return;
      case 'IceGatheringDone':
        this.#noteGatheringDone();
        this.raise('IceGatheringDone');
        return;
      case 'IceComponentStateChanged': {
        const streamId = int(data.streamId);
        const componentId = int(data.componentId);
        const state = str(data.state, 'DISCONNECTED');
        this.#iceStates.set(`${streamId}/${componentId}`, {
          __module__: 'kurento',
          __type__: 'IceConnection',
          streamId: String(streamId),
          componentId,
          state,
        });
        this.raise('IceComponentStateChanged', { streamId, componentId, state });
        if (state === 'CONNECTED' || state === 'READY') this.setConnectionState('CONNECTED');
        else if (state === 'FAILED' || state === 'DISCONNECTED')
          this.setConnectionState('DISCONNECTED');
        return;
      }
      case 'NewCandidatePairSelected': {
        const pair = {
          __module__: 'kurento',
          __type__: 'IceCandidatePair',
          streamId: idText(data.streamId),
          componentId: int(data.componentId),
          localCandidate: str(data.localCandidate),
          remoteCandidate: str(data.remoteCandidate),
        };
        this.#candidatePairs.push(pair);
        this.raise('NewCandidatePairSelected', { candidatePair: pair });
        return;
      }
      case 'IceConnectionState': {
        const state = str(data.state);
        if (state === 'connected' || state === 'completed') this.setConnectionState('CONNECTED');
        else if (state === 'failed' || state === 'disconnected' || state === 'closed')
          this.setConnectionState('DISCONNECTED');
        return;
      }
      case 'DtlsConnectionStateChange': {
        const payload = {
          streamId: idText(data.streamId),
          componentId: idText(data.componentId),
          connectionId: idText(data.connectionId),
          state: str(data.state, 'NEW'),
        };
        this.#dtlsStates.set(`${payload.streamId}/${payload.componentId}`, {
          __module__: 'kurento',
          __type__: 'DtlsConnection',
          ...payload,
        });
        this.raise('DtlsConnectionStateChange', payload);
        return;
      }
      default:
        super.onWorkerEvent(event, data);
    }
  }
}
