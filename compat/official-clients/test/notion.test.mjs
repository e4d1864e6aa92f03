// @notionhq/client (Notion-Version 2025-09-03 by default) against the Notion
// simulator: resolve a database's data source, read its schema, create pages
// under a data_source_id parent, update them, query the data source (the
// Notion connector's calls), a database with two data sources, the older
// version, the error cases and the client's own 429 retry.
import { test, before } from 'node:test';
import { Client, APIResponseError, LogLevel } from '@notionhq/client';
import { URL, TOKENS, NOTION_DB, NOTION_MULTI_DB, NOTION_LEADS_SOURCE, NOTION_PARTNERS_SOURCE, reset, faults, stats, expect, fails, isString, unique } from '../lib.mjs';

const options = { auth: TOKENS.notion, baseUrl: URL.notion, maxRetries: 2, initialRetryDelayMs: 100, maxRetryDelayMs: 2000, logLevel: LogLevel.ERROR };
const notion = new Client(options);
const title = (s) => ({ title: [{ type: 'text', text: { content: s } }] });

before(() => reset('notion'));

test('notion: the client speaks 2025-09-03 by default', () => {
  expect('Client.defaultNotionVersion', Client, 'defaultNotionVersion', '2025-09-03');
});

test('notion: resolve the data source, create, update, query it', async () => {
  const db = await notion.databases.retrieve({ database_id: NOTION_DB });
  expect('databases.retrieve', db, 'object', 'database');
  expect('databases.retrieve', db, 'data_sources.length', 1);
  expect('databases.retrieve', db, 'properties', undefined);
  const sourceID = expect('databases.retrieve', db, 'data_sources.0.id', isString);

  const ds = await notion.dataSources.retrieve({ data_source_id: sourceID });
  expect('dataSources.retrieve', ds, 'object', 'data_source');
  expect('dataSources.retrieve', ds, 'properties.Email.type', 'email');
  expect('dataSources.retrieve', ds, 'properties.Stage.select.options', (o) => Array.isArray(o) && o.some((x) => x.name === 'Lead'));
  expect('dataSources.retrieve', ds, 'parent.database_id', NOTION_DB);

  const email = `${unique('ann')}@example.com`;
  const page = await notion.pages.create({
    parent: { type: 'data_source_id', data_source_id: sourceID },
    properties: { Name: title('Ann'), Email: { email }, Amount: { number: 12 }, Stage: { select: { name: 'Lead' } } },
  });
  expect('pages.create', page, 'object', 'page');
  expect('pages.create', page, 'parent.type', 'data_source_id');
  expect('pages.create', page, 'parent.data_source_id', sourceID);
  expect('pages.create', page, 'parent.database_id', NOTION_DB);
  expect('pages.create', page, 'properties.Email.email', email);
  expect('pages.create', page, 'properties.Name.title.0.plain_text', 'Ann');

  const upd = await notion.pages.update({ page_id: page.id, properties: { Amount: { number: 13 } } });
  expect('pages.update', upd, 'properties.Amount.number', 13);
  expect('pages.update', upd, 'parent.data_source_id', sourceID);

  const q = await notion.dataSources.query({ data_source_id: sourceID, filter: { property: 'Email', email: { equals: email } }, page_size: 10 });
  expect('dataSources.query', q, 'object', 'list');
  expect('dataSources.query', q, 'results.length', 1);
  expect('dataSources.query', q, 'results.0.id', page.id);
  expect('dataSources.query', q, 'has_more', false);
  expect('dataSources.query', q, 'next_cursor', null);

  const got = await notion.pages.retrieve({ page_id: page.id });
  expect('pages.retrieve', got, 'properties.Amount.number', 13);
});

