// @slack/web-api against the Slack simulator: chat.postMessage (text,
// blocks, metadata), chat.update and conversations.history (the Slack
// connector's calls), auth.test, the ok:false errors, a revoked token and
// an unknown method (HTTP 200 bodies, never retried) and the client's own
// 429 retry after Retry-After.
import { test, before } from 'node:test';
import { WebClient, ErrorCode, LogLevel } from '@slack/web-api';
import { URL, TOKENS, SLACK_CHANNEL, reset, faults, stats, expect, fails, isString, unique } from '../lib.mjs';

const options = { slackApiUrl: `${URL.slack}/api/`, logLevel: LogLevel.ERROR, retryConfig: { retries: 2, factor: 1, minTimeout: 100, maxTimeout: 500 } };
const slack = new WebClient(TOKENS.slack, options);

before(() => reset('slack'));

test('slack: auth.test', async () => {
  const me = await slack.auth.test();
  expect('auth.test', me, 'ok', true);
  expect('auth.test', me, 'team_id', isString);
  expect('auth.test', me, 'user_id', isString);
});

test('slack: post, update, read back with metadata', async () => {
  const key = unique('lead');
  const posted = await slack.chat.postMessage({
    channel: SLACK_CHANNEL,
    text: `New lead ${key}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*New lead* ${key}` } }],
    metadata: { event_type: 'sluice_record', event_payload: { record_key: key } },
  });
  expect('chat.postMessage', posted, 'ok', true);
  expect('chat.postMessage', posted, 'channel', SLACK_CHANNEL);
  const ts = expect('chat.postMessage', posted, 'ts', (t) => /^\d+\.\d{6}$/.test(t));
  expect('chat.postMessage', posted, 'message.text', `New lead ${key}`);

  const upd = await slack.chat.update({ channel: SLACK_CHANNEL, ts, text: `Updated ${key}`, metadata: { event_type: 'sluice_record', event_payload: { record_key: key } } });
  expect('chat.update', upd, 'ok', true);
  expect('chat.update', upd, 'ts', ts);
  expect('chat.update', upd, 'text', `Updated ${key}`);

  const hist = await slack.conversations.history({ channel: SLACK_CHANNEL, limit: 10, include_all_metadata: true });
  expect('conversations.history', hist, 'ok', true);
  const msg = expect('conversations.history', hist, 'messages', (m) => m.some((x) => x.ts === ts));
  const mine = msg.find((x) => x.ts === ts);
  expect('conversations.history', mine, 'text', `Updated ${key}`);
  expect('conversations.history', mine, 'metadata.event_payload.record_key', key);
  expect('conversations.history', hist, 'has_more', (v) => typeof v === 'boolean');
  expect('conversations.history', hist, 'response_metadata', (v) => v === undefined || typeof v === 'object');
});

test('slack: history pages with cursors', async () => {
  for (let i = 0; i < 3; i++) await slack.chat.postMessage({ channel: SLACK_CHANNEL, text: `page ${i}` });
  const first = await slack.conversations.history({ channel: SLACK_CHANNEL, limit: 2 });
  expect('conversations.history (limit 2)', first, 'messages.length', 2);
  expect('conversations.history (limit 2)', first, 'has_more', true);
  const cursor = expect('conversations.history (limit 2)', first, 'response_metadata.next_cursor', isString);
  const second = await slack.conversations.history({ channel: SLACK_CHANNEL, limit: 2, cursor });
  expect('conversations.history (cursor)', second, 'messages.0.ts', (ts) => ts !== first.messages[0].ts && ts !== first.messages[1].ts);
});

test('slack: ok:false errors, revoked token and unknown method are not retried', async () => {
  const noChannel = await fails('chat.postMessage (unknown channel)', () => slack.chat.postMessage({ channel: 'C0NOPE', text: 'x' }));
  expect('chat.postMessage (unknown channel)', noChannel, 'code', ErrorCode.PlatformError);
  expect('chat.postMessage (unknown channel)', noChannel, 'data.error', 'channel_not_found');
  const noText = await fails('chat.postMessage (no text)', () => slack.chat.postMessage({ channel: SLACK_CHANNEL }));
  expect('chat.postMessage (no text)', noText, 'data.error', 'no_text');
  const badTs = await fails('chat.update (unknown ts)', () => slack.chat.update({ channel: SLACK_CHANNEL, ts: '1.000001', text: 'x' }));
  expect('chat.update (unknown ts)', badTs, 'data.error', 'message_not_found');
  const stranger = new WebClient('xoxb-wrong', options);
  const denied = await fails('auth.test (unknown token)', () => stranger.auth.test());
  expect('auth.test (unknown token)', denied, 'data.error', 'invalid_auth');

  const before = await stats('slack');
  const unknown = await fails('apiCall chat.nope', () => slack.apiCall('chat.nope', {}));
  expect('apiCall chat.nope', unknown, 'code', ErrorCode.PlatformError);
  expect('apiCall chat.nope', unknown, 'data.error', 'unknown_method');

  await faults('slack', { revoked: true });
  try {
    const revoked = await fails('chat.postMessage (revoked token)', () => slack.chat.postMessage({ channel: SLACK_CHANNEL, text: 'x' }));
    expect('chat.postMessage (revoked token)', revoked, 'code', ErrorCode.PlatformError);
    expect('chat.postMessage (revoked token)', revoked, 'data.error', 'token_revoked');
  } finally {
    await faults('slack', {});
  }
  const after = await stats('slack');
  expect('/_sim/stats (one request each, no retries)', after.requests - before.requests, '', 2);
});

test('slack: 429 is retried by the client after Retry-After', async () => {
  const before = await stats('slack');
  await faults('slack', { next: [429] });
  const posted = await slack.chat.postMessage({ channel: SLACK_CHANNEL, text: 'after a 429' });
  expect('chat.postMessage after one 429', posted, 'ok', true);
  const after = await stats('slack');
  expect('/_sim/stats after one 429', after.rate_limited - before.rate_limited, '', 1);
  expect('/_sim/stats after one 429', after.requests - before.requests, '', 2);
});
