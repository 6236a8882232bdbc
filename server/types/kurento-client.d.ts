/**
 * Types for kurento-client 7.x, written from the interface definitions that ship inside the npm
 * packages (kurento-client-core/src/core.kmd.json, kurento-client-elements/src/elements.kmd.json)
 * and from KurentoClient.js. @types/kurento-client describes 6.14 and misnames 7.x events, so
 * Montage carries its own. Only what Montage calls is declared; add more from the kmd files.
 */
declare module 'kurento-client' {
  namespace kurento {
    type MediaType = 'AUDIO' | 'VIDEO' | 'DATA';

    interface Options {
      failAfter?: number;
      strict?: boolean;
      request_timeout?: number;
      response_timeout?: number;
      duplicates_timeout?: number;
      access_token?: string;
    }

    interface Tag {
      key: string;
      value: string;
    }

    /** Fields every Kurento event carries (RaiseBase); the rest depends on the event. */
    interface KurentoEvent {
      type: string;
      source: string;
      tags: Tag[];
      timestampMillis: string;
      [field: string]: unknown;
    }

    interface ErrorEvent extends KurentoEvent {
      description: string;
      errorCode: number;
    }

    interface IceCandidate {
      candidate: string;
      sdpMid: string | null;
      sdpMLineIndex: number | null;
    }

    interface ElementConnectionData {
      source: string;
      sink: string;
      type: MediaType;
      sourceDescription: string;
      sinkDescription: string;
    }

    interface VideoInfo {
      isSeekable: boolean;
      seekableInit: number;
      seekableEnd: number;
      duration: number;
    }

    interface ModuleInfo {
      name: string;
      version: string;
      generationTime: string;
      factories: string[];
    }

    interface ServerInfo {
      version: string;
      modules: ModuleInfo[];
      type: string;
      capabilities: string[];
    }

    interface MediaObject {
      readonly id: string;
      on<E = KurentoEvent>(event: string, listener: (event: E) => void): this;
      once<E = KurentoEvent>(event: string, listener: (event: E) => void): this;
      removeListener(event: string, listener: (...args: never[]) => void): this;
      removeAllListeners(event?: string): this;
      /** Without a callback, a server error is logged and the promise resolves (see getPosition). */
      release(callback?: (error: Error | null | undefined) => void): Promise<void>;
      getName(): Promise<string>;
      setName(name: string): Promise<void>;
      getMediaPipeline(): Promise<MediaPipeline>;
      getParent(): Promise<MediaObject | null>;
      getChildren(): Promise<MediaObject[]>;
      getCreationTime(): Promise<number>;
      addTag(key: string, value: string): Promise<void>;
      getTag(key: string): Promise<string>;
      getTags(): Promise<Tag[]>;
      removeTag(key: string): Promise<void>;
      getSendTagsInEvents(): Promise<boolean>;
      setSendTagsInEvents(sendTagsInEvents: boolean): Promise<void>;
    }

    interface ServerManager extends MediaObject {
      getInfo(): Promise<ServerInfo>;
      getPipelines(): Promise<MediaPipeline[]>;
      getSessions(): Promise<string[]>;
      getCpuCount(): Promise<number>;
      getUsedCpu(interval: number): Promise<number>;
      getUsedMemory(): Promise<number>;
      getKmd(moduleName: string): Promise<string>;
      getMetadata(): Promise<string>;
    }

    /** kurento-client's node-style callback; passing one is the only way to see a server error. */
    type Callback<R = void> = (error: Error | null | undefined, result?: R) => void;

    interface MediaElement extends MediaObject {
      connect(
        sink: MediaElement,
        mediaType?: MediaType,
        sourceMediaDescription?: string,
        sinkMediaDescription?: string,
      ): Promise<void>;
      connect(sink: MediaElement, callback: Callback): Promise<void>;
      connect(sink: MediaElement, mediaType: MediaType, callback: Callback): Promise<void>;
      disconnect(
        sink: MediaElement,
        mediaType?: MediaType,
        sourceMediaDescription?: string,
        sinkMediaDescription?: string,
      ): Promise<void>;
      disconnect(sink: MediaElement, callback: Callback): Promise<void>;
      disconnect(sink: MediaElement, mediaType: MediaType, callback: Callback): Promise<void>;
      getSourceConnections(
        mediaType?: MediaType,
        description?: string,
      ): Promise<ElementConnectionData[]>;
      getSinkConnections(
        mediaType?: MediaType,
        description?: string,
      ): Promise<ElementConnectionData[]>;
      isMediaFlowingIn(mediaType: MediaType, sinkMediaDescription?: string): Promise<boolean>;
      isMediaFlowingOut(mediaType: MediaType, sourceMediaDescription?: string): Promise<boolean>;
      isMediaTranscoding(mediaType: MediaType, binName?: string): Promise<boolean>;
      getGstreamerDot(details?: string): Promise<string>;
    }

