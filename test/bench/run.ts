import {
  benchCompositeCpu,
  benchCompositeLatency,
  benchCompositeMemory,
  benchDispatcherSwitch,
} from './composite.js';
import { benchEdge } from './edge.js';
import { benchGlassToGlass } from './glassToGlass.js';
import { benchOffer } from './offer.js';
import { benchPipelines } from './pipelines.js';
import { benchPreview } from './preview.js';
import { benchWatchApi } from './watchApi.js';
import { benchWebrtcLoopback } from './webrtcLoopback.js';

/**
 * `npm run bench`: every benchmark prints our figure next to an anchor measured in the same run
 * on the same machine, and the ratio. Pass names to run a subset: `npm run bench -- webrtc`.
 */
const BENCHMARKS: Record<string, () => Promise<void>> = {
  webrtc: benchWebrtcLoopback,
  composite: benchCompositeCpu,
  latency: benchCompositeLatency,
  switch: benchDispatcherSwitch,
  memory: benchCompositeMemory,
  g2g: benchGlassToGlass,
  watch: benchWatchApi,
  edge: benchEdge,
  preview: benchPreview,
  offer: benchOffer,
  pipelines: benchPipelines,
};

const wanted = process.argv.slice(2);
for (const [name, bench] of Object.entries(BENCHMARKS)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`== ${name}`);
  await bench();
}
