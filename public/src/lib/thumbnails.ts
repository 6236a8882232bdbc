/**
 * Live camera thumbnails (see server/signaling/thumbnails.ts for why they are JPEGs relayed by
 * the server rather than WebRTC streams): the camera page sends one of its preview every 2 s, and
 * the panel keeps the latest one of every camera as an object URL for an <img>.
 */
import type { SignalingSocket } from './connect.js';

const WIDTH = 160;
const HEIGHT = 90;
const EVERY_MS = 2000;

/**
 * Sends a 160x90 JPEG of `video` every 2 s while the socket is connected and `video` has a
 * picture. Returns a function that stops it.
 */
export function sendThumbnails(socket: SignalingSocket, video: HTMLVideoElement): () => void {
  const canvas = document.createElement('canvas');
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const context = canvas.getContext('2d');
  let busy = false;
  const send = (): void => {
    if (context === null || busy || !socket.connected || video.videoWidth === 0) return;
    busy = true;
    // Letterbox other aspect ratios instead of stretching them.
    const scale = Math.min(WIDTH / video.videoWidth, HEIGHT / video.videoHeight);
    const w = video.videoWidth * scale;
    const h = video.videoHeight * scale;
    context.fillStyle = '#000';
    context.fillRect(0, 0, WIDTH, HEIGHT);
    context.drawImage(video, (WIDTH - w) / 2, (HEIGHT - h) / 2, w, h);
    canvas.toBlob(
      (blob) => {
        if (blob === null) {
          busy = false;
          return;
        }
        blob
          .arrayBuffer()
          .then((jpeg) => socket.emit('camera:thumbnail', { jpeg }))
          .catch((error: unknown) => console.warn('thumbnail failed', error))
          .finally(() => (busy = false));
      },
      'image/jpeg',
      0.6,
    );
  };
  const timer = setInterval(send, EVERY_MS);
  return () => clearInterval(timer);
}

/** The latest thumbnail of every camera, as object URLs (the previous one is revoked). */
export class ThumbnailStore {
  readonly #urls = new Map<string, string>();
  /** Called with the camera id whenever its thumbnail changes. */
  onChange: ((cameraId: string, url: string) => void) | undefined;

  constructor(socket: SignalingSocket) {
    socket.on('camera:thumbnail', ({ cameraId, jpeg }) => {
      // Browsers receive an ArrayBuffer; the copy only types a (never seen) Uint8Array view.
      const bytes = jpeg instanceof ArrayBuffer ? jpeg : new Uint8Array(jpeg);
      const url = URL.createObjectURL(new Blob([bytes], { type: 'image/jpeg' }));
      const old = this.#urls.get(cameraId);
      if (old !== undefined) URL.revokeObjectURL(old);
      this.#urls.set(cameraId, url);
      this.onChange?.(cameraId, url);
    });
  }

  get(cameraId: string): string | undefined {
    return this.#urls.get(cameraId);
  }

  /** Forgets cameras that left, so their images are freed. */
  keepOnly(cameraIds: Iterable<string>): void {
    const keep = new Set(cameraIds);
    for (const [cameraId, url] of this.#urls) {
      if (!keep.has(cameraId)) {
        URL.revokeObjectURL(url);
        this.#urls.delete(cameraId);
      }
    }
  }
}
