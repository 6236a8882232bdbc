import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import {
  ForbiddenRoleError,
  TokenExpiredError,
  TokenInvalidError,
  TokenRevokedError,
  WrongAssemblyError,
} from '../../server/auth/errors.js';
import { generateSecret, Tokens } from '../../server/auth/Tokens.js';
import { parseAssemblyId, type InviteId } from '../../server/domain/ids.js';

const A = parseAssemblyId('assemblyA');
const B = parseAssemblyId('assemblyB');
const NOW = Date.UTC(2025, 0, 1);

test('a valid token verifies and yields its claims', () => {
  const tokens = new Tokens(generateSecret(), { now: () => NOW });
  const claims = tokens.verify(tokens.sign({ assembly: A, role: 'presenter', ttlSeconds: 60 }), {
    assembly: A,
    roles: ['presenter'],
  });
  assert.equal(claims.assembly, A);
  assert.equal(claims.role, 'presenter');
  assert.equal(claims.expiresAt, NOW / 1000 + 60);
});

test('an expired token is refused with the time it expired', () => {
  let now = NOW;
  const tokens = new Tokens(generateSecret(), { now: () => now });
  const token = tokens.sign({ assembly: A, role: 'viewer', ttlSeconds: 60 });
  now += 60_000;
  assert.throws(
    () => tokens.verify(token),
    (error: unknown) =>
      error instanceof TokenExpiredError &&
      error.message ===
        'the token expired at 2025-01-01T00:01:00.000Z; ask a moderator for a new invite link',
  );
});

test('a forged signature, another server’s token and a changed payload are refused', () => {
  const tokens = new Tokens(generateSecret(), { now: () => NOW });
  const token = tokens.sign({ assembly: A, role: 'viewer', ttlSeconds: 60 });
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
  const signatureRefusal = /the token is invalid: its signature does not match/;
  assert.throws(() => tokens.verify(`${header}.${payload}.${flipped}`), signatureRefusal);

  const other = new Tokens(generateSecret(), { now: () => NOW });
  assert.throws(
    () => tokens.verify(other.sign({ assembly: A, role: 'viewer', ttlSeconds: 60 })),
    signatureRefusal,
  );

  // Raising one's own role without the secret fails the signature check.
  const raised = Buffer.from(
    JSON.stringify({ asm: A, role: 'moderator', iat: NOW / 1000, exp: NOW / 1000 + 60 }),
  ).toString('base64url');
  assert.throws(() => tokens.verify(`${header}.${raised}.${signature}`), signatureRefusal);
});

test('unsigned and malformed tokens are refused', () => {
  const tokens = new Tokens(generateSecret(), { now: () => NOW });
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({ asm: A, role: 'moderator', exp: 2e9, iat: 1 }),
  ).toString('base64url');
  assert.throws(
    () => tokens.verify(`${none}.${payload}.x`),
    (error: unknown) =>
      error instanceof TokenInvalidError &&
      /only HS256-signed tokens are accepted/.test(error.message),
  );
  assert.throws(() => tokens.verify('not-a-token'), /expected three dot-separated parts/);
  assert.throws(() => tokens.verify(`${none}.${payload}.`), TokenInvalidError);
});

test('a token for another assembly is refused, naming both assemblies', () => {
  const tokens = new Tokens(generateSecret(), { now: () => NOW });
  const token = tokens.sign({ assembly: A, role: 'moderator', ttlSeconds: 60 });
  assert.throws(
    () => tokens.verify(token, { assembly: B }),
    (error: unknown) =>
      error instanceof WrongAssemblyError &&
      error.message === "this token is for assembly 'assemblyA', not for assembly 'assemblyB'",
  );
});

test('a token whose role may not act is refused, naming the roles that may', () => {
  const tokens = new Tokens(generateSecret(), { now: () => NOW });
  const token = tokens.sign({ assembly: A, role: 'viewer', ttlSeconds: 60 });
  assert.throws(
    () => tokens.verify(token, { roles: ['moderator', 'operator'], action: 'delete assemblies' }),
    (error: unknown) =>
      error instanceof ForbiddenRoleError &&
      error.message ===
        'a viewer token cannot delete assemblies; this needs a moderator or operator token',
  );
});

