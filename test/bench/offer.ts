import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startEngineProcess } from '../helpers/engineProcess.js';
import { connectKurento } from '../helpers/kurento.js';
import { median, percentile, printComparison } from './stats.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 8);
const BURST = Number(process.env.BENCH_OFFER_BURST ?? 10);

/**
 * How long `generateOffer` takes on a WebRtcEndpoint of a fresh pipeline, against one in a
 * pipeline whose worker already has its DTLS certificate, next to the anchor: generating an
 * RSA-2048 self-signed certificate with openssl. GStreamer's dtls plugin makes such a certificate
 * once per process, and create-offer needs its fingerprint, so every fresh pipeline worker pays
 * for one (they all compete for the CPU in a burst).
 */
export async function benchOffer(): Promise<void> {
  const engine = await startEngineProcess();
  const client = await connectKurento(engine.url);
  const fresh: number[] = [];
  const warm: number[] = [];
  const anchor: number[] = [];
  let burst: number[] = [];
  try {
    for (let i = 0; i < RUNS; i += 1) {
      const pipeline = await client.create('MediaPipeline');
      try {
        const first = await pipeline.create('WebRtcEndpoint');
        let started = Date.now();
        await first.generateOffer();
        fresh.push(Date.now() - started);
        const second = await pipeline.create('WebRtcEndpoint');
        started = Date.now();
        await second.generateOffer();
        warm.push(Date.now() - started);
      } finally {
        await pipeline.release();
      }
      const started = Date.now();
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        '/dev/null',
        '-out',
        '/dev/null',
        '-subj',
        '/CN=bench',
        '-days',
        '1',
      ]);
      anchor.push(Date.now() - started);
    }
    burst = await Promise.all(
      Array.from({ length: BURST }, async () => {
        const pipeline = await client.create('MediaPipeline');
        try {
          const endpoint = await pipeline.create('WebRtcEndpoint');
          const started = Date.now();
          await endpoint.generateOffer();
          return Date.now() - started;
        } finally {
          await pipeline.release();
        }
      }),
    );
  } finally {
    client.close();
    await engine.stop();
  }
  const certificate = median(anchor);
  printComparison(`generateOffer (${RUNS} runs; anchor: openssl RSA-2048 certificate)`, [
    { metric: 'fresh pipeline p50', ours: median(fresh), anchor: certificate, unit: 'ms' },
    { metric: 'fresh pipeline max', ours: Math.max(...fresh), anchor: certificate, unit: 'ms' },
    { metric: 'certificate ready p50', ours: median(warm), anchor: certificate, unit: 'ms' },
    {
      metric: `burst of ${BURST} fresh p50`,
      ours: median(burst),
      anchor: certificate,
      unit: 'ms',
    },
    {
      metric: `burst of ${BURST} fresh p99`,
      ours: percentile(burst, 99),
      anchor: certificate,
      unit: 'ms',
    },
  ]);
}
