/**
 * Reading an edge's HLS the way a test judges it: the fragments a media playlist lists (with
 * their sequence numbers, durations, discontinuities and program date), and what ffprobe finds
 * in a fragment (where its audio and its video start).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { hlsSigningKey, signatureFor } from '../../server/hls/HlsSigner.js';

const run = promisify(execFile);

const SIGNATURE = /\/hls\/s\/([0-9]+)\/([A-Za-z0-9_-]{22})\//;

/**
 * Where signed HLS URLs point without their signatures (`/hls/s/E/S/` → `/hls/`), in a URL or a
 * whole playlist: what tests compare when they ask which edge and stream a viewer was sent to.
 */
export function unsignedHlsUrl(text: string): string {
  return text.replace(new RegExp(SIGNATURE.source, 'g'), '/hls/');
}

/** Asserts that `url` is signed for `assembly` with the key of `edgeSecret`, and valid now. */
export function assertSignedFor(url: string, assembly: string, edgeSecret: string): void {
  const match = SIGNATURE.exec(url);
  assert.ok(match !== null, `not a signed HLS URL: ${url}`);
  const expires = Number(match[1]);
  assert.ok(expires > Date.now() / 1000, `expired: ${url}`);
  assert.equal(
    match[2],
    signatureFor(assembly, expires, hlsSigningKey(edgeSecret)).signature,
    `signed for ${assembly}: ${url}`,
  );
}

export interface ListedFragment {
  sequence: number;
  uri: string;
  duration: number;
  /** An EXT-X-DISCONTINUITY comes before it. */
  discontinuity: boolean;
  /** Its EXT-X-PROGRAM-DATE-TIME in Unix ms, when the playlist gives one. */
  programDateMs: number | undefined;
}

export interface MediaPlaylist {
  mediaSequence: number;
  targetDuration: number;
  fragments: ListedFragment[];
}

export function parseMediaPlaylist(text: string): MediaPlaylist {
  if (!text.startsWith('#EXTM3U')) throw new Error(`not a playlist: ${text.slice(0, 80)}`);
  const number = (tag: string): number =>
    Number(new RegExp(`^${tag}:(\\S+)`, 'm').exec(text)?.[1] ?? 0);
  const mediaSequence = number('#EXT-X-MEDIA-SEQUENCE');
  const fragments: ListedFragment[] = [];
  let duration = 0;
  let discontinuity = false;
  let programDateMs: number | undefined;
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line.startsWith('#EXTINF:')) duration = Number(line.slice(8).split(',')[0]);
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      programDateMs = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
    } else if (line !== '' && !line.startsWith('#')) {
      fragments.push({
        sequence: mediaSequence + fragments.length,
        uri: line,
        duration,
        discontinuity,
        programDateMs,
      });
      discontinuity = false;
      programDateMs = undefined;
    }
  }
  return { mediaSequence, targetDuration: number('#EXT-X-TARGETDURATION'), fragments };
}

export async function fetchPlaylist(url: string): Promise<MediaPlaylist> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return parseMediaPlaylist(await response.text());
}

/** Where a fragment's first video and first audio frames are, in seconds (MPEG-TS clock). */
export interface FragmentStarts {
  video: number | undefined;
  audio: number | undefined;
}

/** ffprobe's start times of a fragment's video and audio streams (fetched from `url`). */
export async function fragmentStarts(url: string): Promise<FragmentStarts> {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=codec_type,start_time', '-of', 'json', url],
    { timeout: 20_000 },
  );
  const streams =
    (JSON.parse(stdout) as { streams?: Array<{ codec_type?: string; start_time?: string }> })
      .streams ?? [];
  const start = (type: string): number | undefined => {
    const text = streams.find((s) => s.codec_type === type)?.start_time;
    return text === undefined ? undefined : Number(text);
  };
  return { video: start('video'), audio: start('audio') };
}

/**
 * What ffprobe reports while decoding every audio frame of a fragment (fetched from `url`):
 * empty when every frame decodes. (ffprobe decodes without muxing, so timestamps a few
 * milliseconds out of order, which players take, are not reported as errors.)
 */
export async function audioDecodeErrors(url: string): Promise<string> {
  const { stdout, stderr } = await run(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'frame=pts', '-of', 'csv=p=0', url],
    { timeout: 20_000 },
  );
  const frames = stdout.split('\n').filter((line) => line.trim() !== '').length;
  return frames === 0 ? 'no audio frame decoded' : stderr.trim();
}