    interface SdpEndpoint extends MediaElement {
      generateOffer(options?: {
        offerToReceiveAudio?: boolean;
        offerToReceiveVideo?: boolean;
      }): Promise<string>;
      processOffer(offer: string, callback?: Callback<string>): Promise<string>;
      processAnswer(answer: string): Promise<string>;
      getLocalSessionDescriptor(): Promise<string>;
      getRemoteSessionDescriptor(): Promise<string>;
    }

    interface BaseRtpEndpoint extends SdpEndpoint {
      requestKeyframe(): Promise<void>;
      getMediaState(): Promise<'CONNECTED' | 'DISCONNECTED'>;
      getConnectionState(): Promise<'CONNECTED' | 'DISCONNECTED'>;
    }

    interface WebRtcEndpoint extends BaseRtpEndpoint {
      gatherCandidates(callback?: Callback): Promise<void>;
      addIceCandidate(candidate: IceCandidate, callback?: Callback): Promise<void>;
      getStunServerAddress(): Promise<string>;
      setStunServerAddress(stunServerAddress: string): Promise<void>;
      getStunServerPort(): Promise<number>;
      setStunServerPort(stunServerPort: number): Promise<void>;
      getTurnUrl(): Promise<string>;
      setTurnUrl(turnUrl: string): Promise<void>;
    }

    interface RtpEndpoint extends BaseRtpEndpoint {}

    interface UriEndpoint extends MediaElement {
      getUri(): Promise<string>;
      getState(): Promise<'STOP' | 'START' | 'PAUSE'>;
      pause(): Promise<void>;
      /** Without a callback, a server error is logged and the promise resolves (see getPosition). */
      stop(callback?: (error: Error | null | undefined) => void): Promise<void>;
    }

    interface PlayerEndpoint extends UriEndpoint {
      play(callback?: Callback): Promise<void>;
      /**
       * Without a callback, kurento-client turns a server error into a resolved `undefined`
       * (it installs a logging no-op callback); pass a callback to see the error.
       */
      getPosition(
        callback?: (error: (Error & { code?: number }) | null, position?: number) => void,
      ): Promise<number>;
      setPosition(position: number): Promise<void>;
      getVideoInfo(): Promise<VideoInfo>;
    }

    interface RecorderEndpoint extends UriEndpoint {
      record(callback?: Callback): Promise<void>;
      stopAndWait(): Promise<void>;
    }

    interface Hub extends MediaObject {
      createHubPort(): Promise<HubPort>;
    }

    interface HubPort extends MediaElement {}
    interface Composite extends Hub {}
    interface AlphaBlending extends Hub {
      setMaster(source: HubPort, zOrder: number, callback?: Callback): Promise<void>;
      setPortProperties(
        relativeX: number,
        relativeY: number,
        zOrder: number,
        relativeWidth: number,
        relativeHeight: number,
        port: HubPort,
        callback?: Callback,
      ): Promise<void>;
    }
    interface Dispatcher extends Hub {
      connect(source: HubPort, sink: HubPort, callback?: Callback): Promise<void>;
    }
    interface DispatcherOneToMany extends Hub {
      setSource(source: HubPort): Promise<void>;
      removeSource(): Promise<void>;
    }

    interface ElementTypes {
      WebRtcEndpoint: WebRtcEndpoint;
      RtpEndpoint: RtpEndpoint;
      PlayerEndpoint: PlayerEndpoint;
      RecorderEndpoint: RecorderEndpoint;
      Composite: Composite;
      AlphaBlending: AlphaBlending;
      Dispatcher: Dispatcher;
      DispatcherOneToMany: DispatcherOneToMany;
    }

    interface MediaPipeline extends MediaObject {
      getGstreamerDot(details?: string): Promise<string>;
      create<T extends keyof ElementTypes>(
        type: T,
        options?: Record<string, unknown>,
      ): Promise<ElementTypes[T]>;
      /**
       * Creates several elements, sent together, and calls back with them in the same order.
       * Only the callback form works: without one, kurento-client 7.2.0 calls an undefined
       * callback once the elements exist.
       */
      create(
        elements: ReadonlyArray<{ type: keyof ElementTypes; params?: Record<string, unknown> }>,
        callback: (error: Error | null | undefined, elements?: MediaElement[]) => void,
      ): void;
    }

    interface KurentoClient {
      readonly sessionId: string | undefined;
      create(type: 'MediaPipeline'): Promise<MediaPipeline>;
      getServerManager(): Promise<ServerManager>;
      getMediaobjectById(id: string): Promise<MediaObject>;
      /** Connects each element's source to the next one's sink, in order. */
      connect(...media: MediaElement[]): Promise<void>;
      close(): void;
      on(event: 'disconnect' | 'reconnected', listener: (sameSession?: boolean) => void): this;
    }

    interface Constructor {
      (uri: string, options?: Options): Promise<KurentoClient>;
      getComplexType(name: 'IceCandidate'): (value: IceCandidate) => IceCandidate;
      getComplexType(name: string): (value: object) => object;
    }
  }

  const kurento: kurento.Constructor;
  export = kurento;
}
