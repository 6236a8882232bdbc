/**
 * Separate network hosts on one machine, for load and fault tests: each `NetnsHost` is a Linux
 * network namespace joined to this one by a veth pair, with an address of its own on a /30 that
 * nothing else here uses. A server started in it (`spawn`) is reachable only at that address,
 * and "the host dies" is every process in it killed at once (`killAll`), as when a VM goes down.
 *
 * The tests run as root; a machine where namespaces cannot be made fails the test with the
 * reason (never a skip). Every namespace and link is removed by `remove()`, and at process exit
 * for any the test could not remove itself.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Every host not removed yet, removed synchronously if the process exits first. */
const live = new Set<NetnsHost>();
process.once('exit', () => {
  for (const host of live) host.removeSync();
});

async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { timeout: 10_000 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`ip ${args.join(' ')} failed: ${stderr.trim()}`);
  }
}

/** A 10.x.y.0/30 that no interface of this machine uses (several tests may run at once). */
async function freeSubnet(): Promise<string> {
  const used = await ip(['-o', '-4', 'addr', 'show']);
  for (let attempt = 0; attempt < 100; attempt++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    const third = 4 * Math.floor(Math.random() * 64);
    const base = `${prefix}.${third}`;
    if (!used.includes(`${prefix}.${third + 1}/`) && !used.includes(`${prefix}.${third + 2}/`)) {
      return base;
    }
  }
  throw new Error('no free 10.x.y.0/30 subnet found for a test network namespace');
}

export class NetnsHost {
  /** The namespace's name (`ip netns exec NAME ...`). */
  readonly name: string;
  /** This side's address on the link: what the host sees its peers come from. */
  readonly peerAddress: string;
  /** The host's own address. */
  readonly address: string;
  readonly #hostLink: string;
  #removed = false;

  private constructor(name: string, hostLink: string, peerAddress: string, address: string) {
    this.name = name;
    this.#hostLink = hostLink;
    this.peerAddress = peerAddress;
    this.address = address;
  }

  /** Creates a namespace, its veth pair and addresses, with loopback up inside. */
  static async create(label: string): Promise<NetnsHost> {
    if (!/^[a-z0-9]{1,4}$/.test(label)) throw new TypeError(`label: 1-4 of a-z 0-9: ${label}`);
    const tag = randomBytes(3).toString('hex');
    const name = `montage-${tag}-${label}`;
    // Interface names have at most 15 characters.
    const hostLink = `mt${tag}${label}h`;
    const innerLink = `mt${tag}${label}n`;
    const base = await freeSubnet();
    const [a, b, c, d] = base.split('.').map(Number);
    const peerAddress = `${a}.${b}.${c}.${(d ?? 0) + 1}`;
    const address = `${a}.${b}.${c}.${(d ?? 0) + 2}`;
    try {
      await ip(['netns', 'add', name]);
    } catch (error) {
      throw new Error(
        `cannot create a network namespace for a test host (run the tests as root on Linux ` +
          `with iproute2): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const host = new NetnsHost(name, hostLink, peerAddress, address);
    live.add(host);
    try {
      await ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', innerLink]);
      await ip(['link', 'set', innerLink, 'netns', name]);
      await ip(['addr', 'add', `${peerAddress}/30`, 'dev', hostLink]);
      await ip(['link', 'set', hostLink, 'up']);
      await ip(['-n', name, 'addr', 'add', `${address}/30`, 'dev', innerLink]);
      await ip(['-n', name, 'link', 'set', innerLink, 'up']);
      await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    } catch (error) {
      await host.remove();
      throw error;
    }
    return host;
  }

  /** Runs a command inside the namespace (as `ip netns exec`), its stderr kept for errors. */
  spawn(command: string, args: string[]): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, command, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  /** Kills every process in the namespace at once: the host is gone. */
  async killAll(): Promise<void> {
    const pids = (await ip(['netns', 'pids', this.name]))
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => Number.isInteger(pid) && pid > 0);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It exited between the listing and the kill: gone either way.
      }
    }
  }

  /** Kills what runs inside, deletes the link and the namespace. Safe to call twice. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    await this.killAll().catch(() => undefined);
    // Deleting one end of a veth pair deletes both.
    await ip(['link', 'del', this.#hostLink]).catch(() => undefined);
    await ip(['netns', 'del', this.name]).catch(() => undefined);
    this.#removed = true;
    live.delete(this);
  }

  /** `remove()` for an exit handler, where nothing asynchronous runs any more. */
  removeSync(): void {
    if (this.#removed) return;
    const quiet = { stdio: 'ignore' as const };
    try {
      const pids = execFileSync('ip', ['netns', 'pids', this.name]).toString().split('\n');
      for (const pid of pids.map(Number).filter((n) => n > 0)) process.kill(pid, 'SIGKILL');
    } catch {
      // Nothing left to kill.
    }
    for (const args of [
      ['link', 'del', this.#hostLink],
      ['netns', 'del', this.name],
    ]) {
      try {
        execFileSync('ip', args, quiet);
      } catch {
        // Already gone.
      }
    }
    this.#removed = true;
  }
}
