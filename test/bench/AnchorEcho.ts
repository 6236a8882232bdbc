import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { CandidateInit } from '../helpers/BrowserPeer.js';
import { REPO_ROOT } from '../helpers/engineProcess.js';

/**
 * The engine's webrtcbin jitter-buffer latency (kms/worker/webrtc_endpoint.c); the anchor runs
 * with the same value so that the comparison is like for like.
 */
const ENGINE_JITTER_LATENCY_MS = 100;

/** Messages kms/worker/bench/webrtc-echo writes on stdout, one JSON object per line. */
type EchoMessage =
  { answer: string } | { candidate: string; sdpMLineIndex: number } | { state: string };

/**
 * The benchmark anchor: a plain webrtcbin echo (kms/worker/bench/webrtc-echo.c) driven over
 * its stdin/stdout. It has the same shape as a WebRtcEndpoint connected to itself, minus
 * everything the engine adds, so the difference between the two is our overhead.
 */
export class AnchorEcho {
  private readonly candidateListeners: Array<(candidate: CandidateInit) => void> = [];
  private answerWaiter: ((sdp: string) => void) | undefined;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.onLine(line));
  }

  static start(): AnchorEcho {
    const binary = path.join(REPO_ROOT, 'kms/worker/build/webrtc-echo');
    const child = spawn(
      binary,
      ['--ice-address', '127.0.0.1', '--latency', String(ENGINE_JITTER_LATENCY_MS)],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    child.stderr.resume();
    return new AnchorEcho(child);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  on(_event: 'IceCandidateFound', listener: (event: { candidate: CandidateInit }) => void): void {
    this.candidateListeners.push((candidate) => listener({ candidate }));
  }

  async processOffer(offer: string): Promise<string> {
    const answer = new Promise<string>((resolve) => {
      this.answerWaiter = resolve;
    });
    this.child.stdin.write(`${JSON.stringify({ offer })}\n`);
    return answer;
  }

  gatherCandidates(): Promise<void> {
    // webrtcbin gathers on its own once the local description is set.
    return Promise.resolve();
  }

  addIceCandidate(candidate: unknown): Promise<void> {
    const { candidate: line, sdpMLineIndex } = candidate as CandidateInit;
    this.child.stdin.write(
      `${JSON.stringify({ candidate: line, sdpMLineIndex: sdpMLineIndex ?? 0 })}\n`,
    );
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    let message: EchoMessage;
    try {
      message = JSON.parse(line) as EchoMessage;
    } catch {
      return;
    }
    if ('answer' in message) {
      this.answerWaiter?.(message.answer);
    } else if ('candidate' in message) {
      const candidate = {
        candidate: message.candidate,
        sdpMid: null,
        sdpMLineIndex: message.sdpMLineIndex,
      };
      for (const listener of this.candidateListeners) listener(candidate);
    }
  }
}
