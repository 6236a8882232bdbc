import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ForbiddenRoleError,
  TokenExpiredError,
  TokenInvalidError,
  WrongAssemblyError,
} from '../../server/auth/errors.js';
import { generateSecret, Tokens } from '../../server/auth/Tokens.js';
import { parseAssemblyId } from '../../server/domain/ids.js';

const A = parseAssemblyId('assemblyA');
const B = parseAssemblyId('assemblyB');
const NOW = Date.UTC(2025, 0, 1);

test('a valid token verifies and yields its claims', () => {
  const tokens = new Tokens(generateSecret(), () => NOW);
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
  const tokens = new Tokens(generateSecret(), () => now);
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
  const tokens = new Tokens(generateSecret(), () => NOW);
  const token = tokens.sign({ assembly: A, role: 'viewer', ttlSeconds: 60 });
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
  const signatureRefusal = /the token is invalid: its signature does not match/;
  assert.throws(() => tokens.verify(`${header}.${payload}.${flipped}`), signatureRefusal);

  const other = new Tokens(generateSecret(), () => NOW);
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
  const tokens = new Tokens(generateSecret(), () => NOW);
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
  const tokens = new Tokens(generateSecret(), () => NOW);
  const token = tokens.sign({ assembly: A, role: 'moderator', ttlSeconds: 60 });
  assert.throws(
    () => tokens.verify(token, { assembly: B }),
    (error: unknown) =>
      error instanceof WrongAssemblyError &&
      error.message === "this token is for assembly 'assemblyA', not for assembly 'assemblyB'",
  );
});

test('a token whose role may not act is refused, naming the roles that may', () => {
  const tokens = new Tokens(generateSecret(), () => NOW);
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
  const tokens = new Tokens(generateSecret(), () => NOW);
  const operator = tokens.sign({ assembly: '*', role: 'operator', ttlSeconds: 60 });
  assert.equal(tokens.verify(operator, { assembly: B }).assembly, '*');
  const sneaky = tokens.sign({ assembly: '*', role: 'moderator', ttlSeconds: 60 });
  assert.throws(() => tokens.verify(sneaky), /only operator tokens cover every assembly/);
});
