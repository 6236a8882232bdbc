/**
 * `npm run token -- ...`: prints an invite link, reading the same .env, database and token
 * secret as the app server (so the link works on the running server, and on the next start).
 *
 *   npm run token -- --create "Friday assembly"            creates an assembly, prints a moderator link
 *   npm run token -- --assembly ID --role presenter        a link for an existing assembly
 *   npm run token -- --assembly ID --role camera --label "Room 12"
 *                                                          a camera link labelled with its room
 *   npm run token -- --role operator                       an operator link (every assembly)
 *
 * Options: --ttl SECONDS (default MONTAGE_INVITE_TTL_SECONDS); --label TEXT (where or who the
 * link is for, 1 to 40 printable characters; a camera joins under its label). The link goes to stdout alone, so
 * that `$(npm run -s token -- ...)` captures it; everything else goes to stderr.
 */
import { parseArgs } from 'node:util';
import { createCore } from '../App.js';
import { INVITE_LABEL_RULE, isInviteLabel } from '../auth/inviteLabel.js';
import { ROLES, type Role } from '../auth/roles.js';
import { ConfigError, loadAppConfig } from '../config.js';
import { LIMITS } from '../domain/Assemblies.js';
import { DomainError } from '../domain/errors.js';
import { parseAssemblyId } from '../domain/ids.js';

const USAGE = `usage: npm run token -- --create NAME [--role ROLE] [--ttl SECONDS] [--label TEXT]
       npm run token -- --assembly ID --role ROLE [--ttl SECONDS] [--label TEXT]
       npm run token -- --role operator [--ttl SECONDS]
ROLE is one of ${ROLES.join(', ')} (default moderator).`;

class UsageError extends Error {}

/** The options that take a value. */
const VALUE_OPTIONS = ['--assembly', '--role', '--create', '--ttl', '--label'];

/**
 * `--assembly -0QwoGsUQogy` as `--assembly=-0QwoGsUQogy`: node's parseArgs reads a value that
 * starts with '-' as an option, and assemblies made before ids stopped starting with '-' (see
 * server/domain/ids.ts) have such ids.
 */
function joinOptionValues(argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const value = argv[i + 1];
    if (VALUE_OPTIONS.includes(arg) && value !== undefined && !value.startsWith('--')) {
      joined.push(`${arg}=${value}`);
      i += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: joinOptionValues(argv),
    options: {
      assembly: { type: 'string' },
      role: { type: 'string', default: 'moderator' },
      create: { type: 'string' },
      ttl: { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stderr.write(`${USAGE}\n`);
    return 0;
  }
  const role = values.role as Role;
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new UsageError(`--role ${values.role} is not a role: use one of ${ROLES.join(', ')}`);
  }

  const label = values.label?.trim();
  if (label !== undefined && !isInviteLabel(label)) {
    throw new UsageError(`--label must be ${INVITE_LABEL_RULE}`);
  }

  const config = loadAppConfig();
  const ttlSeconds = values.ttl === undefined ? config.inviteTtlSeconds : Number(values.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60) {
    throw new UsageError(`--ttl ${values.ttl} is invalid: expected whole seconds, at least 60`);
  }
  const baseUrl = config.publicBaseUrl ?? `http://${config.httpHost}:${config.httpPort}`;
  const core = createCore(config, () => baseUrl);
  try {
    if (role === 'operator') {
      if (values.assembly !== undefined || values.create !== undefined || label !== undefined) {
        throw new UsageError(
          'operator links cover every assembly and are not invites: leave out --assembly, --create and --label',
        );
      }
      process.stdout.write(`${core.invites.mintOperator('cli', ttlSeconds).url}\n`);
      return 0;
    }
    if ((values.assembly === undefined) === (values.create === undefined)) {
      throw new UsageError(
        'name an existing assembly with --assembly ID, or create one with --create NAME',
      );
    }
    let assemblyId;
    if (values.create !== undefined) {
      const name = values.create.trim();
      if (name.length === 0 || name.length > LIMITS.nameLength) {
        throw new UsageError(`--create needs a name of 1 to ${LIMITS.nameLength} characters`);
      }
      assemblyId = core.assemblies.create('cli', { name }).id;
      process.stderr.write(`created assembly ${assemblyId} ("${name}")\n`);
    } else {
      assemblyId = parseAssemblyId(values.assembly ?? '', '--assembly');
      if (core.assemblies.find(assemblyId) === undefined) {
        throw new UsageError(
          `assembly '${assemblyId}' does not exist; create one with: npm run token -- --create NAME`,
        );
      }
    }
    const { invite } = core.invites.mint('cli', assemblyId, role, ttlSeconds, label);
    const labelled = label === undefined ? '' : ` ("${label}")`;
    process.stderr.write(
      `${role} link${labelled} for assembly ${assemblyId}, valid until ${invite.expiresAt}:\n`,
    );
    process.stdout.write(`${invite.url}\n`);
    return 0;
  } finally {
    core.db.close();
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  const known =
    error instanceof UsageError || error instanceof ConfigError || error instanceof DomainError;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`token: ${message}\n`);
  if (known || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`${USAGE}\n`);
  }
  process.exitCode = 1;
}
