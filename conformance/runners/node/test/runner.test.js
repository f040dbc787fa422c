'use strict';

// The runner's helpers and command line, with the expectations of runners/python/test_matcher.py.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const run = require('../run');

const RUN_JS = path.resolve(__dirname, '..', 'run.js');

function runCli(args, env = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN_JS, ...args], { env: { ...process.env, ...env }, timeout: 120000 }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }),
    );
  });
}

describe('runner helpers', () => {
  test('substitute replaces {{base_url}} in nested strings only', () => {
    const request = { base_url: '{{base_url}}/v1', messages: [{ content: 'at {{base_url}}' }], n: 1 };
    assert.deepEqual(run.substitute(request, 'http://127.0.0.1:1/s/x'), {
      base_url: 'http://127.0.0.1:1/s/x/v1',
      messages: [{ content: 'at http://127.0.0.1:1/s/x' }],
      n: 1,
    });
  });

  test('normalised results', () => {
    const result = { response: { created: 1741570283, id: 'x', note: 'http://127.0.0.1:4321/s/abc' } };
    const replacements = [
      ['abc', '{{session}}'],
      ['127.0.0.1:4321', '{{mock_host}}'],
    ];
    assert.deepEqual(run.normalisedResult(result, replacements), {
      response: { created: 0, id: 'x', note: 'http://{{mock_host}}/s/{{session}}' },
    });
  });

  test('normalised stream results: every chunk and the assembled completion get created 0', () => {
    const chunk = (text) => ({ id: 'c', created: 1741570283, choices: [{ delta: { content: text } }] });
    const result = { stream: { chunks: [chunk('abc'), chunk('x'), { note: 'no created' }], assembled: { created: 7, id: 'abc' } } };
    assert.deepEqual(run.normalisedResult(result, [['abc', '{{session}}']]), {
      stream: {
        chunks: [
          { id: 'c', created: 0, choices: [{ delta: { content: '{{session}}' } }] },
          { id: 'c', created: 0, choices: [{ delta: { content: 'x' } }] },
          { note: 'no created' },
        ],
        assembled: { created: 0, id: '{{session}}' },
      },
    });
    // The error of a stream keeps its fields; a cancelled stream has no completion to normalise.
    const failed = { stream: { chunks: [], error: { kind: 'timeout', message: 'at 127.0.0.1:1' } } };
    assert.deepEqual(run.normalisedResult(failed, [['127.0.0.1:1', '{{mock_host}}']]), {
      stream: { chunks: [], error: { kind: 'timeout', message: 'at {{mock_host}}' } },
    });
    assert.deepEqual(run.normalisedResult({ stream: { chunks: [], cancelled: true } }, []), { stream: { chunks: [], cancelled: true } });
  });

  test('the error of a result, a stream included', () => {
    const error = { kind: 'timeout' };
    assert.equal(run.resultError({ error }), error);
    assert.equal(run.resultError({ stream: { chunks: [], error } }), error);
    assert.equal(run.resultError({ response: {} }), null);
    assert.equal(run.resultError({ stream: { chunks: [], assembled: {} } }), null);
    assert.equal(run.resultError({ stream: { chunks: [], cancelled: true } }), null);
  });

  test('stream outcomes', () => {
    const chunks = [{ choices: [{ delta: { content: 'Hel' } }] }, { choices: [{ delta: { content: 'lo' } }] }];
    const expectChunks = [{ choices: [{ delta: { content: 'Hel' } }] }, { choices: [{ delta: { content: 'lo' } }] }];
    const assembled = { choices: [{ message: { content: 'Hello' } }] };
    const error = { kind: 'timeout', message: 'slow', status: null };
    const ended = { stream: { chunks, assembled } };
    const failed = { stream: { chunks, error } };
    const cancelled = { stream: { chunks, cancelled: true } };

    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, assembled: { choices: [{ message: { content: 'Hello' } }] } }, ended), []);
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, error: { kind: 'timeout' } }, failed), []);
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, cancelled: true }, cancelled), []);
    // The chunks are matched item by item, with equal counts, whatever the end.
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks.slice(1), cancelled: true }, cancelled), [
      `$chunks: expected an array of 1 items, got 2: ${JSON.stringify(chunks)}`,
    ]);
    const wrongSecond = [expectChunks[0], { choices: [{ delta: { content: 'LO' } }] }];
    assert.deepEqual(run.outcomeProblems({ chunks: wrongSecond, assembled: {} }, ended), [
      '$chunks[1].choices[0].delta.content: expected "LO", got "lo"',
    ]);
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, assembled: { choices: [{ message: { content: 'Hi' } }] } }, ended), [
      '$assembled.choices[0].message.content: expected "Hi", got "Hello"',
    ]);
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, error: { kind: 'timeout', status: 504 } }, failed), [
      '$error.status: expected 504, got null',
    ]);
    // The wrong end, each way round.
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, assembled: {} }, failed), [
      'expected the stream to end normally, it ended with error {"kind":"timeout","message":"slow","status":null}',
    ]);
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, assembled: {} }, cancelled), [
      'expected the stream to end normally, it ended with cancelled',
    ]);
    assert.deepEqual(run.outcomeProblems({ chunks: expectChunks, error: { kind: 'timeout' } }, ended), [
      'expected the stream to end with a timeout error, it ended with a normal end',
    ]);
    assert.deepEqual(run.outcomeProblems({ chunks: [], cancelled: true }, failed), [
      `$chunks: expected an array of 0 items, got 2: ${JSON.stringify(chunks)}`,
      'expected the runner to abandon the stream, it ended with error {"kind":"timeout","message":"slow","status":null}',
    ]);
    // A stream where a call was expected, and the other way round.
    assert.deepEqual(run.outcomeProblems({ response: {} }, cancelled), [
      `expected a call, got a stream {"stream":{"cancelled":true,"chunks":${JSON.stringify(chunks)}}}`,
    ]);
    assert.deepEqual(run.outcomeProblems({ chunks: [], cancelled: true }, { response: { id: 'x' } }), [
      'expected a stream, got {"response":{"id":"x"}}',
    ]);
  });

  test('a stream through the binding: every end, and abandoning it', async () => {
    class LiterLlmError extends Error {
      constructor(body) {
        super(body.message);
        this.body = body;
      }
    }
    const log = [];
    // A ChatCompletionStream's protocol: an async iterator whose return()/close() cancels it.
    const fakeBinding = (chunks, failure = null) => ({
      LiterLlmError,
      async invokeStream(provider, request) {
        log.push(`invokeStream ${provider} ${request.model}`);
        let next = 0;
        return {
          [Symbol.asyncIterator]() {
            return this;
          },
          async next() {
            if (next < chunks.length) return { value: chunks[next++], done: false };
            if (failure !== null) throw failure;
            return { value: undefined, done: true };
          },
          async return() {
            log.push(`closed after ${next}`);
            return { value: undefined, done: true };
          },
          async close() {
            await this.return();
          },
        };
      },
      streamChunkBuilder(received) {
        if (received.some((chunk) => chunk.bad)) throw new LiterLlmError({ kind: 'bad_response', message: 'no' });
        return { object: 'chat.completion', parts: received.length };
      },
    });
    const inFlight = async () => log.push('in flight');
    const three = [{ n: 1 }, { n: 2 }, { n: 3 }];

    assert.deepEqual(await run.streamCall(fakeBinding(three), 'openai', { model: 'm' }, {}, inFlight), [
      { chunks: three, assembled: { object: 'chat.completion', parts: 3 } },
      null,
    ]);
    assert.deepEqual(log.splice(0), ['invokeStream openai m']);

    assert.deepEqual(await run.streamCall(fakeBinding(three), null, { model: 'm' }, { cancel_after_chunks: 2 }, inFlight), [
      { chunks: three.slice(0, 2), cancelled: true },
      null,
    ]);
    assert.deepEqual(log.splice(0), ['invokeStream null m', 'closed after 2']);

    assert.deepEqual(await run.streamCall(fakeBinding(three), null, { model: 'm' }, { cancel_after_chunks: 0 }, inFlight), [
      { chunks: [], cancelled: true },
      null,
    ]);
    assert.deepEqual(log.splice(0), ['invokeStream null m', 'in flight', 'closed after 0']);

    // A stream that ends before N chunks is recorded as it ended.
    assert.deepEqual((await run.streamCall(fakeBinding(three), null, { model: 'm' }, { cancel_after_chunks: 5 }, inFlight))[0], {
      chunks: three,
      assembled: { object: 'chat.completion', parts: 3 },
    });
    log.splice(0);

    const failure = new LiterLlmError({ kind: 'timeout', message: 'slow' });
    const [failed, error] = await run.streamCall(fakeBinding(three.slice(0, 1), failure), null, { model: 'm' }, {}, inFlight);
    assert.deepEqual(failed, { chunks: three.slice(0, 1), error: { kind: 'timeout', message: 'slow' } });
    assert.equal(error, failure);

    // An error from invokeStream itself is the stream's error, with no chunks.
    const refusing = { ...fakeBinding([]), invokeStream: async () => Promise.reject(failure) };
    assert.deepEqual(await run.streamCall(refusing, null, { model: 'm' }, {}, inFlight), [{ chunks: [], error: failure.body }, failure]);

    // Anything that is not the binding's error, and an assembler that refuses, are thrown.
    await assert.rejects(run.streamCall(fakeBinding([], new TypeError('boom')), null, { model: 'm' }, {}, inFlight), TypeError);
    await assert.rejects(run.streamCall(fakeBinding([{ bad: true }]), null, { model: 'm' }, {}, inFlight), {
      name: 'AssemblyFailed',
      message: 'the assembler refused the chunks: {"kind":"bad_response","message":"no"}',
    });
  });

  test('error shape', () => {
    const good = {
      kind: 'timeout',
      message: 'm',
      status: null,
      provider: 'openai',
      retry_after: null,
      provider_error: null,
      attempts: 0,
    };
    assert.deepEqual(run.errorShapeProblems(good), []);
    assert.deepEqual(run.errorShapeProblems({ ...good, attempts: -1 }), ['$error.attempts: -1 is not what docs/errors.md allows']);
    assert.notDeepEqual(run.errorShapeProblems({ ...good, attempts: 1.5 }), []);
    assert.notDeepEqual(run.errorShapeProblems({ ...good, attempts: null }), []);
    assert.notDeepEqual(run.errorShapeProblems({ ...good, kind: 'slow' }), []);
    assert.notDeepEqual(run.errorShapeProblems({ ...good, status: '500' }), []);
    assert.notDeepEqual(run.errorShapeProblems({ ...good, status: 500.5 }), []);
    assert.deepEqual(run.errorShapeProblems({ kind: 'timeout', message: 'm' }), [
      '$error.status: missing (docs/errors.md lists it)',
      '$error.provider: missing (docs/errors.md lists it)',
      '$error.retry_after: missing (docs/errors.md lists it)',
      '$error.provider_error: missing (docs/errors.md lists it)',
      '$error.attempts: missing (docs/errors.md lists it)',
    ]);
  });

  test('gaps between requests', () => {
    const at = (...times) => times.map((t) => ({ method: 'POST', path: '/p', received_at_ms: t, headers: {}, json: {} }));
    const recorded = at(0.0, 310.0, 320.0);
    assert.deepEqual(run.requestProblems({ request_count: 3, gaps_ms: [{ min: 300, max: 400 }, { min: 0, max: 50 }] }, recorded), []);
    assert.deepEqual(run.requestProblems({ request_count: 3, gaps_ms: [{ min: 0, max: 100 }, { min: 0, max: 50 }] }, recorded), [
      '$gaps_ms[0]: 310.0 ms is outside [0, 100]',
    ]);
    assert.deepEqual(run.requestProblems({ request_count: 3, gaps_ms: [{ min: 0, max: 400 }] }, recorded), [
      '$gaps_ms: 1 bounds for 2 gaps between 3 requests',
    ]);
    // Bounds are inclusive at both ends; a gap below min fails too.
    assert.deepEqual(run.requestProblems({ request_count: 3, gaps_ms: [{ min: 310, max: 310 }, { min: 10, max: 10 }] }, recorded), []);
    assert.deepEqual(run.requestProblems({ request_count: 3, gaps_ms: [{ min: 300, max: 400 }, { min: 10.5, max: 50 }] }, recorded), [
      '$gaps_ms[1]: 10.0 ms is outside [10.5, 50]',
    ]);
    // Too many bounds: the mismatch, then the gaps that exist are still checked.
    assert.deepEqual(run.requestProblems({ request_count: 2, gaps_ms: [{ min: 0, max: 1 }, { min: 0, max: 1 }] }, at(5, 7.25)), [
      '$gaps_ms: 2 bounds for 1 gaps between 2 requests',
      '$gaps_ms[0]: 2.2 ms is outside [0, 1]',
    ]);
    // One request or none: no gaps, so only an empty list fits.
    assert.deepEqual(run.requestProblems({ request_count: 1, gaps_ms: [] }, at(12)), []);
    assert.deepEqual(run.requestProblems({ gaps_ms: [{ min: 0, max: 1 }] }, []), ['$gaps_ms: 1 bounds for 0 gaps between 0 requests']);
    // Without gaps_ms the times are not looked at.
    assert.deepEqual(run.requestProblems({ request_count: 3 }, recorded), []);
  });

  test('gaps print as Python prints {:.1f}, ties to even', () => {
    const cases = [
      [310, '310.0'],
      [2.25, '2.2'],
      [2.75, '2.8'],
      [0.05, '0.1'],
      [12.35, '12.3'],
      [375.04, '375.0'],
      [-0.25, '-0.2'],
    ];
    for (const [value, text] of cases) assert.equal(run.fixed1(value), text, String(value));
  });

  test('request problems', () => {
    const recorded = [{ method: 'POST', path: '/v1/messages', query: null, headers: { 'x-api-key': 'k' }, body: '{}', json: { a: 1 } }];
    assert.deepEqual(
      run.requestProblems({ requests: [{ method: 'POST', headers: { authorization: { $absent: true } }, body: { a: 1 } }] }, recorded),
      [],
    );
    assert.deepEqual(run.requestProblems({}, recorded), ['expected 0 upstream request(s), got 1 (POST /v1/messages)']);
    assert.deepEqual(run.requestProblems({ request_count: 1 }, recorded), []);
    assert.deepEqual(run.requestProblems({ requests: [{ body: { a: 2 } }] }, recorded), ['$requests[0].body.a: expected 2, got 1']);
  });

  test('how each answer ended: outcome and open_ms', () => {
    const recorded = [
      { method: 'POST', path: '/p', headers: {}, json: {}, received_at_ms: 100.0, outcome: 'client_closed', ended_at_ms: 410.25 },
      { method: 'POST', path: '/p', headers: {}, json: {}, received_at_ms: 500.0, outcome: 'pending', ended_at_ms: null },
    ];
    const expect = (first, second = {}) => ({ requests: [first, second] });
    assert.deepEqual(run.requestProblems(expect({ outcome: 'client_closed', open_ms: { min: 300, max: 400 } }), recorded), []);
    assert.deepEqual(run.requestProblems(expect({ outcome: 'client_closed', open_ms: { min: 0, max: 300 } }), recorded), [
      '$requests[0].open_ms: 310.2 ms is outside [0, 300]',
    ]);
    // Bounds are inclusive.
    assert.deepEqual(run.requestProblems(expect({ open_ms: { min: 310.25, max: 310.25 } }), recorded), []);
    assert.deepEqual(run.requestProblems(expect({ open_ms: { min: 310.5, max: 1000 } }), recorded), [
      '$requests[0].open_ms: 310.2 ms is outside [310.5, 1000]',
    ]);
    assert.deepEqual(run.requestProblems(expect({ outcome: 'completed' }), recorded), [
      "$requests[0].outcome: expected 'completed', got 'client_closed'",
    ]);
    // A request still pending has no open time, and is not completed.
    assert.deepEqual(run.requestProblems(expect({}, { outcome: 'completed', open_ms: { min: 0, max: 1e9 } }), recorded), [
      "$requests[1].outcome: expected 'completed', got 'pending'",
      '$requests[1].open_ms: the answer had not ended',
    ]);
    // Without outcome and open_ms, how the answer ended is not looked at.
    assert.deepEqual(run.requestProblems(expect({}, {}), recorded), []);
  });

  test('outcomes are quoted as Python quotes them', () => {
    assert.equal(run.pythonRepr('completed'), "'completed'");
    assert.equal(run.pythonRepr(null), 'None');
    assert.equal(run.pythonRepr(undefined), 'None');
  });

  test('leaked keys', () => {
    const error = { kind: 'authentication', message: 'bad key sk-test-abc' };
    assert.deepEqual(run.leakedKeyProblems({ OPENAI_API_KEY: 'sk-test-abc' }, {}, error), [
      'the error contains the API key "sk-test-abc"',
    ]);
    assert.deepEqual(run.leakedKeyProblems({}, { api_key: 'sk-test-zzz' }, error), []);
  });

  test('cases may only reach 127.0.0.1', () => {
    const base = { request: { model: 'm' } };
    assert.deepEqual(run.unsafeBaseUrls({ ...base, env: { OPENAI_API_KEY: 'sk-test-1', OPENAI_BASE_URL: '{{base_url}}' } }), []);
    assert.equal(run.unsafeBaseUrls({ ...base, env: { OPENAI_API_KEY: 'sk-test-1' } }).length, 1);
    assert.equal(run.unsafeBaseUrls({ ...base, env: { OPENAI_BASE_URL: 'https://api.openai.com/v1' } }).length, 1);
    assert.equal(run.unsafeBaseUrls({ request: { model: 'm', api_key: 'sk-test-1' } }).length, 1);
    assert.deepEqual(run.unsafeBaseUrls({ request: { model: 'm', api_key: 'sk-test-1', base_url: 'http://127.0.0.1:9' } }), []);
    assert.deepEqual(run.unsafeBaseUrls({ env: { CO_API_KEY: 'sk-test-1', COHERE_BASE_URL: '{{base_url}}' }, request: {} }), []);
  });

  test('the node error must mirror its body and have the class of its kind', () => {
    const binding = require(path.resolve(__dirname, '..', '..', '..', '..', 'bindings', 'node'));
    const body = { kind: 'rate_limited', message: 'm', status: 429, provider: 'openai', retry_after: 2, provider_error: null, attempts: 3 };
    const details = { status: 429, provider: 'openai', retryAfter: 2, attempts: 3, body };
    const good = new binding.RateLimitError('m', details);
    assert.deepEqual(run.nodeErrorProblems(binding, good, body), []);
    const wrongClass = new binding.BadRequestError('m', { ...details, kind: 'rate_limited' });
    assert.equal(run.nodeErrorProblems(binding, wrongClass, body).length, 1);
    const wrongField = new binding.RateLimitError('m', { ...details, retryAfter: null });
    assert.match(run.nodeErrorProblems(binding, wrongField, body)[0], /retryAfter/);
    const wrongAttempts = new binding.RateLimitError('m', { ...details, attempts: 1 });
    assert.deepEqual(run.nodeErrorProblems(binding, wrongAttempts, body), ['error.attempts is 1 but the error body has 3']);
  });

  test('arguments are parsed as argparse parses them', () => {
    assert.deepEqual(run.parseArgs(['--cases', 'd', '--results=r', '-kfoo']), { cases: 'd', results: 'r', nameFilter: 'foo' });
    assert.equal(run.parseArgs(['-k', 'bar']).nameFilter, 'bar');
    assert.throws(() => run.parseArgs(['--verbose']), /unrecognized argument/);
    assert.throws(() => run.parseArgs(['--cases']), /expected one argument/);
  });
});

