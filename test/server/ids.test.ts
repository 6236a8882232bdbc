/**
 * Generated ids are typed on command lines (`npm run token -- --assembly ID`), where a leading
 * '-' reads as an option: none starts with one. Base64url starts one id in 64 with '-', so
 * 5,000 ids without the rule would hold about 78 of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isUrlSafeId, newAssemblyId, newInviteId } from '../../server/domain/ids.js';

test('assembly and invite ids never start with "-", and stay url-safe ids', () => {
  for (let i = 0; i < 5000; i++) {
    for (const id of [newAssemblyId(), newInviteId()]) {
      assert.ok(!id.startsWith('-'), `${id} starts with '-'`);
      assert.ok(isUrlSafeId(id), id);
    }
  }
});
