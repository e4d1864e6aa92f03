// @googleapis/sheets against the Google Sheets simulator: values get,
// batchGet, append, update and batchUpdate (the Sheets connector's calls),
// the Google error shapes, and the client's own 429 retry; a 429 on a read
// names the read quota.
import { test, before } from 'node:test';
import { sheets, auth } from '@googleapis/sheets';
import { URL, TOKENS, SHEETS_ID, reset, faults, stats, expect, fails, isString, unique } from '../lib.mjs';

function client(token) {
  const oauth = new auth.OAuth2();
  oauth.setCredentials({ access_token: token, expiry_date: Date.now() + 3600_000 });
  return sheets({ version: 'v4', auth: oauth, rootUrl: `${URL.sheets}/` });
}
const api = client(TOKENS.sheets);
const values = api.spreadsheets.values;
const noRetry = { retryConfig: { retry: 0 } };

before(() => reset('sheets'));

test('sheets: read the header, append, update, batchUpdate, batchGet', async () => {
  const head = await values.get({ spreadsheetId: SHEETS_ID, range: 'Leads!A1:E1' });
  expect('values.get', head, 'status', 200);
  expect('values.get', head, 'data.values.0', ['email', 'name', 'company', 'amount', 'phone']);
  expect('values.get', head, 'data.range', (r) => r.startsWith('Leads!A1'));

  const email = `${unique('ann')}@example.com`;
  const app = await values.append({
    spreadsheetId: SHEETS_ID, range: 'Leads!A:E', valueInputOption: 'RAW', insertDataOption: 'INSERT_ROWS',
    requestBody: { values: [[email, 'Ann', 'Acme', 12, '+1 555']] },
  });
  expect('values.append', app, 'data.spreadsheetId', SHEETS_ID);
  const updatedRange = expect('values.append', app, 'data.updates.updatedRange', (r) => /^Leads!A\d+:E\d+$/.test(r));
  expect('values.append', app, 'data.updates.updatedRows', 1);
  expect('values.append', app, 'data.updates.updatedCells', 5);
  expect('values.append', app, 'data.tableRange', isString);
  const row = Number(updatedRange.match(/A(\d+):/)[1]);

  const upd = await values.update({ spreadsheetId: SHEETS_ID, range: `Leads!B${row}`, valueInputOption: 'RAW', requestBody: { values: [['Anne']] } });
  expect('values.update', upd, 'data.updatedCells', 1);
  expect('values.update', upd, 'data.updatedRange', `Leads!B${row}`);

  const batch = await values.batchUpdate({ spreadsheetId: SHEETS_ID, requestBody: { valueInputOption: 'USER_ENTERED', data: [{ range: `Leads!C${row}:D${row}`, values: [['Acme Inc', '13']] }] } });
  expect('values.batchUpdate', batch, 'data.totalUpdatedCells', 2);
  expect('values.batchUpdate', batch, 'data.responses.0.updatedRange', `Leads!C${row}:D${row}`);

  const both = await values.batchGet({ spreadsheetId: SHEETS_ID, ranges: ['Leads!A:A', `Leads!A${row}:E${row}`], valueRenderOption: 'UNFORMATTED_VALUE' });
  expect('values.batchGet', both, 'data.valueRanges.length', 2);
  expect('values.batchGet', both, 'data.valueRanges.0.values', (v) => v.some((r) => r[0] === email));
  expect('values.batchGet', both, 'data.valueRanges.1.values.0', [email, 'Anne', 'Acme Inc', 13, '+1 555']);
});

test('sheets: Google error shapes', async () => {
  const badRange = await fails('values.get (unknown tab)', () => values.get({ spreadsheetId: SHEETS_ID, range: 'Nope!A1' }, noRetry));
  expect('values.get (unknown tab)', badRange, 'response.status', 400);
  expect('values.get (unknown tab)', badRange, 'response.data.error.status', 'INVALID_ARGUMENT');
  expect('values.get (unknown tab)', badRange, 'response.data.error.message', (m) => m.includes('Unable to parse range'));
  const noOption = await fails('values.append (no valueInputOption)', () => values.append({ spreadsheetId: SHEETS_ID, range: 'Leads!A:E', requestBody: { values: [['x']] } }, noRetry));
  expect('values.append (no valueInputOption)', noOption, 'response.status', 400);
  const missing = await fails('values.get (unknown spreadsheet)', () => values.get({ spreadsheetId: 'nope', range: 'A1' }, noRetry));
  expect('values.get (unknown spreadsheet)', missing, 'response.status', 404);
  expect('values.get (unknown spreadsheet)', missing, 'response.data.error.status', 'NOT_FOUND');
  const denied = await fails('values.get (wrong token)', () => client('ya29.wrong').spreadsheets.values.get({ spreadsheetId: SHEETS_ID, range: 'Leads!A1' }, noRetry));
  expect('values.get (wrong token)', denied, 'response.status', 401);
  expect('values.get (wrong token)', denied, 'response.data.error.status', 'UNAUTHENTICATED');
});

test('sheets: a 429 on a read names the read quota, and the client retries it', async () => {
  await faults('sheets', { next: [429] });
  const quota = await fails('values.get (429)', () => values.get({ spreadsheetId: SHEETS_ID, range: 'Leads!A1' }, noRetry));
  expect('values.get (429)', quota, 'response.status', 429);
  expect('values.get (429)', quota, 'response.data.error.status', 'RESOURCE_EXHAUSTED');
  expect('values.get (429)', quota, 'response.data.error.message', (m) => m.includes("'Read requests per minute per user'"));

  const before = await stats('sheets');
  await faults('sheets', { next: [429] });
  const ok = await values.get({ spreadsheetId: SHEETS_ID, range: 'Leads!A1' }, { retryConfig: { retry: 2, retryDelay: 100, statusCodesToRetry: [[429, 429], [500, 599]] } });
  expect('values.get after one 429', ok, 'status', 200);
  const after = await stats('sheets');
  expect('/_sim/stats after one 429', after.rate_limited - before.rate_limited, '', 1);
  expect('/_sim/stats after one 429', after.requests - before.requests, '', 2);
});
