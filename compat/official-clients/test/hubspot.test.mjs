// @hubspot/api-client against the HubSpot simulator: every call the HubSpot
// connector makes (batch upsert, read by id, update, search) plus the list,
// the error cases and the client's own 429 and 5xx retries.
import { test, before } from 'node:test';
import { Client } from '@hubspot/api-client';
import { URL, TOKENS, reset, faults, stats, expect, fails, isString, unique } from '../lib.mjs';

const hubspot = new Client({ accessToken: TOKENS.hubspot, basePath: URL.hubspot, numberOfApiCallRetries: 3 });
const contacts = hubspot.crm.contacts;

before(() => reset('hubspot'));

test('hubspot: create, read with repeated properties, update', async () => {
  const email = `${unique('ann')}@example.com`;
  const made = await contacts.basicApi.create({ properties: { email, firstname: 'Ann', phone: '+1 555 0100' }, associations: [] });
  const id = expect('basicApi.create', made, 'id', isString);
  expect('basicApi.create', made, 'properties.email', email);
  expect('basicApi.create', made, 'createdAt', (d) => d instanceof Date && !Number.isNaN(d.getTime()));

  const got = await contacts.basicApi.getById(id, ['email', 'firstname', 'phone']);
  expect('basicApi.getById', got, 'properties.email', email);
  expect('basicApi.getById', got, 'properties.firstname', 'Ann');
  expect('basicApi.getById', got, 'properties.phone', '+1 555 0100');

  const byEmail = await contacts.basicApi.getById(email, ['firstname'], undefined, undefined, false, 'email');
  expect('basicApi.getById(idProperty=email)', byEmail, 'id', id);

  const upd = await contacts.basicApi.update(id, { properties: { firstname: 'Anne' } });
  expect('basicApi.update', upd, 'properties.firstname', 'Anne');
  expect('basicApi.update', upd, 'updatedAt', (d) => d instanceof Date);
});

test('hubspot: list with paging', async () => {
  for (let i = 0; i < 3; i++) {
    await contacts.basicApi.create({ properties: { email: `${unique('list')}@example.com`, firstname: `L${i}` }, associations: [] });
  }
  const first = await contacts.basicApi.getPage(2, undefined, ['email', 'firstname']);
  expect('basicApi.getPage', first, 'results.length', 2);
  expect('basicApi.getPage', first, 'results.0.properties.email', isString);
  const after = expect('basicApi.getPage', first, 'paging.next.after', isString);
  const second = await contacts.basicApi.getPage(2, after, ['email']);
  expect('basicApi.getPage(after)', second, 'results.0.id', (id) => id !== first.results[0].id && id !== first.results[1].id);
  const all = await contacts.getAll(100, undefined, ['email']);
  expect('getAll', all, 'length', (n) => n >= 4);
});

test('hubspot: batch upsert by email, then batch read', async () => {
  const email = `${unique('up')}@example.com`;
  const up = await contacts.batchApi.upsert({ inputs: [{ id: email, idProperty: 'email', properties: { firstname: 'Up' } }] });
  expect('batchApi.upsert', up, 'status', 'COMPLETE');
  expect('batchApi.upsert', up, 'results.0._new', true);
  const id = expect('batchApi.upsert', up, 'results.0.id', isString);
  const again = await contacts.batchApi.upsert({ inputs: [{ id: email, idProperty: 'email', properties: { firstname: 'Up2' } }] });
  expect('batchApi.upsert (existing)', again, 'results.0._new', false);
  expect('batchApi.upsert (existing)', again, 'results.0.id', id);
  const read = await contacts.batchApi.read({ inputs: [{ id }], properties: ['email', 'firstname'], propertiesWithHistory: [] });
  expect('batchApi.read', read, 'results.0.properties.firstname', 'Up2');
});

