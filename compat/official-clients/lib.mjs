// Shared by the agreement tests: where the simulators listen, the
// credentials `sluice sim` accepts (internal/simrun), the /_sim/ controls,
// and assertions that name the call and the field on a mismatch.
import assert from 'node:assert/strict';

export const PORTS = { hubspot: 18101, airtable: 18102, notion: 18103, slack: 18104, sheets: 18105 };
export const URL = Object.fromEntries(Object.entries(PORTS).map(([p, port]) => [p, `http://127.0.0.1:${port}`]));

export const TOKENS = {
  hubspot: 'pat-sim-hubspot-00000000',
  airtable: 'patSimAirtable.0000000000',
  notion: 'secret_simnotion000000000',
  slack: 'xoxb-sim-slack-000000000',
  sheets: 'ya29.sim-sheets-000000000',
};
export const AIRTABLE_BASE = 'appSluiceSim00001';
export const NOTION_DB = '9b2f4c1e-3a5d-4e6f-8a7b-1c2d3e4f5a6b';
export const NOTION_MULTI_DB = '5e1d0c2b-7a3f-4b8e-9c6d-2f1e0a9b8c7d';
export const NOTION_LEADS_SOURCE = '6f2e1d3c-8b4a-4c9f-8d7e-3a2b1c0d9e8f';
export const NOTION_PARTNERS_SOURCE = '7a3f2e4d-9c5b-4dab-9e8f-4b3c2d1e0f9a';
export const SLACK_CHANNEL = 'C0SLUICE02';
export const SHEETS_ID = '1SluiceSimLeadsSheet000000000000000000000000';

async function control(platform, method, path, body) {
  const res = await fetch(`${URL[platform]}/_sim/${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${platform} /_sim/${path}: HTTP ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

/** Clears records and faults of one simulator. */
export const reset = (platform) => control(platform, 'POST', 'reset');
/** Replaces the faults of one simulator (package sim's Faults document). */
export const faults = (platform, f) => control(platform, 'PUT', 'faults', f);
/** The request statistics of one simulator. */
export const stats = (platform) => control(platform, 'GET', 'stats');

/** Reads a dotted path ("results.0.properties.email") from a value. */
export function pick(value, path) {
  if (path === '') return value;
  return path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), value);
}

/**
 * expect checks one field of what an official client returned; a mismatch
 * fails naming the call and the field.
 */
export function expect(call, value, path, want) {
  const got = pick(value, path);
  if (typeof want === 'function') {
    assert.ok(want(got), `${call}: field ${path}: unexpected ${JSON.stringify(got)}`);
    return got;
  }
  assert.deepEqual(got, want, `${call}: field ${path}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  return got;
}

/** fails runs fn, which must reject; returns the error for field checks. */
export async function fails(call, fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail(`${call}: succeeded, want an error`);
}

export const isString = (v) => typeof v === 'string' && v.length > 0;
export const unique = (prefix) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
