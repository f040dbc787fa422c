'use strict';

// Explicit clients: each with its own configuration in the core, used concurrently; close() and
// `await using`; calls on a closed client; closing a client with calls and streams in flight.

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const liter = require('liter-llm');
const native = require('../lib/native');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion, openaiStream } = require('./support/fixtures');

const { AbortError, BadRequestError, CancelledError, Client } = liter;

const PACKAGE_ROOT = path.resolve(__dirname, '..');

/** A client whose `openai` provider is the session, with `key`. */
function clientFor(session, key, extra = {}) {
  return new Client({ providers: { openai: { api_key: key, base_url: session.baseUrl, max_retries: 0 } }, ...extra });
}

/** The prompt of a journaled request. */
function promptOf(request) {
  return request.json.messages[0].content;
}

/** The variables that would give the default client a key or base URL, removed while `fn` runs. */
async function withoutOpenaiEnvironment(fn) {
  const saved = { OPENAI_API_KEY: process.env.OPENAI_API_KEY, OPENAI_BASE_URL: process.env.OPENAI_BASE_URL };
  delete process.env.OPENAI_API_KEY;
  delete process.env.OPENAI_BASE_URL;
  try {
    return await fn();
  } finally {
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  }
}

describe('Client', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('two clients, each with its own key and base URL, used concurrently: each upstream sees only its own', async () => {
    await withoutOpenaiEnvironment(async () => {
      const sessionA = await mock.session([{ json: openaiCompletion('from A'), delay_ms: 100 }], { repeatLast: true });
      const sessionB = await mock.session([{ json: openaiCompletion('from B'), delay_ms: 100 }], { repeatLast: true });
      const a = clientFor(sessionA, 'sk-tenant-a');
      const b = clientFor(sessionB, 'sk-tenant-b');
      try {
        const calls = [];
        for (let i = 0; i < 4; i++) {
          calls.push(a.completion({ model: 'openai/gpt-4o-mini', prompt: `a-${i}` }).then((r) => ['a', r]));
          calls.push(b.invoke('openai', { model: 'gpt-4o-mini', prompt: `b-${i}` }).then((r) => ['b', r]));
        }
        for (const [name, response] of await Promise.all(calls)) {
          assert.equal(response.choices[0].message.content, `from ${name.toUpperCase()}`);
        }
        // The default client has neither configuration: no key, so nothing is sent.
        await assert.rejects(liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'default' }), { name: 'AuthenticationError' });
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
      for (const [session, key, prefix] of [
        [sessionA, 'sk-tenant-a', 'a-'],
        [sessionB, 'sk-tenant-b', 'b-'],
      ]) {
        const requests = await mock.requests(session.id);
        assert.equal(requests.length, 4);
        assert.deepEqual(new Set(requests.map((r) => r.headers.authorization)), new Set([`Bearer ${key}`]));
        assert.deepEqual(requests.map(promptOf).sort(), [0, 1, 2, 3].map((i) => `${prefix}${i}`));
      }
    });
  });

  test('two clients stream at once, each from its own upstream with its own key', async () => {
    await withoutOpenaiEnvironment(async () => {
      const sessionA = await mock.session([{ status: 200, chunks: openaiStream(['A1', 'A2', 'A3'], 100) }], { repeatLast: true });
      const sessionB = await mock.session([{ status: 200, chunks: openaiStream(['B1', 'B2', 'B3'], 100) }], { repeatLast: true });
      const a = clientFor(sessionA, 'sk-tenant-a');
      const b = clientFor(sessionB, 'sk-tenant-b');
      try {
        const read = async (stream) => {
          let text = '';
          for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
          return text;
        };
        const texts = await Promise.all([
          a.completion({ model: 'openai/gpt-4o-mini', prompt: 'sa', stream: true }).then(read),
          b.invokeStream('openai', { model: 'gpt-4o-mini', prompt: 'sb' }).then(read),
          a.invokeStream(null, { model: 'openai/gpt-4o-mini', prompt: 'sa' }).then(read),
        ]);
        assert.deepEqual(texts, ['A1A2A3', 'B1B2B3', 'A1A2A3']);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
      const requestsA = await mock.requests(sessionA.id);
      const requestsB = await mock.requests(sessionB.id);
      assert.deepEqual(requestsA.map((r) => [r.headers.authorization, promptOf(r), r.json.stream]), [
        ['Bearer sk-tenant-a', 'sa', true],
        ['Bearer sk-tenant-a', 'sa', true],
      ]);
      assert.deepEqual(requestsB.map((r) => [r.headers.authorization, promptOf(r), r.json.stream]), [['Bearer sk-tenant-b', 'sb', true]]);
    });
  });

  test("configure() changes the default client, not a Client's configuration", async () => {
    const mine = await mock.session([{ json: openaiCompletion('mine') }], { repeatLast: true });
    const theirs = await mock.session([{ json: openaiCompletion('default') }], { repeatLast: true });
    const client = clientFor(mine, 'sk-mine');
    try {
      liter.configure({ providers: { openai: { api_key: 'sk-default', base_url: theirs.baseUrl } } });
      assert.equal((await client.completion({ model: 'openai/gpt-4o-mini', prompt: 'x' })).choices[0].message.content, 'mine');
      assert.equal((await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'x' })).choices[0].message.content, 'default');
    } finally {
      liter.configure({});
      await client.close();
    }
    assert.deepEqual((await mock.requests(mine.id)).map((r) => r.headers.authorization), ['Bearer sk-mine']);
    assert.deepEqual((await mock.requests(theirs.id)).map((r) => r.headers.authorization), ['Bearer sk-default']);
  });

  test('a client from a configuration file, with ${VAR} replaced from the environment', async () => {
    const session = await mock.session([{ json: openaiCompletion('from the file') }]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liter-llm-client-'));
    const file = path.join(dir, 'tenant.toml');
    fs.writeFileSync(file, `[providers.openai]\napi_key = "\${LITER_LLM_TEST_TENANT_KEY}"\nbase_url = "${session.baseUrl}"\n`);
    process.env.LITER_LLM_TEST_TENANT_KEY = 'sk-from-file';
    try {
      const client = new Client(null, { configFile: file });
      try {
        const r = await client.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi' });
        assert.equal(r.choices[0].message.content, 'from the file');
      } finally {
        await client.close();
      }
    } finally {
      delete process.env.LITER_LLM_TEST_TENANT_KEY;
      fs.rmSync(dir, { recursive: true });
    }
    const [request] = await mock.requests(session.id);
    assert.equal(request.headers.authorization, 'Bearer sk-from-file');
  });

  test('a configuration the core refuses is a BadRequestError naming what is wrong; misuse is a TypeError', () => {
    assert.throws(() => new Client({ defaults: { max_retries: 2, not_a_setting: 1 } }), (error) => {
      assert.ok(error instanceof BadRequestError, String(error));
      assert.match(error.message, /not_a_setting/);
      return true;
    });
    const missing = path.join(os.tmpdir(), 'liter-llm-no-such-dir', 'missing.toml');
    assert.throws(() => new Client(null, { configFile: missing }), (error) => {
      assert.ok(error instanceof BadRequestError, String(error));
      assert.ok(error.message.includes(missing), error.message);
      return true;
    });
    assert.throws(() => new Client({}, { configFile: 'liter-llm.toml' }), { name: 'TypeError', message: /config or configFile, not both/ });
    assert.throws(() => new Client('liter-llm.toml'), { name: 'TypeError', message: /configFile/ });
    assert.throws(() => new Client([]), TypeError);
    assert.throws(() => new Client({ defaults: { timeout: NaN } }), { name: 'TypeError', message: /NaN/ });
    assert.throws(() => new Client(null, { configFile: 7 }), TypeError);
    assert.throws(() => new Client(null, { configFile: 'a\0b' }), { name: 'TypeError', message: /NUL/ });
    assert.throws(() => new Client(null, 'liter-llm.toml'), TypeError);
  });

  test('closing a client ends its call and its stream in flight with CancelledError, and closes their connections', async () => {
    const slowCall = await mock.session([{ json: openaiCompletion('too late'), delay_ms: 10000 }]);
    const slowStream = await mock.session([{ status: 200, chunks: openaiStream(['first', 'never'], 10000) }]);
    const client = clientFor(slowCall, 'sk-call');
    // The stream's own api_key and base_url send it to the other session.
    const streamRequest = { model: 'gpt-4o-mini', prompt: 'Hi', api_key: 'sk-stream', base_url: slowStream.baseUrl, max_retries: 0 };
    // Its rejection is taken at once: it comes while close() is awaited.
    const callFailure = client.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi' }).then(
      () => assert.fail('the call succeeded'),
      (e) => e,
    );
    const stream = await client.invokeStream('openai', streamRequest);
    const first = await stream.next();
    assert.equal(first.value.choices[0].delta.content, 'first');
    await mock.waitForRequests(slowCall.id, 1);

    const started = Date.now();
    await client.close();
    assert.equal(native.pendingCount(), 0, 'close() resolved once the library held nothing for the client');
    const callError = await callFailure;
    const streamError = await stream.next().then(
      () => assert.fail('the stream went on'),
      (e) => e,
    );
    for (const error of [callError, streamError]) {
      assert.ok(error instanceof CancelledError, `${error.name}: ${error.message}`);
      assert.ok(!(error instanceof AbortError), 'no signal aborted it');
      assert.equal(error.kind, 'cancelled');
    }
    assert.ok(Date.now() - started < 5000, 'nothing waited for the slow upstreams');
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
    for (const session of [slowCall, slowStream]) {
      const requests = await mock.settledRequests(session.id);
      assert.deepEqual(
        requests.map((r) => r.outcome),
        ['client_closed'],
        `the connection to ${session.id} was closed`,
      );
    }
  });

  test('a call after close() rejects with BadRequestError; close() twice is fine', async () => {
    const client = new Client();
    assert.equal(client.closed, false);
    assert.equal((await client.completion({ model: 'mock/m', prompt: 'Hi', mock_response: 'open' })).choices[0].message.content, 'open');
    const first = client.close();
    const second = client.close();
    assert.equal(first, second);
    await first;
    await client.close();
    assert.equal(client.closed, true);
    const calls = [
      client.completion({ model: 'mock/m', prompt: 'Hi' }),
      client.invoke('mock', { model: 'm', prompt: 'Hi' }),
      client.invokeStream('mock', { model: 'm', prompt: 'Hi' }),
      client.completion({ model: 'mock/m', prompt: 'Hi', stream: true }),
    ];
    for (const call of calls) await assert.rejects(call, { name: 'BadRequestError', kind: 'invalid_request', message: /closed/ });
    // The module-level functions do not use it.
    assert.equal((await liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: 'default' })).choices[0].message.content, 'default');
  });

  test("the core's own error for a freed handle is a BadRequestError", async () => {
    // What a call racing close() gets, past the binding's own check.
    const client = new Client();
    const handle = client._handle();
    await client.close();
    await assert.rejects(native.call(handle, 'mock', JSON.stringify({ model: 'm', prompt: 'Hi' }), undefined), (error) => {
      assert.ok(error instanceof BadRequestError, String(error));
      assert.match(error.message, new RegExp(`client ${handle} does not exist or was freed`));
      return true;
    });
  });

  test('Symbol.asyncDispose and Symbol.dispose close the client', async () => {
    const disposedAsync = new Client();
    await disposedAsync[Symbol.asyncDispose]();
    assert.equal(disposedAsync.closed, true);
    await assert.rejects(disposedAsync.completion({ model: 'mock/m', prompt: 'Hi' }), BadRequestError);
    const disposed = new Client();
    assert.equal(disposed[Symbol.dispose](), undefined);
    assert.equal(disposed.closed, true);
    await assert.rejects(disposed.invoke('mock', { model: 'm', prompt: 'Hi' }), BadRequestError);
  });

  test('`await using` (as TypeScript compiles it for Node 20) closes the client and a stream', async () => {
    const ts = require('typescript');
    const source = `
      const { Client } = require('liter-llm');
      async function main() {
        let kept;
        let keptStream;
        {
          await using client = new Client();
          kept = client;
          await using stream = await client.completion({ model: 'mock/m', prompt: 'Hi', mock_response: 'a b c d', stream: true });
          keptStream = stream;
          await stream.next();
        }
        const after = await kept.completion({ model: 'mock/m', prompt: 'Hi' }).catch((e) => e.name);
        console.log(JSON.stringify({ closed: kept.closed, after, next: await keptStream.next() }));
      }
      main();
    `;
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS },
    });
    assert.match(outputText, /__addDisposableResource/, 'TypeScript lowered `await using`');
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', outputText], { cwd: PACKAGE_ROOT, timeout: 30000 }, (error, out, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(out),
      );
    });
    assert.deepEqual(JSON.parse(stdout), { closed: true, after: 'BadRequestError', next: { done: true } });
  });

  test('an AbortSignal still aborts a call on a client with AbortError', async () => {
    const session = await mock.session([{ json: openaiCompletion('slow'), delay_ms: 10000 }]);
    const client = clientFor(session, 'sk-abort');
    try {
      const controller = new AbortController();
      const call = client.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', signal: controller.signal });
      await mock.waitForRequests(session.id, 1);
      controller.abort();
      await assert.rejects(call, { name: 'AbortError', code: 'ABORT_ERR' });
    } finally {
      await client.close();
    }
  });
});
