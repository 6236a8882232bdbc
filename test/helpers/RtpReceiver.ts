/**
 * RtpReceiver: receives what an RtpEndpoint sends, decodes it in ffmpeg and exposes the decoded
 * picture and sound to a test.
 *
 * Usage:
 *
 *   const receiver = await RtpReceiver.create({ video: true, audio: true, width: 320, height: 240 });
 *   const answer = await rtpEndpoint.processOffer(receiver.offer); // recvonly offer, H264 96 + opus 111
 *   await receiver.start(answer);                                  // spawns ffmpeg on the answer
 *   await receiver.waitForFrames(10, 10_000);
 *   const [tl, tr, bl, br] = receiver.sample(QUADRANT_CENTRES).map(classify);
 *   const [level440, level1000] = receiver.toneLevels([440, 1000], 500); // 0..1 (full-scale sine = 1)
 *   await receiver.stop();                                         // always, e.g. in t.after
 *
 * With `crypto` the offer is RTP/SAVP with an `a=crypto` line (SDES); ffmpeg decrypts with the
 * key the engine announces in its answer (ffmpeg handles AES_CM_128_HMAC_SHA1_80/_32 only).
 *
 * Video arrives as rgb24 frames scaled to width x height on ffmpeg's stdout; audio as s16le
 * 48 kHz mono on fd 3. Ports are free UDP ports on 127.0.0.1 (an even RTP port, RTCP on +1),
 * or on ::1 with `ipv6` (for an RtpEndpoint created with useIpv6).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Rgb } from './media.js';

export interface RtpReceiverOptions {
  video?: boolean;
  audio?: boolean;
  /** Size of the decoded frames handed to the test (ffmpeg scales to it). */
  width?: number;
  height?: number;
  /** Offer SDES-SRTP (RTP/SAVP) with this suite; the key is random unless given. */
  crypto?: { suite: 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32'; keyBase64?: string };
  /**
   * Which real decoder receives the stream. ffmpeg (the default) is what the issue names for
   * picture checks; its RTP H.264 demuxer only closes a frame when the next one starts, which
   * holds about two frames back. GStreamer's rtph264depay closes a frame on the RTP marker bit,
   * so frame-exact timing checks (Dispatcher switches) use it. No SRTP with GStreamer here.
   */
  decoder?: 'ffmpeg' | 'gstreamer';
  /** Listen and announce on ::1 (c=IN IP6 ::1) instead of 127.0.0.1. */
  ipv6?: boolean;
}

export interface DecodedFrame {
  /** rgb24, width * height * 3 bytes. */
  data: Buffer;
  /** Date.now() when the frame left ffmpeg. */
  at: number;
}

const SAMPLE_RATE = 48_000;
/** How much decoded audio is kept for toneLevels. */
const AUDIO_KEEP_SECONDS = 5;

function bindUdp(port: number, address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
  });
}

function closeUdp(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** An even UDP port whose successor is free too (RTP + RTCP), found by binding both. */
export async function freeUdpPortPair(address = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await bindUdp(0, address);
    const port = first.address().port;
    if (port % 2 !== 0 || port >= 65535) {
      await closeUdp(first);
      continue;
    }
    try {
      const second = await bindUdp(port + 1, address);
      await closeUdp(second);
      await closeUdp(first);
      return port;
    } catch {
      await closeUdp(first);
    }
  }
  throw new Error(`no free UDP port pair on ${address}`);
}

interface MediaSection {
  kind: 'audio' | 'video';
  port: number;
  lines: string[];
}

function splitSdp(sdp: string): { session: string[]; media: MediaSection[] } {
  const session: string[] = [];
  const media: MediaSection[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.length === 0) continue;
    const m = /^m=(\w+) (\d+)/.exec(line);
    if (m !== null) {
      media.push({ kind: m[1] === 'audio' ? 'audio' : 'video', port: Number(m[2]), lines: [line] });
    } else if (media.length > 0) {
      media[media.length - 1]?.lines.push(line);
    } else {
      session.push(line);
    }
  }
  return { session, media };
}

/** Goertzel power of one frequency over `samples`, as the amplitude of a matching sine (0..1). */
function goertzelAmplitude(samples: Float64Array, hz: number): number {
  const n = samples.length;
  if (n === 0) return 0;
  const k = Math.round((n * hz) / SAMPLE_RATE);
  const coefficient = 2 * Math.cos((2 * Math.PI * k) / n);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const s0 = (samples[i] ?? 0) + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / n;
}

