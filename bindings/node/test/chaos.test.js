'use strict';

// Chaos under load: 256 promises in flight while the mock upstream (its `/chaos/{seed}/` mode)
// resets connections, stalls, truncates bodies and streams, sends malformed JSON and 429/5xx
// with and without Retry-After. Every call ends within its deadline with a result or a typed
// error, the counts add up, and once the client is closed the process holds no more
// descriptors or threads than before.

const { after, before, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const liter = require('liter-llm');
const native = require('../lib/native');
const { startMockUpstream } = require('./support/mock-upstream');

const { Client, LiterLlmError } = liter;

const IN_FLIGHT = 256;
// Only catches a hang: a call's deadline bounds each wait, a stream's wait per chunk included.
const MARGIN_MS = 5000;

const descriptors = () => fs.readdirSync('/proc/self/fd').length;
const threads = () => Number(/^Threads:\s+(\d+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);

/** A seeded generator in [0, 1) (mulberry32), so a run can be repeated. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function oneCall(client, baseUrl, i, rng) {
  const deadline = [0.5, 1, 1.5][Math.floor(rng() * 3)];
  const controller = new AbortController();
  if (i % 8 === 5) setTimeout(() => controller.abort(), rng() * 400);
  const request = {
    model: 'openai/gpt-chaos',
    messages: [{ role: 'user', content: `call ${i}` }],
    api_key: 'sk-test-chaos',
    base_url: baseUrl,
    timeout: deadline,
    signal: controller.signal,
  };
  const started = Date.now();
  let outcome;
  try {
    if (i % 3 === 0) {
      const stream = await client.completion({ ...request, stream: true });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'chaos ok');
    } else {
      const response = await client.completion(request);
      assert.equal(response.choices[0].message.content, 'chaos ok');
    }
    outcome = 'result';
  } catch (error) {
    assert.ok(error instanceof LiterLlmError && error.constructor !== LiterLlmError, String(error));
    assert.notEqual(error.kind, 'internal', String(error));
    outcome = error.kind;
  }
  const took = Date.now() - started;
  assert.ok(took < deadline * 1000 + MARGIN_MS, `a call with a ${deadline}s deadline took ${took} ms`);
  return outcome;
}

async function wave(baseUrl, seed) {
  const rng = random(seed);
  const client = new Client({});
  const outcomes = {};
  try {
    const calls = [];
    for (let i = 0; i < IN_FLIGHT; i++) calls.push(oneCall(client, baseUrl, i, rng));
    for (const outcome of await Promise.all(calls)) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  } finally {
    await client.close();
  }
  assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), IN_FLIGHT, JSON.stringify(outcomes));
  return outcomes;
}

/** `measure()` once it is at most `limit`, or after 5 s (connections close asynchronously). */
async function settled(limit, measure) {
  const deadline = Date.now() + 5000;
  let value = measure();
  while (value > limit && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = measure();
  }
  return value;
}

let mock;
before(async () => {
  mock = await startMockUpstream();
});
after(async () => {
  await mock.close();
});

test('256 calls in flight under chaos', async () => {
  const baseUrl = `${mock.url}/chaos/1802`;
  const warm = await wave(baseUrl, 1);
  const fds = descriptors();
  const threadCount = threads();
  const outcomes = await wave(baseUrl, 2);
  assert.equal(native.pendingCount(), 0, "a call's callback did not fire");
  assert.ok(outcomes.result > 0 && outcomes.cancelled > 0, JSON.stringify(outcomes));
  assert.ok(Object.keys(outcomes).filter((k) => k !== 'result' && k !== 'cancelled').length >= 3, JSON.stringify(outcomes));
  assert.ok((await settled(fds, descriptors)) <= fds, `descriptors grew from ${fds}`);
  assert.ok((await settled(threadCount, threads)) <= threadCount, `threads grew from ${threadCount}`);
  console.log(`chaos node: warm-up ${JSON.stringify(warm)}; measured ${JSON.stringify(outcomes)}`);
});
