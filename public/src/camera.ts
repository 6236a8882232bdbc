/**
 * The camera page: a classroom device or a student's laptop joins with its invite link, picks a
 * camera and microphone, sees its own preview and publishes both to the assembly over WebRTC
 * (`camera:offer`, trickled `camera:candidate`s). An ON AIR mark shows while its picture is on
 * the program. After a dropped connection it publishes again once the server welcomes it back.
 *
 * The page keeps a random camera key for its tab (sessionStorage, so a reload keeps it and
 * another tab gets its own) and sends it when it connects: reloaded or reconnected within the
 * server's grace period, it gets its camera back, with its place in the grid.
 *
 * A camera the moderator removed, or whose link was revoked, stops for good: the page says why,
 * turns the camera off, offers no Rejoin and does not reconnect. The server refuses a removed
 * camera's key from then on, and the page also remembers the removal for its tab (and link), so
 * a reload shows the same message without connecting.
 */
import './lib/style.css';
import type { AssemblyWire, ParticipantWire } from '../../server/signaling/events.js';
import {
  connect,
  pageAssembly,
  pageToken,
  request,
  RequestError,
  setStatus,
  type SignalingSocket,
} from './lib/connect.js';
import { appRoot, errorMessage, h, Notice, replaceChildren, VideoOverlay } from './lib/dom.js';
import { PeerSession, retryDelayMs } from './lib/webrtc.js';
import { sendThumbnails } from './lib/thumbnails.js';

/** A new random key: 18 bytes (144 bits) in base64url, 24 characters. */
function randomCameraKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
}

/** What the page says when the moderator removed it (the server's `removed` message too). */
const ENDED_MESSAGE = 'The assembly has ended. Thank you! You can close this page.';
const REMOVED_MESSAGE = 'The moderator removed this camera from the assembly.';
const REVOKED_MESSAGE = 'This link was revoked; ask your teacher for a new one.';

/** Where this tab remembers that its camera was removed from `assembly`: the link it used. */
function removalItem(assembly: string): string {
  return `montage.removed.${assembly}`;
}

/** True when this tab's camera was removed from `assembly` while it used this very link. */
function wasRemoved(assembly: string): boolean {
  try {
    return sessionStorage.getItem(removalItem(assembly)) === pageToken();
  } catch {
    return false;
  }
}

function rememberRemoval(assembly: string): void {
  try {
    sessionStorage.setItem(removalItem(assembly), pageToken());
  } catch {
    // No session storage: the server still refuses this camera's key.
  }
}

/** This tab's camera key for `assembly`; undefined when the browser keeps no session storage. */
function cameraKey(assembly: string): string | undefined {
  const item = `montage.cameraKey.${assembly}`;
  try {
    // A new link opened in a tab whose camera was removed is a new camera: the server refuses
    // the removed camera's key, so the tab takes a fresh one.
    if (sessionStorage.getItem(removalItem(assembly)) !== null) {
      sessionStorage.removeItem(removalItem(assembly));
      sessionStorage.removeItem(item);
    }
    const stored = sessionStorage.getItem(item);
    if (stored !== null && /^[A-Za-z0-9_-]{22,64}$/.test(stored)) return stored;
    const key = randomCameraKey();
    sessionStorage.setItem(item, key);
    return key;
  } catch {
    // Storage is disabled (a privacy setting): the page still works, a reload joins anew.
    return undefined;
  }
}

type PublishState =
  | { kind: 'idle' }
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'retrying'; why: string; delayMs: number }
  | { kind: 'stopped'; why: string };

