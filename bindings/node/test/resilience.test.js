'use strict';

// Retries, fallbacks and configuration live in the core; these check that the binding carries
// them through: `configure()`, the response's `liter_llm` member, `attempts` and `tried` on errors.

const { after, afterEach, before, beforeEach, describe, test } = require('node:test');
const assert = require('node:assert/strict');

const liter = require('liter-llm');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion, viaSession } = require('./support/fixtures');

describe('retries, fallbacks and configuration', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });
  beforeEach(() => liter.configure({}));
  afterEach(() => liter.configure({}));

  test('a retry honours retry-after-ms, and the response says what served it', async () => {
    const session = await mock.session([
      { status: 429, headers: { 'retry-after-ms': '250' }, json: { error: { message: 'slow' } } },
      { json: openaiCompletion('second time') },
    ]);
    const r = await liter.completion({ model: 'openai/gpt', prompt: 'x', ...viaSession(session) });
    assert.equal(r.choices[0].message.content, 'second time');
    assert.deepEqual(r.liter_llm, { provider: 'openai', model: 'openai/gpt', attempts: 2, cache: 'off', cost_usd: null });
    const [first, second] = (await mock.requests(session.id)).map((request) => request.received_at_ms);
    assert.ok(second - first >= 250, `the retry came ${second - first} ms after the first attempt`);
  });

  test('the final error reports its attempts and every fallback tried', async () => {
    const session = await mock.session([{ status: 503, headers: { 'retry-after': '0' }, json: {} }], { repeatLast: true });
    const error = await liter
      .completion({ model: 'openai/a', prompt: 'x', ...viaSession(session), max_retries: 1, fallbacks: ['openai/b'] })
      .catch((e) => e);
    assert.ok(error instanceof liter.ServiceUnavailableError, String(error));
    assert.equal(error.attempts, 4);
    assert.deepEqual(
      error.tried.map((t) => t.model),
      ['openai/a', 'openai/b'],
    );
    assert.deepEqual(error.tried, error.body.tried);
  });

  test('configure() sets providers and routes for later calls', async () => {
    const session = await mock.session([{ json: openaiCompletion('ok') }], { repeatLast: true });
    liter.configure({
      providers: { openai: { api_key: 'sk-test-configured', base_url: session.baseUrl } },
      routes: { chat: { strategy: 'round_robin', models: ['openai/one', 'openai/two'] } },
    });
    const served = [];
    for (let i = 0; i < 3; i++) served.push((await liter.completion({ model: 'chat', prompt: 'x' })).liter_llm.model);
    assert.deepEqual(served, ['openai/one', 'openai/two', 'openai/one']);
    const keys = new Set((await mock.requests(session.id)).map((r) => r.headers.authorization));
    assert.deepEqual([...keys], ['Bearer sk-test-configured']);
  });

  test('an invalid configuration throws BadRequestError naming the key; misuse is a TypeError', () => {
    assert.throws(() => liter.configure({ providers: { openai: { rpm: 'sixty' } } }), (error) => {
      assert.ok(error instanceof liter.BadRequestError);
      assert.match(error.message, /providers\.openai\.rpm/);
      return true;
    });
    for (const config of [[], null, undefined, 'x']) assert.throws(() => liter.configure(config), TypeError);
    assert.throws(() => liter.configure({ defaults: { timeout: NaN } }), TypeError);
  });
});