export class RtpReceiver {
  readonly offer: string;
  readonly width: number;
  readonly height: number;
  /** Number of decoded video frames so far. */
  frames = 0;
  /** The latest decoded frame, if any. */
  latest: DecodedFrame | undefined;
  /** Date.now() of the first decoded frame, 0 before it. */
  firstFrameAt = 0;
  /** Total decoded audio samples so far. */
  audioSamples = 0;
  /** The SDP given to ffmpeg (after start). */
  ffmpegSdp = '';
  #child: ChildProcess | undefined;
  #dir: string | undefined;
  #pending: Buffer = Buffer.alloc(0);
  #audio = new Int16Array(SAMPLE_RATE * AUDIO_KEEP_SECONDS);
  #audioWrite = 0;
  #audioOdd: Buffer | undefined;
  #stderr = '';
  #exited = false;
  #decoder: 'ffmpeg' | 'gstreamer' = 'ffmpeg';
  #address = '127.0.0.1';

  private constructor(
    offer: string,
    width: number,
    height: number,
    readonly videoPort: number | undefined,
    readonly audioPort: number | undefined,
  ) {
    this.offer = offer;
    this.width = width;
    this.height = height;
  }

  static async create(options: RtpReceiverOptions = {}): Promise<RtpReceiver> {
    const video = options.video ?? true;
    const audio = options.audio ?? true;
    const width = options.width ?? 320;
    const height = options.height ?? 240;
    if (!video && !audio) throw new Error('RtpReceiver needs video or audio');
    const address = options.ipv6 === true ? '::1' : '127.0.0.1';
    const audioPort = audio ? await freeUdpPortPair(address) : undefined;
    let videoPort = video ? await freeUdpPortPair(address) : undefined;
    while (videoPort !== undefined && videoPort === audioPort)
      videoPort = await freeUdpPortPair(address);
    const inet = `IN ${options.ipv6 === true ? 'IP6' : 'IP4'} ${address}`;
    const profile = options.crypto ? 'RTP/SAVP' : 'RTP/AVP';
    const crypto = options.crypto
      ? `a=crypto:1 ${options.crypto.suite} inline:${options.crypto.keyBase64 ?? randomBytes(30).toString('base64')}`
      : undefined;
    const lines = ['v=0', `o=- ${Date.now()} 0 ${inet}`, 's=RtpReceiver', `c=${inet}`, 't=0 0'];
    if (audioPort !== undefined) {
      lines.push(`m=audio ${audioPort} ${profile} 111`, 'a=rtpmap:111 opus/48000/2');
      if (crypto) lines.push(crypto);
      lines.push('a=recvonly');
    }
    if (videoPort !== undefined) {
      lines.push(
        `m=video ${videoPort} ${profile} 96`,
        'a=rtpmap:96 H264/90000',
        'a=fmtp:96 packetization-mode=1',
      );
      if (crypto) lines.push(crypto);
      lines.push('a=recvonly');
    }
    if (options.decoder === 'gstreamer' && options.crypto) {
      throw new Error('RtpReceiver: SRTP is only supported with the ffmpeg decoder');
    }
    const receiver = new RtpReceiver(
      `${lines.join('\r\n')}\r\n`,
      width,
      height,
      videoPort,
      audioPort,
    );
    receiver.#decoder = options.decoder ?? 'ffmpeg';
    receiver.#address = address;
    return receiver;
  }

  /**
   * Starts ffmpeg on the answer: our ports and address, the answer's payload types, fmtp and
   * (for SRTP) the sender's key. m-lines the answer rejected (port 0) are left out.
   */
  async start(answer: string): Promise<void> {
    if (this.#child) throw new Error('RtpReceiver already started');
    const remote = splitSdp(answer);
    const local = splitSdp(this.offer);
    const inet = `IN ${this.#address.includes(':') ? 'IP6' : 'IP4'} ${this.#address}`;
    const out = ['v=0', `o=- 0 0 ${inet}`, 's=RtpReceiver', `c=${inet}`, 't=0 0'];
    let hasVideo = false;
    let hasAudio = false;
    for (const ours of local.media) {
      const theirs = remote.media.find((m) => m.kind === ours.kind);
      if (theirs === undefined || theirs.port === 0) continue;
      const mline = theirs.lines[0] ?? '';
      const [, , proto = 'RTP/AVP', ...pts] = mline.split(' ');
      out.push(`m=${ours.kind} ${ours.port} ${proto} ${pts.join(' ')}`);
      for (const line of theirs.lines.slice(1)) {
        if (/^a=(rtpmap|fmtp|crypto):/.test(line)) out.push(line);
      }
      out.push('a=recvonly');
      if (ours.kind === 'video') hasVideo = true;
      else hasAudio = true;
    }
    if (!hasVideo && !hasAudio) throw new Error(`the answer accepts no media:\n${answer}`);
    this.ffmpegSdp = `${out.join('\r\n')}\r\n`;
    this.#dir = await mkdtemp(path.join(tmpdir(), 'montage-rtp-'));
    const sdpFile = path.join(this.#dir, 'in.sdp');
    await writeFile(sdpFile, this.ffmpegSdp);
    if (this.#decoder === 'gstreamer') {
      this.#spawn('gst-launch-1.0', this.#gstreamerArgs(remote, hasVideo, hasAudio));
    } else {
      this.#spawn('ffmpeg', this.#ffmpegArgs(sdpFile, hasVideo, hasAudio));
    }
    await this.#waitUntilListening(
      [hasVideo ? this.videoPort : undefined, hasAudio ? this.audioPort : undefined].filter(
        (port): port is number => port !== undefined,
      ),
    );
  }

  /** The payload type the answer gives a media kind (the first one on its m-line). */
  static #payloadType(remote: ReturnType<typeof splitSdp>, kind: string): number {
    const mline = remote.media.find((m) => m.kind === kind)?.lines[0] ?? '';
    return Number(mline.split(' ')[3] ?? 'NaN');
  }

