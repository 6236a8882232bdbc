import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROGRAM_CLOCK_MODULUS_MS } from '../hls/programClock.js';
import {
  SupervisedFfmpeg,
  type FfmpegEvents,
  type FfmpegState,
  type FfmpegSupervision,
} from './SupervisedFfmpeg.js';

/** Where the bridge listens for the program's RTP, and how the payloads are numbered. */
export interface ProgramRtpPorts {
  /** Address ffmpeg binds (default 127.0.0.1: the engine runs on the same machine). */
  host?: string;
  /** Even UDP port for H.264 RTP; RTCP uses the next port. */
  videoPort: number;
  /** Even UDP port for Opus RTP; RTCP uses the next port. */
  audioPort: number;
  videoPayloadType?: number;
  audioPayloadType?: number;
}

export interface ProgramBridgeOptions extends FfmpegSupervision {
  /** Names the bridge in logs and events (the assembly's stream name). */
  name: string;
  rtp: ProgramRtpPorts;
  /** The origin URL, `RtmpOrigin.localUrl(stream)` (the origin knows the bridge by its pid). */
  publishUrl: string;
  /** AAC bit rate (default 128k). */
  audioBitrate?: string;
}

export type ProgramBridgeState = FfmpegState;
export type ProgramBridgeEvents = FfmpegEvents;

/**
 * The RTP → RTMP bridge of one assembly: an ffmpeg that receives the program from the media
 * server's RtpEndpoint (described by `sdp()`), copies H.264, encodes Opus to AAC (FLV and HLS
 * carry no Opus) and publishes to the origin, which knows this ffmpeg by its pid (no key on its command line).
 *
 * The picture is copied, not re-encoded, so the HLS fragment length follows the engine's
 * x264 keyframe interval (1 s): the edges' `hls_fragment 900ms` relies on it.
 *
 * The stream's timestamps are the program clock (server/hls/programClock.ts): each packet is
 * stamped with the wall clock at its arrival, modulo 2^31 ms. A restarted ffmpeg, a rebuilt
 * media graph or a restarted origin therefore continues the same timeline, moved forward by the
 * length of the outage, instead of starting again at 0: players never see time go back, and
 * every edge derives the same program date and time for a fragment.
 *
 * ffmpeg exits when RTMP drops or RTP stalls; the bridge restarts it with a doubling delay.
 * The origin keeps the stream alive for its grace window, so a restart inside it continues
 * the same stream and the edges' HLS carries on.
 */
export class ProgramBridge extends SupervisedFfmpeg {
  private readonly options: ProgramBridgeOptions;
  private dir: string | undefined;

  constructor(options: ProgramBridgeOptions) {
    super(`bridge ${options.name}`, options);
    for (const port of [options.rtp.videoPort, options.rtp.audioPort]) {
      if (!Number.isInteger(port) || port <= 0 || port >= 65535 || port % 2 !== 0) {
        throw new TypeError(`RTP ports must be even (RTCP takes the next one): ${port}`);
      }
    }
    this.options = options;
  }

  /**
   * The SDP the bridge receives: hand it to `RtpEndpoint.processOffer()` so the media server
   * sends the program to these ports. H.264 packetization-mode 1 and Opus, as the engine's
   * RtpEndpoint produces them.
   */
  sdp(): string {
    const rtp = this.options.rtp;
    const host = rtp.host ?? '127.0.0.1';
    const video = rtp.videoPayloadType ?? 96;
    const audio = rtp.audioPayloadType ?? 97;
    return [
      'v=0',
      `o=- 0 0 IN IP4 ${host}`,
      `s=Montage program ${this.options.name}`,
      `c=IN IP4 ${host}`,
      't=0 0',
      `m=video ${rtp.videoPort} RTP/AVP ${video}`,
      `a=rtpmap:${video} H264/90000`,
      `a=fmtp:${video} packetization-mode=1`,
      'a=recvonly',
      `m=audio ${rtp.audioPort} RTP/AVP ${audio}`,
      `a=rtpmap:${audio} opus/48000/2`,
      'a=recvonly',
      '',
    ].join('\r\n');
  }

