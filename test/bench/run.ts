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
import { benchSoak } from './soak.js';
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

/**
 * Run only when named (`npm run bench -- soak`): it takes SOAK_MINUTES (default 30) and more.
 */
const ON_REQUEST: Record<string, () => Promise<void>> = {
  soak: benchSoak,
};

const wanted = process.argv.slice(2);
for (const [name, bench] of Object.entries({ ...BENCHMARKS, ...ON_REQUEST })) {
  if (wanted.length > 0 ? !wanted.includes(name) : name in ON_REQUEST) continue;
  console.log(`== ${name}`);
  await bench();
}