class CameraPage {
  readonly #socket: SignalingSocket;
  readonly #video = h('video', {
    autoplay: true,
    playsinline: true,
    muted: true,
    'aria-label': 'Your camera preview',
  });
  readonly #overlay = new VideoOverlay();
  readonly #onAir = h('span', { class: 'badge onair', hidden: true, role: 'status' }, 'ON AIR');
  readonly #cameraSelect = h('select', { id: 'camera-select', name: 'camera' });
  readonly #micSelect = h('select', { id: 'mic-select', name: 'microphone' });
  readonly #micButton = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Mute microphone');
  readonly #publishState = h('p', { class: 'notice', id: 'publish-state', 'aria-live': 'polite' });
  readonly #cameraId = h('span', { class: 'muted small' });
  readonly #problems = new Notice('assertive');
  readonly #rejoin = h('button', { type: 'button', class: 'primary', hidden: true }, 'Rejoin');
  /** The camera's name as the crew sees it (the server's: an invite label or a rename). */
  readonly #name = h('p', { id: 'camera-name', class: 'big-name' });
  /** Says so while the moderator has muted this camera's microphone in the assembly. */
  readonly #moderatorMute = h(
    'p',
    { class: 'notice', id: 'moderator-mute', 'data-tone': 'warn', hidden: true, role: 'status' },
    'Muted by the moderator: your microphone is not heard in the assembly. Your picture still is.',
  );
  readonly #phase = h('p', { class: 'notice', id: 'camera-phase', 'aria-live': 'polite' });
  #participantId: string | undefined;
  #stream: MediaStream | undefined;
  #session: PeerSession | undefined;
  #welcomed = false;
  /** Set when a newer connection of this camera took over (see 'request:error'). */
  #replaced = false;
  /** Why the server ended this camera for good (removed, link revoked): no Rejoin then. */
  #ended: string | undefined;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.#video.muted = true;
    this.#socket = connect({
      rejoinAfterServerDisconnect: false,
      cameraKey: cameraKey(pageAssembly()),
    });
    this.#render();
    this.#setPublish({ kind: 'idle' });

    this.#socket.on('welcome', (welcome) => {
      this.#participantId = welcome.you.id;
      this.#showIdentity(welcome.you);
      this.#showPhase(welcome.assembly);
      if (this.#ended !== undefined) return;
      this.#welcomed = true;
      this.#cameraId.textContent =
        welcome.you.cameraId === undefined ? '' : `Camera id ${welcome.you.cameraId}`;
      this.#attempt = 0;
      this.#publish();
    });
    this.#socket.on('disconnect', (reason) => {
      this.#welcomed = false;
      this.#stopPublishing();
      this.#onAir.hidden = true;
      if (this.#ended !== undefined) {
        this.#end(this.#ended);
      } else if (reason === 'io server disconnect') {
        this.#setPublish({
          kind: 'stopped',
          why: this.#replaced
            ? 'This camera was opened again in another tab or window, which sends it now.'
            : 'The server ended the connection: a moderator may have removed this camera, or the server restarted.',
        });
        this.#replaced = false;
        this.#rejoin.hidden = false;
      } else {
        this.#setPublish({ kind: 'connecting' });
      }
    });
    this.#socket.on('connect', () => (this.#rejoin.hidden = true));
    this.#rejoin.addEventListener('click', () => this.#socket.connect());
    this.#socket.on('camera:candidate', (candidate) =>
      this.#session?.addRemoteCandidate(candidate),
    );
    // The media server restarted: the old peer connection is dead, publish again.
    this.#socket.on('media:reset', () => {
      this.#attempt = 0;
      this.#publish();
    });
    this.#socket.on('camera:onAir', ({ onAir }) => {
      this.#onAir.hidden = !onAir;
    });
    this.#socket.on('participant:updated', (participant) => {
      if (participant.id === this.#participantId) this.#showIdentity(participant);
    });
    this.#socket.on('assembly:updated', (assembly) => this.#showPhase(assembly));
    this.#socket.on('assembly:deleted', () =>
      this.#setPublish({ kind: 'stopped', why: 'The assembly was deleted.' }),
    );
    // The same camera connected again elsewhere (a copy of this tab): this page stops.
    this.#socket.on('request:error', (failure) => {
      if (failure.code === 'camera_reconnected') this.#replaced = true;
      if (failure.code === 'removed') {
        rememberRemoval(pageAssembly());
        this.#ended = REMOVED_MESSAGE;
      }
      if (failure.code === 'token_revoked') this.#ended = REVOKED_MESSAGE;
    });
    // Refused at the handshake: removed earlier (a reload), or the link was revoked.
    this.#socket.on('connect_error', (error: Error & { data?: { code?: string } }) => {
      if (error.data?.code === 'removed') {
        rememberRemoval(pageAssembly());
        this.#end(REMOVED_MESSAGE);
      } else if (error.data?.code === 'token_revoked') {
        this.#end(REVOKED_MESSAGE);
      }
    });

    this.#cameraSelect.addEventListener('change', () => void this.#switchDevice('video'));
    this.#micSelect.addEventListener('change', () => void this.#switchDevice('audio'));
    this.#micButton.addEventListener('click', () => this.#toggleMic());
    navigator.mediaDevices?.addEventListener('devicechange', () => void this.#listDevices());
    void this.#startPreview();
    // The crew's panel shows a live thumbnail of every camera.
    sendThumbnails(this.#socket, this.#video);
  }

  #render(): void {
    this.#overlay.show('Starting your camera…', { busy: true });
    const preview = h(
      'div',
      { class: 'video-box mirror' },
      this.#video,
      this.#onAir,
      this.#overlay.element,
    );
    replaceChildren(
      appRoot(),
      h(
        'div',
        { class: 'layout two' },
        h(
          'section',
          { class: 'card stack', 'aria-label': 'Preview' },
          preview,
          this.#publishState,
          h('div', { class: 'row' }, this.#rejoin),
        ),
        h(
          'section',
          { class: 'card stack', 'aria-labelledby': 'devices-title' },
          this.#name,
          this.#phase,
          this.#moderatorMute,
          h('h2', { id: 'devices-title' }, 'Camera and microphone'),
          h('label', { class: 'field', for: 'camera-select' }, 'Camera', this.#cameraSelect),
          h('label', { class: 'field', for: 'mic-select' }, 'Microphone', this.#micSelect),
          h('div', { class: 'row' }, this.#micButton),
          this.#problems.element,
          this.#cameraId,
        ),
      ),
    );
  }

  #showIdentity(you: ParticipantWire): void {
    this.#name.textContent = you.name === undefined ? '' : `You are “${you.name}”`;
    this.#moderatorMute.hidden = you.muted !== true;
  }

  /** Backstage, live or ended, as this camera's person needs to know it. */
  #showPhase(assembly: AssemblyWire): void {
    const phase = assembly.phase ?? 'live';
    this.#phase.dataset.phase = phase;
    // The tally says whether people see this camera: backstage only the crew does.
    this.#onAir.textContent = phase === 'backstage' ? 'IN THE MIX · REHEARSAL' : 'ON AIR';
    if (phase === 'backstage') {
      this.#phase.dataset.tone = 'info';
      this.#phase.textContent =
        'Backstage: the crew sees your camera for the rehearsal; nothing is broadcast yet.';
    } else if (phase === 'live') {
      this.#phase.dataset.tone = 'ok';
      this.#phase.textContent = 'The assembly is live.';
    } else {
      this.#phase.dataset.tone = 'info';
      this.#phase.textContent = 'The assembly has ended.';
      if (this.#ended === undefined) this.#end(ENDED_MESSAGE);
    }
  }

  /** Stops for good: says why, turns the camera and microphone off, offers no Rejoin. */
  #end(why: string): void {
    this.#ended = why;
    this.#stopPublishing();
    this.#socket.disconnect();
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    this.#video.srcObject = null;
    this.#overlay.show(why, { bad: true });
    this.#rejoin.hidden = true;
    this.#onAir.hidden = true;
    // Nothing left to choose: the devices are off and the page will not send again.
    this.#cameraSelect.disabled = true;
    this.#micSelect.disabled = true;
    this.#micButton.disabled = true;
    this.#setPublish({ kind: 'stopped', why });
  }

  #setPublish(state: PublishState): void {
    const element = this.#publishState;
    element.dataset.state = state.kind;
    switch (state.kind) {
      case 'idle':
        element.dataset.tone = 'info';
        element.textContent = 'Not sending yet.';
        break;
      case 'connecting':
        element.dataset.tone = 'warn';
        element.textContent = this.#socket.connected
          ? 'Connecting your camera to the assembly…'
          : 'Connection lost, retrying…';
        break;
      case 'live':
        element.dataset.tone = 'ok';
        element.textContent = 'Sending your camera to the assembly.';
        break;
      case 'retrying':
        element.dataset.tone = 'warn';
        element.textContent = `${state.why} Retrying in ${Math.round(state.delayMs / 1000)} s.`;
        break;
      case 'stopped':
        element.dataset.tone = 'bad';
        element.textContent = state.why;
        break;
    }
  }

  async #startPreview(): Promise<void> {
    try {
      this.#stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (error) {
      if (this.#ended === undefined) this.#showDeviceError(error);
      return;
    }
    // Ended while the browser was asking for the devices: leave them off.
    if (this.#ended !== undefined) {
      for (const track of this.#stream.getTracks()) track.stop();
      return;
    }
    this.#video.srcObject = this.#stream;
    this.#overlay.hide();
    await this.#listDevices();
    this.#publish();
  }

  #showDeviceError(error: unknown): void {
    const name = error instanceof DOMException ? error.name : '';
    const text =
      name === 'NotAllowedError'
        ? 'Camera and microphone access was refused. Allow it in the browser’s site settings, then try again.'
        : name === 'NotFoundError'
          ? 'No camera or microphone was found on this device.'
          : name === 'NotReadableError'
            ? 'The camera is in use by another application. Close it, then try again.'
            : navigator.mediaDevices === undefined
              ? 'This browser cannot use the camera here (the page needs HTTPS).'
              : `The camera could not start: ${errorMessage(error)}`;
    this.#overlay.show(text, {
      bad: true,
      action: { label: 'Try again', run: () => void this.#startPreview() },
    });
    this.#setPublish({ kind: 'stopped', why: 'No camera: nothing is being sent.' });
  }

  /** Fills both selects; labels are only known once the user has allowed access. */
  async #listDevices(): Promise<void> {
    if (navigator.mediaDevices === undefined) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, track?: MediaStreamTrack) => {
      const current = track?.getSettings().deviceId;
      const options = devices
        .filter((device) => device.kind === kind)
        .map((device, index) =>
          h(
            'option',
            { value: device.deviceId, selected: device.deviceId === current },
            device.label !== ''
              ? device.label
              : `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${index + 1}`,
          ),
        );
      replaceChildren(select, ...options);
      select.disabled = options.length === 0 || this.#ended !== undefined;
      if (options.length === 0) select.append(h('option', {}, 'None found'));
    };
    fill(this.#cameraSelect, 'videoinput', this.#stream?.getVideoTracks()[0]);
    fill(this.#micSelect, 'audioinput', this.#stream?.getAudioTracks()[0]);
  }

  /** Replaces one track, in the preview and in the running peer connection, without renegotiating. */
  async #switchDevice(kind: 'video' | 'audio'): Promise<void> {
    const select = kind === 'video' ? this.#cameraSelect : this.#micSelect;
    const stream = this.#stream;
    if (stream === undefined) return;
    let track: MediaStreamTrack | undefined;
    try {
      const constraints = { deviceId: { exact: select.value } };
      const fresh = await navigator.mediaDevices.getUserMedia(
        kind === 'video' ? { video: constraints } : { audio: constraints },
      );
      track = fresh.getTracks()[0];
    } catch (error) {
      this.#problems.show(
        `Could not switch ${kind === 'video' ? 'camera' : 'microphone'}: ${errorMessage(error)}`,
        'bad',
      );
      return;
    }
    if (track === undefined) return;
    this.#problems.clear();
    const old = kind === 'video' ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
    if (kind === 'audio' && old !== undefined) track.enabled = old.enabled;
    if (old !== undefined) {
      stream.removeTrack(old);
      old.stop();
    }
    stream.addTrack(track);
    const sender = this.#session?.pc
      .getSenders()
      .find((s) => s.track === old || s.track?.kind === kind);
    await sender?.replaceTrack(track);
  }

  #toggleMic(): void {
    const track = this.#stream?.getAudioTracks()[0];
    if (track === undefined) return;
    track.enabled = !track.enabled;
    this.#micButton.setAttribute('aria-pressed', String(!track.enabled));
    this.#micButton.textContent = track.enabled ? 'Mute microphone' : 'Microphone muted';
  }

  #stopPublishing(): void {
    clearTimeout(this.#retry);
    this.#session?.close();
    this.#session = undefined;
  }

  /** Publishes once both the devices and the signaling connection are ready. */
  #publish(): void {
    const stream = this.#stream;
    if (stream === undefined || !this.#welcomed) return;
    this.#stopPublishing();
    this.#setPublish({ kind: 'connecting' });
    const session = new PeerSession({
      sendCandidate: (candidate) => {
        request(this.#socket, 'camera:candidate', candidate).catch((error: unknown) =>
          console.warn('camera:candidate failed', error),
        );
      },
      onState: (state) => {
        if (state === 'connected') {
          this.#attempt = 0;
          this.#setPublish({ kind: 'live' });
        } else if (state === 'disconnected') {
          this.#setPublish({ kind: 'connecting' });
        } else if (state === 'failed') {
          this.#scheduleRetry('The media connection failed.');
        }
      },
    });
    this.#session = session;
    for (const track of stream.getTracks()) {
      session.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    }
    session
      .negotiate(async (sdp) => (await request(this.#socket, 'camera:offer', { sdp })).sdp)
      .catch((error: unknown) => {
        if (session.closed) return;
        const why =
          error instanceof RequestError && error.code === 'timeout'
            ? 'The media server is not answering.'
            : `The assembly cannot take your camera: ${errorMessage(error)}.`;
        this.#scheduleRetry(why);
      });
  }

  #scheduleRetry(why: string): void {
    this.#stopPublishing();
    if (!this.#socket.connected) return;
    const delayMs = retryDelayMs(this.#attempt++);
    this.#setPublish({ kind: 'retrying', why, delayMs });
    this.#retry = setTimeout(() => this.#publish(), delayMs);
  }
}

/** A reload of a removed camera's page: say so again, without connecting or starting the camera. */
function showRemoved(): void {
  setStatus('ended', 'Removed by the moderator.');
  replaceChildren(
    appRoot(),
    h(
      'section',
      { class: 'card stack', 'aria-label': 'Preview' },
      h(
        'p',
        { class: 'notice', id: 'publish-state', 'data-state': 'stopped', 'data-tone': 'bad' },
        REMOVED_MESSAGE,
      ),
    ),
  );
}

if (wasRemoved(pageAssembly())) showRemoved();
else new CameraPage();