test('an operator token covers every assembly; only operators may', () => {
  const tokens = new Tokens(generateSecret(), { now: () => NOW });
  const operator = tokens.sign({ assembly: '*', role: 'operator', ttlSeconds: 60 });
  assert.equal(tokens.verify(operator, { assembly: B }).assembly, '*');
  const sneaky = tokens.sign({ assembly: '*', role: 'moderator', ttlSeconds: 60 });
  assert.throws(() => tokens.verify(sneaky), /only operator tokens cover every assembly/);
});

/** A token signed with `secret` whose payload is exactly `payload` (for claims sign() refuses). */
function signRaw(secret: string, payload: Record<string, unknown>): string {
  const encode = (json: unknown): string => Buffer.from(JSON.stringify(json)).toString('base64url');
  const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`;
  const signature = createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest();
  return `${body}.${signature.toString('base64url')}`;
}

test('an invite label is signed into the token (lbl) and read back as claims.label', () => {
  const tokens = new Tokens(generateSecret(), { now: () => NOW });
  const inviteId = 'invite-one' as InviteId;
  const labelled = tokens.sign({
    assembly: A,
    role: 'camera',
    ttlSeconds: 60,
    inviteId,
    label: 'Room 12',
  });
  const claims = tokens.verify(labelled);
  assert.equal(claims.label, 'Room 12');
  assert.equal(claims.inviteId, inviteId);
  const [, payload] = labelled.split('.') as [string, string];
  assert.equal(
    (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { lbl?: unknown }).lbl,
    'Room 12',
  );
  assert.equal(
    tokens.verify(tokens.sign({ assembly: A, role: 'camera', ttlSeconds: 60 })).label,
    undefined,
  );
  // sign() takes only labels the REST and the CLI would accept.
  assert.throws(
    () => tokens.sign({ assembly: A, role: 'camera', ttlSeconds: 60, label: 'Room\n12' }),
    TypeError,
  );
});

test('a token whose label claim is not 1 to 40 printable characters is refused', () => {
  const secret = generateSecret();
  const tokens = new Tokens(secret, { now: () => NOW });
  const base = { asm: A, role: 'camera', iat: NOW / 1000, exp: NOW / 1000 + 60 };
  for (const lbl of [42, '', ' Room 12', 'x'.repeat(41), 'Room\u000712', 'Room\u202e21']) {
    assert.throws(
      () => tokens.verify(signRaw(secret, { ...base, lbl })),
      (error: unknown) =>
        error instanceof TokenInvalidError &&
        error.message ===
          'the token is invalid: its label (lbl) is not a label of 1 to 40 printable characters',
      JSON.stringify(lbl),
    );
  }
  // Emoji sequences (joined with U+200D) are printable.
  const teacher = 'Room 12 \u{1F469}\u200d\u{1F3EB}';
  assert.equal(tokens.verify(signRaw(secret, { ...base, lbl: teacher })).label, teacher);
});

test('the tokens of a revoked invite are refused, before any other check, and others are not', () => {
  let now = NOW;
  const revoked = new Set<InviteId>();
  const tokens = new Tokens(generateSecret(), {
    now: () => now,
    isRevoked: (inviteId) => revoked.has(inviteId),
  });
  const first = 'invite-first' as InviteId;
  const second = 'invite-second' as InviteId;
  const camera = tokens.sign({ assembly: A, role: 'camera', ttlSeconds: 60, inviteId: first });
  const other = tokens.sign({ assembly: A, role: 'camera', ttlSeconds: 60, inviteId: second });
  const plain = tokens.sign({ assembly: A, role: 'camera', ttlSeconds: 60 });
  assert.equal(tokens.verify(camera).inviteId, first);

  revoked.add(first);
  const isRevoked = (error: unknown): boolean =>
    error instanceof TokenRevokedError &&
    error.code === 'token_revoked' &&
    error.message === 'this link was revoked; ask your teacher for a new one';
  assert.throws(() => tokens.verify(camera), isRevoked);
  // Revoked says more than wrong assembly or expired would.
  assert.throws(() => tokens.verify(camera, { assembly: B, roles: ['moderator'] }), isRevoked);
  now += 120_000;
  assert.throws(() => tokens.verify(camera), isRevoked);
  now = NOW;
  assert.equal(tokens.verify(other).inviteId, second);
  assert.equal(tokens.verify(plain).inviteId, undefined);
});