test('hubspot: search operators, by last-modified date too', async () => {
  const since = Date.now() - 1000;
  const email = `${unique('srch')}@example.net`;
  await contacts.basicApi.create({ properties: { email, firstname: 'Searchable Person' }, associations: [] });
  const search = (filters) => contacts.searchApi.doSearch({ filterGroups: [{ filters }], properties: ['email', 'firstname'], limit: 100, after: '0', sorts: [] });
  const eq = await search([{ propertyName: 'email', operator: 'EQ', value: email }]);
  expect('searchApi.doSearch EQ', eq, 'total', 1);
  expect('searchApi.doSearch EQ', eq, 'results.0.properties.email', email);
  const recent = await search([{ propertyName: 'hs_lastmodifieddate', operator: 'GTE', value: String(since) }]);
  expect('searchApi.doSearch GTE hs_lastmodifieddate', recent, 'results', (r) => r.some((o) => o.properties.email === email));
  const old = await search([{ propertyName: 'hs_lastmodifieddate', operator: 'LT', value: String(since) }]);
  expect('searchApi.doSearch LT hs_lastmodifieddate', old, 'results', (r) => !r.some((o) => o.properties.email === email));
  const between = await search([{ propertyName: 'createdate', operator: 'BETWEEN', value: String(since), highValue: String(Date.now() + 60_000) }]);
  expect('searchApi.doSearch BETWEEN createdate', between, 'results', (r) => r.some((o) => o.properties.email === email));
  const token = await search([{ propertyName: 'firstname', operator: 'CONTAINS_TOKEN', value: 'searchable' }]);
  expect('searchApi.doSearch CONTAINS_TOKEN', token, 'total', 1);
  for (const operator of ['GT', 'LTE']) {
    const r = await search([{ propertyName: 'hs_lastmodifieddate', operator, value: String(since) }]);
    expect(`searchApi.doSearch ${operator}`, r, 'results', Array.isArray);
  }
});

test('hubspot: validation, conflict and auth errors', async () => {
  const bad = await fails('basicApi.create (bad email)', () => contacts.basicApi.create({ properties: { email: 'not-an-email' }, associations: [] }));
  expect('basicApi.create (bad email)', bad, 'code', 400);
  expect('basicApi.create (bad email)', bad, 'body.category', 'VALIDATION_ERROR');

  const email = `${unique('dup')}@example.com`;
  await contacts.basicApi.create({ properties: { email }, associations: [] });
  const dup = await fails('basicApi.create (duplicate)', () => contacts.basicApi.create({ properties: { email }, associations: [] }));
  expect('basicApi.create (duplicate)', dup, 'code', 409);
  expect('basicApi.create (duplicate)', dup, 'body.category', 'CONFLICT');
  expect('basicApi.create (duplicate)', dup, 'body.message', (m) => /Existing ID: \d+/.test(m));

  const missing = await fails('basicApi.getById (unknown)', () => contacts.basicApi.getById('999999999'));
  expect('basicApi.getById (unknown)', missing, 'code', 404);

  const stranger = new Client({ accessToken: 'pat-wrong', basePath: URL.hubspot, numberOfApiCallRetries: 1 });
  const denied = await fails('basicApi.getPage (wrong token)', () => stranger.crm.contacts.basicApi.getPage(1));
  expect('basicApi.getPage (wrong token)', denied, 'code', 401);
  expect('basicApi.getPage (wrong token)', denied, 'body.category', 'INVALID_AUTHENTICATION');
});

test('hubspot: 429 (TEN_SECONDLY_ROLLING, the client waits 10 s) and 500 are retried by the client', async () => {
  for (const status of [429, 500]) {
    const before = await stats('hubspot');
    await faults('hubspot', { next: [status] });
    const page = await contacts.basicApi.getPage(1);
    expect(`basicApi.getPage after one ${status}`, page, 'results.length', 1);
    const after = await stats('hubspot');
    expect(`/_sim/stats after one ${status}`, after.by_status[status] - (before.by_status[status] ?? 0), '', 1);
    expect(`/_sim/stats after one ${status}`, after.requests - before.requests, '', 2);
  }
});
