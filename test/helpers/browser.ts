import { chromium, type Browser } from 'playwright-core';

/**
 * Flags that make Debian's Chromium usable headless on a loopback-only CI machine
 * (see shared/docs/platform.md). The fake devices replace the camera and microphone,
 * and loopback candidates are needed because CI machines may have no other interface.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  // Host candidates must carry real addresses, not mDNS names, for webrtcbin to reach them.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // A page in the background must keep decoding frames for the pixel checks.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--autoplay-policy=no-user-gesture-required',
];

export interface LaunchOptions {
  /** A .y4m (or .mjpeg) file that Chromium's fake camera plays in a loop. */
  fakeVideoFile?: string;
}

/** Launches Debian's Chromium; never a downloaded browser build. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const args = [...CHROMIUM_FLAGS];
  if (options.fakeVideoFile !== undefined) {
    args.push(`--use-file-for-fake-video-capture=${options.fakeVideoFile}`);
  }
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
}