describe('the command line', () => {
  test('-k that matches nothing exits 1; a bad argument exits 2', async () => {
    const none = await runCli(['-k', 'no-such-case-anywhere']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /matches "no-such-case-anywhere"/);
    const bad = await runCli(['--frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage:/);
  });

  test('a mock upstream that cannot start exits 2', async () => {
    const result = await runCli(['-k', 'mock/'], { LITER_LLM_MOCK_UPSTREAM: '/nonexistent/mock', LITER_LLM_MOCK_URL: '' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot start the mock upstream/);
  });

  test('a malformed or unsafe case file is a failed case, never a skip', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liter-llm-cases-'));
    try {
      fs.mkdirSync(path.join(dir, 'mock'));
      fs.writeFileSync(path.join(dir, 'mock', 'broken.json'), '{"name": "mock/broken"');
      fs.writeFileSync(
        path.join(dir, 'mock', 'unsafe.json'),
        JSON.stringify({
          name: 'mock/unsafe',
          description: 'points at a real provider',
          provider: 'openai',
          env: { OPENAI_API_KEY: 'sk-test-x', OPENAI_BASE_URL: 'https://api.openai.com/v1' },
          request: { model: 'gpt', prompt: 'x' },
          expect: { error: { kind: 'connection' } },
        }),
      );
      fs.writeFileSync(
        path.join(dir, 'mock', 'wrong_name.json'),
        JSON.stringify({ name: 'mock/other', description: 'd', provider: 'mock', request: { model: 'm', prompt: 'x' }, expect: { response: {} } }),
      );
      const results = path.join(dir, 'out', 'results.jsonl');
      const result = await runCli(['--cases', dir, '--results', results]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^FAIL mock\/broken: cannot read the case file/m);
      assert.match(result.stdout, /^FAIL mock\/unsafe: OPENAI_BASE_URL must start with/m);
      assert.match(result.stdout, /^FAIL mock\/wrong_name: the case's name is "mock\/other"/m);
      assert.match(result.stdout, /^0 passed, 3 failed$/m);
      assert.equal(
        fs.readFileSync(results, 'utf8'),
        ['broken', 'unsafe', 'wrong_name'].map((name) => `{"case":"mock/${name}","ok":false,"result":null}\n`).join(''),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a case's configuration applies to its own calls only; a refused one fails the case", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liter-llm-config-'));
    const writeCase = (name, fields) => {
      const text = JSON.stringify({ name: `openai/${name}`, description: 'd', provider: 'openai', ...fields });
      fs.writeFileSync(path.join(dir, 'openai', `${name}.json`), text);
    };
    // 3 + 197 = 200 estimated tokens: more than a budget of 100 holds, well within the default.
    const openai = {
      env: { OPENAI_API_KEY: 'sk-test-node-config', OPENAI_BASE_URL: '{{base_url}}/v1' },
      request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }], max_completion_tokens: 197 },
    };
    const budget = { providers: { openai: { tpm: 100, on_limit: 'fail' } } };
    const reply = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [] };
    try {
      fs.mkdirSync(path.join(dir, 'openai'));
      writeCase('a_budget', { ...openai, config: budget, expect: { error: { kind: 'rate_limited', retry_after: 60 } } });
      writeCase('b_after_the_budget', {
        ...openai,
        upstream: { responses: [{ json: reply }] },
        expect: { request_count: 1, response: { id: 'chatcmpl-1' } },
      });
      writeCase('c_refused', { ...openai, config: { providers: { openai: { tmp: 1 } } }, expect: { error: { kind: 'rate_limited' } } });
      const results = path.join(dir, 'results.jsonl');
      const result = await runCli(['--cases', dir, '--results', results]);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stdout, /^PASS openai\/a_budget$/m);
      assert.match(result.stdout, /^PASS openai\/b_after_the_budget$/m);
      assert.match(result.stdout, /^FAIL openai\/c_refused: configure refused the case's config: \{"attempts":0,"kind":"invalid_request",.*unknown field `tmp`/m);
      assert.match(result.stdout, /^2 passed, 1 failed$/m);
      const lines = fs.readFileSync(results, 'utf8').trimEnd().split('\n');
      assert.equal(lines[2], '{"case":"openai/c_refused","ok":false,"result":null}');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('stream cases: chunks, how the stream ended, and how the answer ended', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liter-llm-streams-'));
    const streamCase = (name, fields) => {
      const text = JSON.stringify({ name: `mock/${name}`, description: 'd', provider: null, ...fields });
      fs.writeFileSync(path.join(dir, 'mock', `${name}.json`), text);
    };
    const words = { model: 'mock/demo', messages: [{ role: 'user', content: 'Hi' }], mock_response: 'one two', stream: true };
    const sse = (data) => ({ data: `data: ${JSON.stringify(data)}\n\n` });
    const chunk = (delta, finish = null) => ({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1741570283,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    const openai = {
      provider: 'openai',
      env: { OPENAI_API_KEY: 'sk-test-node-stream', OPENAI_BASE_URL: '{{base_url}}/v1' },
      request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true },
    };
    const slowAnswer = {
      responses: [
        {
          headers: { 'content-type': 'text/event-stream' },
          chunks: [
            sse(chunk({ role: 'assistant', content: '' })),
            { ...sse(chunk({ content: 'Hi' })), delay_ms: 3000 },
            { data: 'data: [DONE]\n\n' },
          ],
        },
      ],
    };
    try {
      fs.mkdirSync(path.join(dir, 'mock'));
      const fourChunks = [{}, {}, {}, {}];
      const assembled = { choices: [{ message: { content: 'one two' } }] };
      streamCase('words', { request: words, stream: {}, expect: { chunks: fourChunks, assembled } });
      streamCase('words_wrong_end', { request: words, stream: {}, expect: { chunks: fourChunks, error: { kind: 'timeout' } } });
      streamCase('abandoned', {
        ...openai,
        stream: { cancel_after_chunks: 1 },
        upstream: slowAnswer,
        expect: {
          requests: [{ outcome: 'client_closed', open_ms: { min: 0, max: 2500 } }],
          chunks: [{ choices: [{ delta: { role: 'assistant' } }] }],
          cancelled: true,
        },
      });
      streamCase('abandoned_said_completed', {
        ...openai,
        stream: { cancel_after_chunks: 0 },
        upstream: slowAnswer,
        expect: { requests: [{ outcome: 'completed' }], chunks: [], cancelled: true },
      });
      const results = path.join(dir, 'results.jsonl');
      const result = await runCli(['--cases', dir, '--results', results]);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stdout, /^PASS mock\/abandoned$/m);
      assert.match(result.stdout, /^FAIL mock\/abandoned_said_completed: \$requests\[0\]\.outcome: expected 'completed', got 'client_closed'/m);
      assert.match(result.stdout, /^PASS mock\/words$/m);
      assert.match(result.stdout, /^FAIL mock\/words_wrong_end: expected the stream to end with a timeout error, it ended with a normal/m);
      assert.match(result.stdout, /^2 passed, 2 failed$/m);
      const lines = fs.readFileSync(results, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
      assert.deepEqual(lines[0].result, {
        stream: { chunks: [{ ...chunk({ role: 'assistant', content: '' }), created: 0 }], cancelled: true },
      });
      assert.deepEqual(lines[1].result, { stream: { chunks: [], cancelled: true } });
      const streamed = lines[2].result.stream;
      assert.deepEqual(streamed.chunks.map((item) => item.created), [0, 0, 0, 0]);
      assert.equal(streamed.assembled.created, 0);
      assert.equal(streamed.assembled.choices[0].message.content, 'one two');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a passing case writes its normalised result', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liter-llm-results-'));
    try {
      const results = path.join(dir, 'results.jsonl');
      const result = await runCli(['-k', 'mock/mock_response', '--results', results]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^PASS mock\/mock_response$/m);
      const [line] = fs.readFileSync(results, 'utf8').split('\n');
      const parsed = JSON.parse(line);
      assert.equal(parsed.case, 'mock/mock_response');
      assert.equal(parsed.ok, true);
      assert.equal(parsed.result.response.created, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