  /** Starts ffmpeg; resolves once it is spawned (media may start later). */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`bridge ${this.options.name} already started`);
    this.dir = await mkdtemp(path.join(tmpdir(), 'montage-bridge-'));
    await writeFile(path.join(this.dir, 'program.sdp'), this.sdp());
    // Stopped while the SDP was being written: nothing to start. (The cast undoes TypeScript's
    // narrowing from the check above, which the awaits in between make wrong.)
    if ((this.state as FfmpegState) === 'stopped') {
      await rm(this.dir, { recursive: true, force: true });
      return;
    }
    this.begin();
  }

  /** Stops ffmpeg and the restarts, and removes the SDP. Safe to call twice. */
  override async stop(): Promise<void> {
    await super.stop();
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true });
  }

  protected override ffmpegArgs(): string[] {
    if (this.dir === undefined) throw new Error('the bridge writes its SDP before ffmpeg starts');
    const sdpFile = path.join(this.dir, 'program.sdp');
    return [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'warning',
      // Progress lines on stderr tell the bridge that media flows (see `running`).
      '-stats',
      '-stats_period',
      '1',
      '-protocol_whitelist',
      'file,udp,rtp',
      // The program is live: do not buffer. (A stalled RTP input is caught by the progress
      // watchdog in spawnFfmpeg; ffmpeg's sdp input has no read timeout of its own.)
      '-fflags',
      '+nobuffer+genpts',
      // Stamp packets on arrival. ffmpeg's RTP demuxer re-bases a stream's timestamps on the
      // first RTCP sender report (with two streams), which sent the DTS seconds backwards;
      // the FLV muxer then clamped every later packet to the old DTS, so nginx-rtmp cut no
      // new HLS fragment and the picture froze (a cut to a clip never reached HLS).
      '-use_wallclock_as_timestamps',
      '1',
      // No reordering queue (loopback does not reorder). With one, a rebuilt media pipeline
      // that sends to the same ports from new sequence numbers had its packets dropped as
      // "received too late" until the numbers wrapped; without, ffmpeg takes the new stream
      // after a packet or two.
      '-reorder_queue_size',
      '0',
      // The SDP names the codecs; ffmpeg only needs the first SPS/PPS (keyframes come every
      // second) and a few audio packets, not its default 5 s of analysis, before it publishes:
      // that default was most of the time from "media back" to "program back" after a restart.
      '-analyzeduration',
      '1500000',
      '-probesize',
      '1000000',
      '-i',
      sdpFile,
      '-map',
      '0:v:0',
      '-map',
      '0:a:0',
      '-c:v',
      'copy',
      '-c:a',
      'aac',
      '-b:a',
      this.options.audioBitrate ?? '128k',
      '-ar',
      '48000',
      // The program clock: keep the arrival wall-clock stamps (Unix time) instead of starting
      // at 0, and bring them into FLV's signed 32-bit range by subtracting whole multiples of
      // 2^31 ms (FLV wraps at 2^31 by itself should a run cross that boundary, every 24.8 days).
      '-copyts',
      '-output_ts_offset',
      String(-programClockBaseMs(Date.now()) / 1000),
      // When one stream pauses (the media rebuilt, audio back before video), the muxer waits
      // for it this long at most before writing the other: its default 10 s held the program.
      '-max_interleave_delta',
      '500000',
      '-f',
      'flv',
      // Keep FLV tags going out as they come: no muxer-side buffering on a live push.
      '-flvflags',
      'no_duration_filesize',
      this.options.publishUrl,
    ];
  }
}

/** The multiple of 2^31 ms below `unixMs`: wall clock minus it is the program timestamp. */
function programClockBaseMs(unixMs: number): number {
  return Math.floor(unixMs / PROGRAM_CLOCK_MODULUS_MS) * PROGRAM_CLOCK_MODULUS_MS;
}
