/**
 * `node dist/server/edges/cli.js register ...`: registers an edge VM with the app server over
 * REST (`POST /api/edges` with an operator token), so that the origin starts pushing to it and
 * viewers are sent there, with no restart of the app server. Each way it can fail has its own
 * clear message: the app server cannot be reached, it refused the token, or it refused the
 * edge (a bad URL, or an id or URL registered already).
 *
 *   node dist/server/edges/cli.js register --app https://montage.school.example \
 *     --token OPERATOR_TOKEN_OR_LINK --id edge1 --public-url http://edge1.school.example:8090 \
 *     --ingest-url rtmp://edge1.school.example:1935/live [--status-url http://10.0.0.21:8090]
 */
import { parseArgs } from 'node:util';
import type { EdgeWire, NewEdgeWire } from './wire.js';

export const REGISTER_USAGE = `usage: cli.js register --app APP_URL --token OPERATOR_TOKEN --id ID \\
         --public-url URL --ingest-url rtmp://HOST:PORT/live [--status-url URL]
  --app         the app server's base URL (MONTAGE_PUBLIC_URL), e.g. https://montage.school.example
  --token       an operator token, or the whole operator link (npm run token -- --role operator)
  --id          the edge's name: 1 to 64 of A-Z a-z 0-9 . _ -
  --public-url  where viewers' browsers fetch /hls/... from
  --ingest-url  where the origin pushes (this edge's RTMP port, application live)
  --status-url  where the app server reads /stat and /nginx_status (default: the public URL)`;

/** Why a registration failed; `kind` tells a script what to do about it. */
export class RegisterError extends Error {
  constructor(
    message: string,
    readonly kind: 'usage' | 'unreachable' | 'refused-token' | 'refused-edge' | 'server',
  ) {
    super(message);
    this.name = 'RegisterError';
  }
}

export interface RegisterRequest extends NewEdgeWire {
  /** The app server's base URL. */
  app: string;
  /** An operator token, or an operator link that carries one in `?token=`. */
  token: string;
  timeoutMs?: number;
}

/** The token itself, from a token or from a link that carries one. */
function tokenOf(given: string): string {
  if (!/^https?:\/\//i.test(given)) return given.trim();
  const token = new URL(given).searchParams.get('token');
  if (token === null || token === '') {
    throw new RegisterError(`--token ${given.slice(0, 80)} is a link without ?token=`, 'usage');
  }
  return token;
}

function appBase(given: string): string {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new RegisterError(
      `--app ${given} is not a URL: expected e.g. https://montage.example`,
      'usage',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RegisterError(`--app ${given} must be an http:// or https:// URL`, 'usage');
  }
  return url.href.replace(/\/+$/, '');
}

/** The reason fetch() gives for a connection that failed (its cause's code and message). */
function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return 'no answer in time';
  }
  const cause = error instanceof Error ? (error as { cause?: unknown }).cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${cause.message})` : cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Registers the edge; resolves with it as the app server stored it. */
export async function registerEdge(request: RegisterRequest): Promise<EdgeWire> {
  const app = appBase(request.app);
  const token = tokenOf(request.token);
  const body: NewEdgeWire = {
    ...(request.id === undefined ? {} : { id: request.id }),
    publicUrl: request.publicUrl,
    ingestUrl: request.ingestUrl,
    ...(request.statusUrl === undefined ? {} : { statusUrl: request.statusUrl }),
  };
  let response: Response;
  try {
    response = await fetch(`${app}/api/edges`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(request.timeoutMs ?? 15_000),
    });
  } catch (error) {
    throw new RegisterError(
      `cannot reach the app server at ${app}: ${networkReason(error)}`,
      'unreachable',
    );
  }
  const text = await response.text();
  let answer: { edge?: EdgeWire; error?: { code?: string; message?: string } } = {};
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    // Not JSON (a proxy's error page): described by the status below.
  }
  if (response.status === 201 && answer.edge !== undefined) return answer.edge;
  const said = answer.error?.message ?? `${response.status} ${response.statusText}`;
  if (response.status === 401 || response.status === 403) {
    throw new RegisterError(
      `the app server refused the token: ${said}. Use an operator token or link ` +
        '(on the app server: npm run token -- --role operator)',
      'refused-token',
    );
  }
  if (response.status === 400 || response.status === 409) {
    throw new RegisterError(`the app server refused the edge: ${said}`, 'refused-edge');
  }
  if (response.status === 404) {
    throw new RegisterError(
      `${app}/api/edges does not exist: is --app the Montage app server (and recent enough)?`,
      'server',
    );
  }
  throw new RegisterError(`the app server answered ${said}`, 'server');
}

/** The `register` subcommand: parses `argv`, registers, prints the result; the exit code. */
export async function runRegisterCommand(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        app: { type: 'string' },
        token: { type: 'string' },
        id: { type: 'string' },
        'public-url': { type: 'string' },
        'ingest-url': { type: 'string' },
        'status-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`register: ${error instanceof Error ? error.message : String(error)}\n`);
    process.stderr.write(`${REGISTER_USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${REGISTER_USAGE}\n`);
    return 0;
  }
  const missing = (['app', 'token', 'id', 'public-url', 'ingest-url'] as const).filter(
    (name) => values[name] === undefined || values[name] === '',
  );
  if (missing.length > 0) {
    process.stderr.write(`register: missing ${missing.map((name) => `--${name}`).join(', ')}\n`);
    process.stderr.write(`${REGISTER_USAGE}\n`);
    return 2;
  }
  try {
    const edge = await registerEdge({
      app: values.app ?? '',
      token: values.token ?? '',
      id: values.id,
      publicUrl: values['public-url'] ?? '',
      ingestUrl: values['ingest-url'] ?? '',
      statusUrl: values['status-url'],
    });
    process.stdout.write(
      [
        `registered edge ${edge.id}: viewers get ${edge.publicUrl}/hls/..., the origin pushes to ` +
          `${edge.ingestUrl}, the app server probes ${edge.statusUrl}`,
        `drain it:  curl -X POST -H "Authorization: Bearer $TOKEN" ${appBase(values.app ?? '')}/api/edges/${edge.id}/drain`,
        `remove it: curl -X DELETE -H "Authorization: Bearer $TOKEN" ${appBase(values.app ?? '')}/api/edges/${edge.id}`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (error) {
    if (!(error instanceof RegisterError)) throw error;
    process.stderr.write(`register: ${error.message}\n`);
    if (error.kind === 'usage') process.stderr.write(`${REGISTER_USAGE}\n`);
    return error.kind === 'usage' ? 2 : 1;
  }
}
