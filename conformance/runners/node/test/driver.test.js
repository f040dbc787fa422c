'use strict';

// The Node driver speaks the protocol of conformance/RUNNER_CONTRACT.md ("Drivers") and reports
// the Node binding's native error checks. Calls go to the built-in mock provider and to providers
// with no key (an authentication error before any request), so no upstream is needed.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { test } = require('node:test');

const { nativeErrorProblems } = require('../driver');

const binding = require(path.join(__dirname, '..', '..', '..', '..', 'bindings', 'node'));
const MESSAGES = [{ role: 'user', content: 'Hi' }];

/** A running driver: `send(message)` resolves to the next line it writes. */
function startDriver() {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'driver.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let id = 0;
  return {
    async send(message) {
      if (message.id === undefined) message = { id: ++id, ...message };
      child.stdin.write(`${JSON.stringify(message)}\n`);
      const { value } = await lines.next();
      return JSON.parse(value);
    },
    write(message) {
      child.stdin.write(`${JSON.stringify(message)}\n`);
    },
    async next() {
      return JSON.parse((await lines.next()).value);
    },
    async close() {
      child.stdin.end();
      const [code] = await new Promise((resolve) => child.on('exit', (...args) => resolve(args)));
      return code;
    },
  };
}

test('hello names the protocol version, and the driver ends with its input', async () => {
  const driver = startDriver();
  const hello = await driver.send({ op: 'hello', protocol: 1 });
  assert.deepEqual(hello, { id: 1, protocol: 1, language: 'node', binding: binding.version });
  assert.deepEqual(await driver.send({ op: 'teleport' }), { id: 2, problem: 'unknown operation "teleport"' });
  assert.equal(await driver.close(), 0);
});

test('invoke returns the response, and an error with its native findings', async () => {
  const driver = startDriver();
  const reply = await driver.send({ op: 'invoke', provider: 'mock', request: { model: 'demo', messages: MESSAGES } });
  assert.equal(reply.response.object, 'chat.completion');
  assert.equal(reply.response.liter_llm.provider, 'mock');

  assert.deepEqual(await driver.send({ op: 'env', name: 'OPENAI_API_KEY', value: null }), { id: 2 });
  const failed = await driver.send({ op: 'invoke', provider: 'openai', request: { model: 'gpt-4o', messages: MESSAGES } });
  assert.equal(failed.error.kind, 'authentication');
  assert.equal(failed.class, 'AuthenticationError');
  assert.deepEqual(failed.native, []);
  await driver.close();
});

test('configure reports a refused configuration as its error', async () => {
  const driver = startDriver();
  const refused = await driver.send({ op: 'configure', config: { defaults: { no_such_key: 1 } } });
  assert.equal(refused.error.kind, 'invalid_request');
  assert.equal(refused.class, 'BadRequestError');
  assert.deepEqual(await driver.send({ op: 'configure', config: {} }), { id: 2 });
  await driver.close();
});

test('a stream is read to its end and assembled, or abandoned after N chunks or in flight', async () => {
  const driver = startDriver();
  const request = { model: 'demo', messages: MESSAGES };
  const whole = await driver.send({ op: 'stream', provider: 'mock', request, cancel_after_chunks: null });
  assert.ok(whole.stream.chunks.length > 1);
  assert.equal(whole.stream.assembled.object, 'chat.completion');

  const one = await driver.send({ op: 'stream', provider: 'mock', request, cancel_after_chunks: 1 });
  assert.equal(one.stream.chunks.length, 1);
  assert.equal(one.stream.cancelled, true);

  driver.write({ id: 9, op: 'stream', provider: 'mock', request, cancel_after_chunks: 0 });
  assert.deepEqual(await driver.next(), { id: 9, event: 'started' });
  driver.write({ id: 9, op: 'cancel' });
  assert.deepEqual(await driver.next(), { id: 9, stream: { chunks: [], cancelled: true } });
  await driver.close();
});

test('a client is created, used and closed; calls after close fail', async () => {
  const driver = startDriver();
  const created = await driver.send({ op: 'client_create', config: {} });
  assert.equal(created.client, 1);
  const reply = await driver.send({ op: 'invoke', client: 1, provider: 'mock', request: { model: 'demo', messages: MESSAGES } });
  assert.equal(reply.response.object, 'chat.completion');
  assert.deepEqual(await driver.send({ op: 'client_close', client: 1 }), { id: 3 });
  const closed = await driver.send({ op: 'invoke', client: 1, provider: 'mock', request: { model: 'demo', messages: MESSAGES } });
  assert.equal(closed.error.kind, 'invalid_request');
  assert.equal(closed.class, 'BadRequestError');
  await driver.close();
});

test('the native checks find an error whose class or properties disagree with its body', () => {
  const body = { kind: 'rate_limited', message: 'slow down', status: 429, provider: 'openai', retry_after: 2, attempts: 1 };
  const details = { kind: 'rate_limited', status: 429, provider: 'openai', retryAfter: 2, attempts: 1, body };
  assert.deepEqual(nativeErrorProblems(binding, new binding.RateLimitError(body.message, details)), []);
  const wrong = new binding.BadRequestError(body.message, { ...details, status: 500 });
  assert.deepEqual(nativeErrorProblems(binding, wrong), [
    'error.status is 500 but the error body has 429',
    "a rate_limited error rejected with BadRequestError, not liter-llm's RateLimitError",
  ]);
});
