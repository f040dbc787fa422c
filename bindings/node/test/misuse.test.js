'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');

const liter = require('liter-llm');

const ok = { model: 'mock/m', prompt: 'Hi' };

test('a missing or non-object request is a TypeError', async () => {
  for (const request of [undefined, null, 'text', 42, ['model'], true]) {
    await assert.rejects(liter.invoke('mock', request), TypeError, `request ${String(request)}`);
  }
  for (const params of [undefined, null, 'mock/m', [ok]]) {
    await assert.rejects(liter.completion(params), TypeError, `params ${String(params)}`);
  }
});

test('misuse rejects the promise rather than throwing synchronously', async () => {
  const promise = liter.invoke('mock', null);
  assert.ok(promise instanceof Promise);
  await assert.rejects(promise, TypeError);
});

test('a model that is not a string is a TypeError in completion()', async () => {
  await assert.rejects(liter.completion({ prompt: 'Hi' }), { name: 'TypeError', message: /model must be a string/ });
  await assert.rejects(liter.completion({ model: 7, prompt: 'Hi' }), TypeError);
});

test('values JSON cannot carry are TypeErrors', async () => {
  await assert.rejects(liter.invoke('mock', { ...ok, seed: 10n }), { name: 'TypeError', message: /"seed" is a BigInt/ });
  await assert.rejects(liter.invoke('mock', { ...ok, temperature: NaN }), { name: 'TypeError', message: /"temperature" is NaN/ });
  await assert.rejects(liter.invoke('mock', { ...ok, top_p: Infinity }), TypeError);
  // Next to a null the request carries on purpose, and deep in it, a NaN is still found and named.
  await assert.rejects(liter.invoke('mock', { ...ok, user: null, metadata: { scores: [1, NaN] } }), {
    name: 'TypeError',
    message: /"1" is NaN/,
  });
  const circular = { ...ok, metadata: {} };
  circular.metadata.self = circular;
  await assert.rejects(liter.invoke('mock', circular), { name: 'TypeError', message: /circular/ });
});

test('a provider that is not a string (or null/undefined) is a TypeError', async () => {
  for (const provider of [42, {}, ['mock'], Symbol('mock'), true]) {
    await assert.rejects(liter.invoke(provider, ok), TypeError, `provider ${String(provider)}`);
  }
  await assert.rejects(liter.invoke('mo\0ck', ok), { name: 'TypeError', message: /NUL/ });
  await assert.rejects(liter.completion({ ...ok, provider: 3 }), TypeError);
});

test('a signal that is not an AbortSignal is a TypeError; bad options too', async () => {
  await assert.rejects(liter.invoke('mock', ok, { signal: 'stop' }), TypeError);
  await assert.rejects(liter.invoke('mock', ok, { signal: null }), TypeError);
  await assert.rejects(liter.completion({ ...ok, signal: {} }), TypeError);
  await assert.rejects(liter.invoke('mock', ok, 5), TypeError);
});

test('valid calls still work after misuse', async () => {
  const r = await liter.invoke('mock', { ...ok, mock_response: 'still fine' });
  assert.equal(r.choices[0].message.content, 'still fine');
});

test('an empty provider string routes by the model prefix, as in the C ABI', async () => {
  const r = await liter.invoke('', ok);
  assert.equal(r.model, 'm');
});
