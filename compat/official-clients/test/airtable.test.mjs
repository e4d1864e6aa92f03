// airtable.js against the Airtable simulator: create, update, replace,
// upsert (the connector's write), select by formula over GET and POST
// (the connector's lookup), sort, the error cases and the client's own 429
// retry.
import { test, before } from 'node:test';
import Airtable from 'airtable';
import { URL, TOKENS, AIRTABLE_BASE, reset, faults, stats, expect, fails, isString, unique } from '../lib.mjs';

const airtable = new Airtable({ apiKey: TOKENS.airtable, endpointUrl: URL.airtable, requestTimeout: 10_000 });
const table = airtable.base(AIRTABLE_BASE)('Contacts');

before(() => reset('airtable'));

test('airtable: create, update, replace (trailing-slash paths)', async () => {
  const email = `${unique('ann')}@example.com`;
  const [rec] = await table.create([{ fields: { Email: email, Name: 'Ann', Score: 3, Status: 'Lead' } }]);
  expect('create', rec, 'id', (id) => /^rec[A-Za-z0-9]{14}$/.test(id));
  expect('create', rec, 'fields.Email', email);
  expect('create', rec, '_rawJson.createdTime', isString);
  const one = await table.create({ Email: `${unique('one')}@example.com`, Name: 'One' });
  expect('create (single)', one, 'fields.Name', 'One');

  const [upd] = await table.update([{ id: rec.id, fields: { Status: 'Customer' } }]);
  expect('update', upd, 'fields.Status', 'Customer');
  expect('update', upd, 'fields.Name', 'Ann');
  const single = await table.update(rec.id, { Score: 4 });
  expect('update (one record)', single, 'fields.Score', 4);

  const [rep] = await table.replace([{ id: rec.id, fields: { Email: email, Name: 'Ann R' } }]);
  expect('replace', rep, 'fields.Name', 'Ann R');
  expect('replace', rep, 'fields.Status', undefined);
});

test('airtable: upsert on the key field (the connector write)', async () => {
  const email = `${unique('up')}@example.com`;
  const first = await table.update([{ fields: { Email: email, Name: 'Up' } }], { performUpsert: { fieldsToMergeOn: ['Email'] }, typecast: true });
  expect('update(performUpsert) create', first, '0.id', isString);
  const again = await table.update([{ fields: { Email: email, Name: 'Up2' } }], { performUpsert: { fieldsToMergeOn: ['Email'] } });
  expect('update(performUpsert) update', again, '0.id', first[0].id);
  expect('update(performUpsert) update', again, '0.fields.Name', 'Up2');
});

test('airtable: select by formula over GET and POST, sorted, paged', async () => {
  const tag = unique('sel');
  for (const [i, score] of [[0, 5], [1, 9], [2, 1]]) {
    await table.create([{ fields: { Email: `${tag}-${i}@example.com`, Name: `${tag}-${i}`, Score: score } }]);
  }
  const formula = `FIND('${tag}', {Email})`;
  const get = await table.select({ filterByFormula: formula, sort: [{ field: 'Score', direction: 'desc' }], fields: ['Name', 'Score'] }).all();
  expect('select (GET)', get.map((r) => r.get('Score')), '', [9, 5, 1]);
  expect('select (GET)', get[0], 'fields.Email', undefined);
  const post = await table.select({ method: 'post', filterByFormula: formula, sort: [{ field: 'Name', direction: 'asc' }], pageSize: 2 }).all();
  expect('select (method: post)', post.map((r) => r.get('Name')), '', [`${tag}-0`, `${tag}-1`, `${tag}-2`]);
  const byKey = await table.select({ filterByFormula: `{Email} = '${tag}-1@example.com'`, maxRecords: 1 }).firstPage();
  expect('select (key lookup)', byKey, 'length', 1);
  expect('select (key lookup)', byKey[0], 'fields.Score', 9);
  const found = await table.find(byKey[0].id);
  expect('find', found, 'fields.Name', `${tag}-1`);
});

test('airtable: validation, unknown field, auth and not-found errors', async () => {
  const badSelect = await fails('create (unknown select option)', () => table.create([{ fields: { Email: `${unique('x')}@example.com`, Status: 'Nope' } }]));
  expect('create (unknown select option)', badSelect, 'statusCode', 422);
  expect('create (unknown select option)', badSelect, 'error', 'INVALID_MULTIPLE_CHOICE_OPTIONS');
  const unknown = await fails('create (unknown field)', () => table.create([{ fields: { Nope: 1 } }]));
  expect('create (unknown field)', unknown, 'statusCode', 422);
  expect('create (unknown field)', unknown, 'error', 'UNKNOWN_FIELD_NAME');
  const tooMany = await fails('create (11 records)', () => table.create(Array.from({ length: 11 }, (_, i) => ({ fields: { Name: `n${i}` } }))));
  expect('create (11 records)', tooMany, 'statusCode', 422);

  const stranger = new Airtable({ apiKey: 'patWrong.000', endpointUrl: URL.airtable }).base(AIRTABLE_BASE)('Contacts');
  const denied = await fails('select (wrong token)', () => stranger.select().firstPage());
  expect('select (wrong token)', denied, 'statusCode', 401);
  expect('select (wrong token)', denied, 'error', 'AUTHENTICATION_REQUIRED');
  const noTable = await fails('select (unknown table)', () => airtable.base(AIRTABLE_BASE)('Nope').select().firstPage());
  expect('select (unknown table)', noTable, 'statusCode', (s) => s === 403 || s === 404);
  const noRec = await fails('find (unknown record)', () => table.find('recAAAAAAAAAAAAAA'));
  expect('find (unknown record)', noRec, 'statusCode', 404);
});

test('airtable: 429 is retried by the client', async () => {
  const before = await stats('airtable');
  await faults('airtable', { next: [429] });
  const page = await table.select({ maxRecords: 1 }).firstPage();
  expect('select after one 429', page, 'length', 1);
  const after = await stats('airtable');
  expect('/_sim/stats after one 429', after.rate_limited - before.rate_limited, '', 1);
});
