// Bundles the pages (public/src/*.ts) into dist/public with esbuild.
//
// hls.js is bundled from its TypeScript sources with its compile-time feature flags, so the
// watch page gets content steering (failover between edges, which hls.js's light build leaves
// out) without everything else of the full build (subtitles, DRM, CMCD, interstitials...):
// about 424 kB instead of 643 kB (137 kB instead of 201 kB gzipped). The flags are those of
// hls.js's own build (node_modules/hls.js/src/define-plugin.d.ts); its sources' imports
// (eventemitter3, url-toolkit, @svta/cml-*) are devDependencies pinned to hls.js's versions.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const hlsVersion = JSON.parse(readFileSync('node_modules/hls.js/package.json', 'utf8')).version;
const features = {
  __USE_CONTENT_STEERING__: true,
  __USE_ALT_AUDIO__: false,
  __USE_EME_DRM__: false,
  __USE_SUBTITLES__: false,
  __USE_CMCD__: false,
  __USE_VARIABLE_SUBSTITUTION__: false,
  __USE_M2TS_ADVANCED_CODECS__: false,
  __USE_MEDIA_CAPABILITIES__: false,
  __USE_INTERSTITIALS__: false,
  __USE_IFRAMES__: false,
  __IN_WORKER__: false,
};

await build({
  entryPoints: ['public/src/*.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
  outdir: 'dist/public',
  alias: { 'hls.js': './node_modules/hls.js/src/exports-named.ts' },
  define: {
    __VERSION__: JSON.stringify(hlsVersion),
    ...Object.fromEntries(Object.entries(features).map(([name, on]) => [name, String(on)])),
  },
});