test('notion: a database with two data sources', async () => {
  const db = await notion.databases.retrieve({ database_id: NOTION_MULTI_DB });
  expect('databases.retrieve (two sources)', db, 'data_sources', (l) => l.length === 2 && l[0].id === NOTION_LEADS_SOURCE && l[1].id === NOTION_PARTNERS_SOURCE);
  const p = await notion.pages.create({ parent: { data_source_id: NOTION_PARTNERS_SOURCE }, properties: { Name: title('Partner'), Tier: { number: 1 } } });
  expect('pages.create (second source)', p, 'parent.data_source_id', NOTION_PARTNERS_SOURCE);
  const q = await notion.dataSources.query({ data_source_id: NOTION_LEADS_SOURCE });
  expect('dataSources.query (other source)', q, 'results', (r) => !r.some((x) => x.id === p.id));

  const viaDatabase = await fails('pages.create (database_id parent, two sources)', () =>
    notion.pages.create({ parent: { database_id: NOTION_MULTI_DB }, properties: { Name: title('x') } }));
  expect('pages.create (database_id parent, two sources)', viaDatabase, 'status', 400);
  expect('pages.create (database_id parent, two sources)', viaDatabase, 'code', 'validation_error');

  const legacy = new Client({ ...options, notionVersion: '2022-06-28' });
  const oldQuery = await fails('POST databases/{id}/query at 2022-06-28 (two sources)', () =>
    legacy.request({ path: `databases/${NOTION_MULTI_DB}/query`, method: 'post', body: {} }));
  expect('POST databases/{id}/query at 2022-06-28 (two sources)', oldQuery, 'code', 'validation_error');
});

test('notion: the older version still works on a single-source database', async () => {
  const legacy = new Client({ ...options, notionVersion: '2022-06-28' });
  const db = await legacy.request({ path: `databases/${NOTION_DB}`, method: 'get' });
  expect('GET databases/{id} at 2022-06-28', db, 'properties.Email.type', 'email');
  const page = await legacy.pages.create({ parent: { database_id: NOTION_DB }, properties: { Name: title('Old'), Email: { email: `${unique('old')}@example.com` } } });
  expect('pages.create at 2022-06-28', page, 'parent.type', 'database_id');
  expect('pages.create at 2022-06-28', page, 'parent.database_id', NOTION_DB);
  const q = await legacy.request({ path: `databases/${NOTION_DB}/query`, method: 'post', body: { page_size: 100 } });
  expect('POST databases/{id}/query at 2022-06-28', q, 'results', (r) => r.some((x) => x.id === page.id));
  const gone = await fails('POST databases/{id}/query at 2025-09-03', () => notion.request({ path: `databases/${NOTION_DB}/query`, method: 'post', body: {} }));
  expect('POST databases/{id}/query at 2025-09-03', gone, 'code', 'invalid_request_url');
});

test('notion: validation, not-found and auth errors', async () => {
  const wrongType = await fails('pages.create (wrong value type)', () =>
    notion.pages.create({ parent: { data_source_id: NOTION_LEADS_SOURCE }, properties: { Name: title('x'), Amount: { rich_text: [] } } }));
  expect('pages.create (wrong value type)', wrongType, 'code', 'validation_error');
  expect('pages.create (wrong value type)', wrongType, 'status', 400);
  expect('pages.create (wrong value type)', wrongType, '', (e) => APIResponseError.isAPIResponseError(e));
  const tooLong = await fails('pages.create (2001 chars)', () =>
    notion.pages.create({ parent: { data_source_id: NOTION_LEADS_SOURCE }, properties: { Name: title('x'.repeat(2001)) } }));
  expect('pages.create (2001 chars)', tooLong, 'message', (m) => m.includes('2000'));
  const missing = await fails('pages.retrieve (unknown)', () => notion.pages.retrieve({ page_id: '00000000-0000-4000-8000-000000000000' }));
  expect('pages.retrieve (unknown)', missing, 'code', 'object_not_found');
  expect('pages.retrieve (unknown)', missing, 'status', 404);
  const stranger = new Client({ ...options, auth: 'secret_wrong' });
  const denied = await fails('dataSources.query (wrong token)', () => stranger.dataSources.query({ data_source_id: NOTION_LEADS_SOURCE }));
  expect('dataSources.query (wrong token)', denied, 'code', 'unauthorized');
  expect('dataSources.query (wrong token)', denied, 'status', 401);
});

test('notion: 429 with Retry-After is retried by the client', async () => {
  const before = await stats('notion');
  await faults('notion', { next: [429] });
  const q = await notion.dataSources.query({ data_source_id: NOTION_LEADS_SOURCE, page_size: 1 });
  expect('dataSources.query after one 429', q, 'object', 'list');
  const after = await stats('notion');
  expect('/_sim/stats after one 429', after.rate_limited - before.rate_limited, '', 1);
});