  /** gst-launch-1.0 words for the same job as ffmpeg: decoded RGB frames on fd 1, S16LE on fd 3. */
  #gstreamerArgs(
    remote: ReturnType<typeof splitSdp>,
    hasVideo: boolean,
    hasAudio: boolean,
  ): string[] {
    // -q keeps gst-launch's own messages off stdout, which carries the frames.
    const words = ['-q'];
    const udp = (port: number, caps: string): string[] => [
      'udpsrc',
      `address=${this.#address}`,
      `port=${port}`,
      `caps=${caps}`,
    ];
    // RTCP from the engine needs a listener, as it has with ffmpeg.
    const rtcp = (port: number): string[] => [
      ...udp(port, 'application/x-rtcp'),
      '!',
      'fakesink',
      'sync=false',
    ];
    if (hasVideo && this.videoPort !== undefined) {
      const pt = RtpReceiver.#payloadType(remote, 'video');
      words.push(
        ...udp(
          this.videoPort,
          `application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=${pt}`,
        ),
        ...['!', 'rtph264depay', '!', 'h264parse', '!', 'avdec_h264', 'max-threads=1'],
        ...['!', 'videoconvert', '!', 'videoscale', '!'],
        `video/x-raw,format=RGB,width=${this.width},height=${this.height}`,
        ...['!', 'fdsink', 'fd=1', 'sync=false'],
        ...rtcp(this.videoPort + 1),
      );
    }
    if (hasAudio && this.audioPort !== undefined) {
      const pt = RtpReceiver.#payloadType(remote, 'audio');
      words.push(
        ...udp(
          this.audioPort,
          `application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=${pt}`,
        ),
        ...['!', 'rtpopusdepay', '!', 'opusdec', '!', 'audioconvert', '!', 'audioresample', '!'],
        `audio/x-raw,format=S16LE,rate=${SAMPLE_RATE},channels=1`,
        ...['!', 'fdsink', 'fd=3', 'sync=false'],
        ...rtcp(this.audioPort + 1),
      );
    }
    return words;
  }

  #ffmpegArgs(sdpFile: string, hasVideo: boolean, hasAudio: boolean): string[] {
    const args = [
      '-hide_banner',
      '-loglevel',
      'warning',
      '-nostdin',
      '-protocol_whitelist',
      'file,udp,rtp,srtp',
      '-fflags',
      'nobuffer',
      '-flags',
      'low_delay',
      '-probesize',
      '32768',
      '-analyzeduration',
      '500000',
      '-reorder_queue_size',
      '0',
      // Frame-threaded decoding would hold (threads - 1) decoded frames back; one thread
      // hands each picture out as soon as its last packet arrives.
      '-threads',
      '1',
      '-i',
      sdpFile,
    ];
    if (hasVideo) {
      args.push(
        '-map',
        '0:v:0',
        '-vf',
        `scale=${this.width}:${this.height}`,
        '-pix_fmt',
        'rgb24',
        '-fps_mode',
        'passthrough',
        '-f',
        'rawvideo',
        'pipe:1',
      );
    }
    if (hasAudio) {
      args.push('-map', '0:a:0', '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 's16le', 'pipe:3');
    }
    return args;
  }

  #spawn(command: string, args: string[]): void {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.#onVideo(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    const audioPipe = child.stdio[3] as Readable | null;
    audioPipe?.on('data', (chunk: Buffer) => this.#onAudio(chunk));
    audioPipe?.on('error', () => undefined);
    child.once('exit', () => {
      this.#exited = true;
    });
  }

  /**
   * Waits (up to 10 s) until ffmpeg has bound its UDP ports, read from /proc/net/udp without
   * touching them, so that media sent right after start() (a keyframe above all) is not lost
   * to a port nobody listens on yet, which would leave ffmpeg probing for parameters.
   */
  async #waitUntilListening(ports: number[]): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.#exited && Date.now() < deadline) {
      let table = '';
      try {
        // IPv6 sockets are listed in their own table.
        const file = this.#address.includes(':') ? '/proc/net/udp6' : '/proc/net/udp';
        table = await readFile(file, 'utf8');
      } catch {
        return;
      }
      const bound = new Set(
        [...table.matchAll(/^\s*\d+: [0-9A-F]+:([0-9A-F]{4}) /gm)].map((m) =>
          parseInt(m[1] ?? '0', 16),
        ),
      );
      if (ports.every((port) => bound.has(port))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The last lines ffmpeg wrote on stderr (for failure messages). */
  get log(): string {
    return this.#stderr;
  }

  #onVideo(chunk: Buffer): void {
    const size = this.width * this.height * 3;
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= size) {
      const data = Buffer.from(this.#pending.subarray(0, size));
      this.#pending = this.#pending.subarray(size);
      const at = Date.now();
      if (this.frames === 0) this.firstFrameAt = at;
      this.frames += 1;
      this.latest = { data, at };
    }
  }

  #onAudio(chunk: Buffer): void {
    let bytes = this.#audioOdd ? Buffer.concat([this.#audioOdd, chunk]) : chunk;
    this.#audioOdd = undefined;
    if (bytes.length % 2 === 1) {
      this.#audioOdd = bytes.subarray(bytes.length - 1);
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    for (let i = 0; i < bytes.length; i += 2) {
      this.#audio[this.#audioWrite] = bytes.readInt16LE(i);
      this.#audioWrite = (this.#audioWrite + 1) % this.#audio.length;
    }
    this.audioSamples += bytes.length / 2;
  }

  /** Waits until at least `frames` video frames have been decoded in total. */
  async waitForFrames(frames: number, timeoutMs: number): Promise<DecodedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.frames >= frames && this.latest) return this.latest;
      if (Date.now() > deadline || this.#exited) {
        throw new Error(
          `only ${this.frames} of ${frames} frames decoded after ${timeoutMs} ms` +
            `${this.#exited ? ' (decoder exited)' : ''}; the decoder said:\n${this.#stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Waits until at least `ms` of audio have been decoded in total. */
  async waitForAudio(ms: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const wanted = (ms * SAMPLE_RATE) / 1000;
    while (this.audioSamples < wanted) {
      if (Date.now() > deadline || this.#exited) {
        throw new Error(
          `only ${Math.round((this.audioSamples * 1000) / SAMPLE_RATE)} ms of audio after ${timeoutMs} ms; the decoder said:\n${this.#stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Samples the latest frame at points given as fractions of its width and height, averaging
   * an 8x8 square around each (same semantics as BrowserPeer.sample).
   */
  sample(points: ReadonlyArray<readonly [number, number]>): Rgb[] {
    const frame = this.latest;
    if (frame === undefined) throw new Error('no frame decoded yet');
    const size = 8;
    return points.map(([fx, fy]) => {
      const x0 = Math.max(0, Math.min(this.width - size, Math.round(fx * this.width) - size / 2));
      const y0 = Math.max(0, Math.min(this.height - size, Math.round(fy * this.height) - size / 2));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let y = y0; y < y0 + size; y++) {
        for (let x = x0; x < x0 + size; x++) {
          const i = (y * this.width + x) * 3;
          r += frame.data[i] ?? 0;
          g += frame.data[i + 1] ?? 0;
          b += frame.data[i + 2] ?? 0;
        }
      }
      const n = size * size;
      return { r: Math.round(r / n), g: Math.round(g / n), b: Math.round(b / n) };
    });
  }

  /**
   * Amplitude (0..1, a full-scale sine is 1) of each frequency over the last `windowMs` of
   * decoded audio (Goertzel). A tone from ffmpeg's `sine` source (amplitude 1/8) reads about 0.125
   * after a lossless path; Opus keeps it within a few per cent.
   */
  toneLevels(hzList: readonly number[], windowMs: number): number[] {
    const wanted = Math.min(
      Math.round((windowMs * SAMPLE_RATE) / 1000),
      this.audioSamples,
      this.#audio.length,
    );
    const samples = new Float64Array(wanted);
    for (let i = 0; i < wanted; i++) {
      const index = (this.#audioWrite - wanted + i + this.#audio.length) % this.#audio.length;
      samples[i] = (this.#audio[index] ?? 0) / 32768;
    }
    return hzList.map((hz) => goertzelAmplitude(samples, hz));
  }

  /** Stops ffmpeg (SIGKILL after 2 s) and removes the SDP file; safe to call twice. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.#dir) {
      await rm(this.#dir, { recursive: true, force: true });
      this.#dir = undefined;
    }
  }
}
