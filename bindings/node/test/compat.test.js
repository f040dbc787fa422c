'use strict';

// LiteLLM-style calls: a model without a provider prefix, mock_response for a real provider
// (no key, no network) and the cost every answer carries.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const liter = require('liter-llm');

test('mock_response answers for an inferred provider without a key, with its cost', async () => {
  const saved = process.env.OPENAI_API_KEY;
  delete process.env.OPENAI_API_KEY;
  try {
    const r = await liter.completion({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], mock_response: 'hi' });
    assert.equal(r.choices[0].message.content, 'hi');
    assert.equal(r.liter_llm.provider, 'openai');
    assert.equal(r.liter_llm.model, 'openai/gpt-4o-mini');
    // 2 prompt tokens at $0.15 and 1 completion token at $0.60 per million.
    assert.ok(Math.abs(r.liter_llm.cost_usd - 0.9e-6) < 1e-15, String(r.liter_llm.cost_usd));
  } finally {
    if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
  }
  const unpriced = await liter.completion({ model: 'mock/m', prompt: 'x' });
  assert.equal(unpriced.liter_llm.cost_usd, null);
});

test('the usage chunk of a stream carries the cost', async () => {
  const stream = await liter.completion({ model: 'claude-haiku-4-5', prompt: 'Hello', mock_response: 'a b', stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(Math.abs(last.liter_llm.cost_usd - 7e-6) < 1e-15, JSON.stringify(last));
  assert.ok(chunks.slice(0, -1).every((c) => c.liter_llm === undefined));
});

test('a name no pattern matches is unsupported and lists the patterns', async () => {
  const error = await liter.completion({ model: 'llama-3.3-70b', prompt: 'x' }).catch((e) => e);
  assert.ok(error instanceof liter.UnsupportedProviderError, String(error));
  assert.match(error.message, /gpt-\* \(openai\)/);
});
