import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/engineProcess.js';
import { request, setup, tokenOf, type RunningApp } from './appHelpers.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the token CLI (as `npm run token` does after its bootstrap) against the app's data dir. */
async function tokenCli(running: RunningApp, args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/server/cli/token.js'), ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      MONTAGE_DATA_DIR: running.dataDir,
      MONTAGE_PUBLIC_URL: running.url,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

test('npm run token --create prints a moderator link that works on the running server', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());

  const created = await tokenCli(running, ['--create', 'Monday assembly']);
  assert.equal(created.code, 0, created.stderr);
  const link = created.stdout.trim();
  assert.match(link, new RegExp(`^${running.url}/panel/[\\w-]+\\?token=[\\w.-]+$`));
  assert.match(created.stderr, /created assembly [\w-]+ \("Monday assembly"\)/);

  const panel = await fetch(link);
  assert.equal(panel.status, 200);
  const list = await request(`${running.url}/api/assemblies`, 'GET', tokenOf(link));
  const [assembly] = (list.body as { assemblies: { id: string; name: string }[] }).assemblies;
  assert.equal(assembly?.name, 'Monday assembly');

  const presenter = await tokenCli(running, ['--assembly', assembly.id, '--role', 'presenter']);
  assert.equal(presenter.code, 0, presenter.stderr);
  assert.match(
    presenter.stdout.trim(),
    new RegExp(`^${running.url}/studio/${assembly.id}\\?token=`),
  );
  assert.equal((await fetch(presenter.stdout.trim())).status, 200);
});

test('npm run token refuses an assembly that does not exist, and bad arguments, clearly', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());

  const missing = await tokenCli(running, ['--assembly', 'nosuchassembly', '--role', 'presenter']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.match(
    missing.stderr,
    /assembly 'nosuchassembly' does not exist; create one with: npm run token -- --create NAME/,
  );

  const badRole = await tokenCli(running, ['--create', 'x', '--role', 'janitor']);
  assert.equal(badRole.code, 1);
  assert.match(badRole.stderr, /--role janitor is not a role/);

  const operator = await tokenCli(running, ['--role', 'operator']);
  assert.equal(operator.code, 0, operator.stderr);
  const all = await request(
    `${running.url}/api/assemblies`,
    'GET',
    tokenOf(operator.stdout.trim()),
  );
  assert.equal(all.status, 200);
});

test('npm run token reads an assembly id that starts with "-" as the id', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  // Ids no longer start with '-' (server/domain/ids.ts), but assemblies made before may.
  const created = await tokenCli(running, ['--create', 'Assembly of old']);
  assert.equal(created.code, 0, created.stderr);
  const oldId = '-0QwoGsUQogy';
  const db = new BetterSqlite3(join(running.dataDir, 'montage.sqlite'));
  try {
    db.prepare(
      `INSERT INTO assemblies (id, name, layout, max_tiles, recording, dvr_minutes, stream_key,
         created_at, updated_at)
       SELECT ?, name, layout, max_tiles, recording, dvr_minutes, stream_key || '-old',
         created_at, updated_at FROM assemblies LIMIT 1`,
    ).run(oldId);
  } finally {
    db.close();
  }
  for (const args of [
    ['--assembly', oldId, '--role', 'presenter'],
    ['--role', 'presenter', '--assembly', oldId],
    [`--assembly=${oldId}`, '--role', 'presenter'],
  ]) {
    const minted = await tokenCli(running, args);
    assert.equal(minted.code, 0, `${args.join(' ')}: ${minted.stderr}`);
    assert.match(minted.stdout.trim(), new RegExp(`/studio/${oldId}\\?token=`));
  }
});

test('npm run token --label labels the link: listed, signed into its token, checked', async (t) => {
  const running = await setup();
  t.after(() => running.teardown());
  const created = await tokenCli(running, ['--create', 'Labelled']);
  assert.equal(created.code, 0, created.stderr);
  const moderator = tokenOf(created.stdout.trim());
  const assemblyId = String(running.app.core.tokens.verify(moderator).assembly);

  const camera = await tokenCli(running, [
    '--assembly',
    assemblyId,
    '--role',
    'camera',
    '--label',
    ' Room 12 ',
  ]);
  assert.equal(camera.code, 0, camera.stderr);
  assert.match(camera.stderr, /camera link \("Room 12"\) for assembly/);
  const link = camera.stdout.trim();
  assert.equal(running.app.core.tokens.verify(tokenOf(link)).label, 'Room 12');
  // The running server reads what the CLI wrote.
  const listed = await request(
    `${running.url}/api/assemblies/${assemblyId}/invites`,
    'GET',
    moderator,
  );
  const invites = (listed.body as { invites: { label: string | null; role: string }[] }).invites;
  assert.deepEqual(
    invites.map((i) => [i.role, i.label]),
    [
      ['moderator', null],
      ['camera', 'Room 12'],
    ],
  );

  for (const label of ['', 'x'.repeat(41), 'Room\t12']) {
    const refused = await tokenCli(running, [
      '--assembly',
      assemblyId,
      '--role',
      'camera',
      '--label',
      label,
    ]);
    assert.equal(refused.code, 1, JSON.stringify(label));
    assert.match(refused.stderr, /--label must be a label of 1 to 40 printable characters/);
    assert.equal(refused.stdout, '');
  }
  const operator = await tokenCli(running, ['--role', 'operator', '--label', 'Ops']);
  assert.equal(operator.code, 1);
  assert.match(operator.stderr, /leave out --assembly, --create and --label/);
});
