/**
 * What the studio's preview costs the media engine: the engine's CPU (engine process and its
 * pipeline workers) for one live assembly of three WebRTC cameras with a program monitor only,
 * against the same assembly with the preview switcher and a preview monitor showing a camera,
 * and with a second studio's preview monitor on the same preview. The same stack and the same
 * cameras in the same run, the phases alternating (the preview monitors close between runs,
 * which releases the preview switcher), medians over the runs. WebRTC bitrates ramp up for a
 * while after a connection starts (and the encoders' and decoders' cost with them), so the
 * assembly settles before the first run and the phases' order alternates from run to run,
 * which cancels what drift is left. The machine is shared: the load average is printed with
 * each run, so a noisy run can be told apart.
 *
 * The preview reuses what the program already decodes (the cameras' raw tees, the mix output),
 * so its cost should be one shared encoder for the preview monitors and the switch itself; a
 * preview made of a stream per source would cost an encoder per source per studio.
 *
 * Knobs (environment, optional): BENCH_PREVIEW_RUNS (default 3), BENCH_PREVIEW_WINDOW_MS
 * (default 8000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { colourPoint, gridTiles, makeCameraVideo, supervisedEnginePid } from '../e2e/drivers.js';
import { MonitorClient } from '../e2e/MonitorClient.js';
import { Scene } from '../e2e/Scene.js';
import { mintToken, setup } from '../e2e/stack.js';
import { launchChromium } from '../helpers/browser.js';
import { workerPids } from '../helpers/engineProcess.js';
import type { PaletteName } from '../helpers/media.js';
import { measureCpu } from './composite.js';
import { median, printComparison } from './stats.js';

const RUNS = Number(process.env.BENCH_PREVIEW_RUNS ?? 3);
const WINDOW_MS = Number(process.env.BENCH_PREVIEW_WINDOW_MS ?? 8_000);
/** Time for the encoders and the monitors' bitrates to settle before a window. */
const WARMUP_MS = 3_000;
/** Time for the cameras' and the program monitor's bitrates to ramp up before the first run. */
const SETTLE_MS = Number(process.env.BENCH_PREVIEW_SETTLE_MS ?? 20_000);
const PICTURE_MS = 60_000;
const COLOURS: readonly PaletteName[] = ['red', 'green', 'blue'];
const FULL_POINTS = gridTiles(4).map(colourPoint);

export async function benchPreview(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'montage-bench-preview-'));
  const stack = await setup('embedded');
  const cameraBrowsers = new Map<PaletteName, Browser>();
  let monitorBrowser: Browser | undefined;
  let scene: Scene | undefined;
  try {
    for (const colour of COLOURS) {
      const video = await makeCameraVideo(dir, colour);
      cameraBrowsers.set(colour, await launchChromium({ fakeVideoFile: video }));
    }
    // Constants, so that the measuring closures below see them as set.
    const monitors = await launchChromium();
    monitorBrowser = monitors;
    const assembly = await Scene.open(
      { stack, cameraBrowsers, monitorBrowser: monitors },
      'Preview bench',
    );
    scene = assembly;
    for (const colour of COLOURS) await assembly.join(colour);
    const green = assembly.cameras[1];
    if (green === undefined) throw new Error('the green camera did not join');
    const program = await assembly.openMonitor();
    await program.waitForColours(
      gridTiles(4).map(colourPoint),
      ['red', 'green', 'blue', 'black'],
      PICTURE_MS,
      'program composite',
    );
    const enginePid = await supervisedEnginePid();
    if (enginePid === undefined) throw new Error('no supervised engine runs');
    const engineCpu = async (): Promise<number> =>
      measureCpu([enginePid, ...(await workerPids(enginePid))], WINDOW_MS);

    const programOnly: number[] = [];
    const onePreview: number[] = [];
    const twoPreviews: number[] = [];
    const green4: PaletteName[] = ['green', 'green', 'green', 'green'];
    const measureProgramOnly = async (): Promise<void> => {
      await sleep(WARMUP_MS);
      programOnly.push(await engineCpu());
    };
    const measurePreviews = async (): Promise<void> => {
      const preview = await assembly.openPreview();
      await assembly.preview({ source: 'camera', cameraId: green.cameraId });
      await preview.waitForColours(FULL_POINTS, green4, PICTURE_MS, 'preview');
      await sleep(WARMUP_MS);
      onePreview.push(await engineCpu());
      // A second studio watches the same preview: it shares the preview's encoder.
      const second = await MonitorClient.open({
        url: stack.app.url,
        token: mintToken(stack.app, assembly.assemblyId, 'presenter'),
        assembly: assembly.assemblyId,
        browser: monitors,
        bus: 'preview',
      });
      await second.waitForColours(FULL_POINTS, green4, PICTURE_MS, 'second preview');
      await sleep(WARMUP_MS);
      twoPreviews.push(await engineCpu());
      // Their sockets close: the preview monitors and then the preview switcher are released.
      await second.close();
      await preview.close();
    };
    await sleep(SETTLE_MS);
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        await measureProgramOnly();
        await measurePreviews();
      } else {
        await measurePreviews();
        await measureProgramOnly();
      }
      process.stdout.write(
        `  run ${i + 1}/${RUNS}: program monitor only ${programOnly[i]?.toFixed(1)} %, ` +
          `with a preview monitor ${onePreview[i]?.toFixed(1)} %, ` +
          `with two ${twoPreviews[i]?.toFixed(1)} % (load average ${loadavg()[0]?.toFixed(1)})\n`,
      );
    }
    const anchor = median(programOnly);
    printComparison(
      `Engine CPU of an assembly of 3 WebRTC cameras (composite on the program), over ` +
        `${WINDOW_MS} ms, ${RUNS} runs (medians; anchor = program monitor only)`,
      [
        {
          metric: 'with the preview switcher + 1 preview monitor',
          ours: median(onePreview),
          anchor,
          unit: '%',
          goal: 'one encoder more',
        },
        {
          metric: 'with the preview switcher + 2 preview monitors',
          ours: median(twoPreviews),
          anchor,
          unit: '%',
          goal: 'no more encoders than with 1',
        },
      ],
    );
    console.log(
      `added by the preview: ${(median(onePreview) - anchor).toFixed(1)} % of one core; ` +
        `by a second studio watching it: ${(median(twoPreviews) - median(onePreview)).toFixed(1)} %`,
    );
  } finally {
    await scene?.close().catch(() => undefined);
    for (const browser of cameraBrowsers.values()) await browser.close().catch(() => undefined);
    await monitorBrowser?.close().catch(() => undefined);
    await stack.teardown();
    await rm(dir, { recursive: true, force: true });
  }
}
