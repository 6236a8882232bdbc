import os from 'node:os';

/** How often the machine's CPU use is sampled for admission. */
export const CPU_SAMPLE_MS = 1000;

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    idle += cpu.times.idle;
    total += cpu.times.idle + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  }
  return { idle, total };
}

/**
 * The machine's CPU use over the last sampling period, in percent of all cores, measured as
 * ServerManager.getUsedCpu measures it. Sampled on a timer, never on a request: a create
 * reads the last value and waits for nothing.
 */
export class CpuMonitor {
  readonly #timer: NodeJS.Timeout;
  #last = cpuTimes();
  #percent: number | undefined;

  constructor(periodMs = CPU_SAMPLE_MS) {
    this.#timer = setInterval(() => this.#sample(), periodMs);
    this.#timer.unref();
  }

  /** Percent of all cores in use during the last period; undefined before the first one ends. */
  get percent(): number | undefined {
    return this.#percent;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #sample(): void {
    const now = cpuTimes();
    const total = now.total - this.#last.total;
    const idle = now.idle - this.#last.idle;
    this.#last = now;
    if (total > 0) this.#percent = (100 * (total - idle)) / total;
  }
}
