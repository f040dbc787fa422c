'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');

const liter = require('liter-llm');
const { errorFromJson } = require('../lib/errors');
const { startMockUpstream } = require('./support/mock-upstream');
const { viaSession } = require('./support/fixtures');

const {
  LiterLlmError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  RateLimitError,
  APIConnectionError,
  Timeout,
  APITimeoutError,
  ServiceUnavailableError,
  BadResponseError,
  UnsupportedProviderError,
  InternalError,
  CancelledError,
  AbortError,
} = liter;

function openaiError(message, type, code = null) {
  return { error: { message, type, code } };
}

/** Each error kind the upstream can cause: the scripted answer, and what the error must carry. */
const UPSTREAM_CASES = [
  {
    name: 'HTTP 400',
    response: { status: 400, json: openaiError('bad field', 'invalid_request_error', 'bad') },
    cls: BadRequestError,
    kind: 'invalid_request',
    status: 400,
    providerError: { message: 'bad field', type: 'invalid_request_error', code: 'bad' },
  },
  {
    name: 'HTTP 401',
    response: { status: 401, json: openaiError('Incorrect API key provided', 'invalid_request_error', 'invalid_api_key') },
    cls: AuthenticationError,
    kind: 'authentication',
    status: 401,
  },
  {
    name: 'HTTP 403',
    response: { status: 403, json: openaiError('not allowed', 'permission_error') },
    cls: PermissionDeniedError,
    kind: 'permission_denied',
    status: 403,
  },
  {
    name: 'HTTP 404',
    response: { status: 404, json: openaiError('The model does not exist', 'invalid_request_error', 'model_not_found') },
    cls: NotFoundError,
    kind: 'not_found',
    status: 404,
  },
  {
    name: 'HTTP 429 with Retry-After',
    response: { status: 429, headers: { 'retry-after': '20' }, json: openaiError('Rate limit reached', 'rate_limit_error') },
    cls: RateLimitError,
    kind: 'rate_limited',
    status: 429,
    retryAfter: 20,
    providerError: { message: 'Rate limit reached', type: 'rate_limit_error', code: null },
  },
  {
    name: 'HTTP 503 with a body that is not JSON',
    response: { status: 503, body: 'upstream overloaded' },
    cls: ServiceUnavailableError,
    kind: 'provider_unavailable',
    status: 503,
    message: /upstream overloaded/,
  },
  {
    name: 'HTTP 200 with a body that is not JSON',
    response: { status: 200, body: 'this is not json' },
    cls: BadResponseError,
    kind: 'bad_response',
    status: 200,
  },
  {
    name: 'HTTP 408',
    response: { status: 408, json: {} },
    cls: Timeout,
    kind: 'timeout',
    status: 408,
  },
  {
    name: 'the call timeout passing',
    response: { status: 200, json: {}, delay_ms: 5000 },
    request: { timeout: 0.2 },
    cls: Timeout,
    kind: 'timeout',
    status: null,
    message: /timeout of 0\.2s/,
  },
  {
    name: 'a connection that breaks mid-response',
    response: { status: 200, chunks: [{ data: '{"id": ' }], disconnect_after_chunks: 1 },
    cls: APIConnectionError,
    kind: 'connection',
    status: null,
  },
];

describe('errors', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  for (const c of UPSTREAM_CASES) {
    test(`${c.name} rejects with ${c.cls.name}`, async () => {
      const session = await mock.session([c.response]);
      const error = await liter
        .completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', max_retries: 0, ...viaSession(session), ...c.request })
        .then(
          () => assert.fail('the call succeeded'),
          (e) => e,
        );
      assert.ok(error instanceof c.cls, `${error.name}: ${error.message}`);
      assert.ok(error instanceof LiterLlmError);
      assert.ok(error instanceof Error);
      assert.equal(error.name, c.cls.name);
      assert.equal(error.kind, c.kind);
      assert.equal(error.status, c.status);
      assert.equal(error.provider, 'openai');
      assert.equal(error.retryAfter, c.retryAfter ?? null);
      assert.equal(error.attempts, 1);
      assert.equal(error.tried, null);
      if (c.providerError) assert.deepEqual(error.providerError, c.providerError);
      if (c.message) assert.match(error.message, c.message);
      assert.equal(error.body.kind, c.kind);
      assert.equal(error.body.message, error.message);
      assert.ok(!error.message.includes('sk-test-key'), 'the message never contains the key');
      // The call reached the upstream: the error is the core's reading of a real answer.
      assert.equal((await mock.requests(session.id)).length, 1);
    });
  }

  test('Timeout is an APIConnectionError, and APITimeoutError is Timeout', () => {
    assert.equal(APITimeoutError, Timeout);
    assert.ok(new Timeout('t') instanceof APIConnectionError);
    assert.equal(Timeout.kind, 'timeout');
  });

  test('an unreachable upstream rejects with APIConnectionError', async () => {
    const server = net.createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    await new Promise((resolve) => server.close(resolve));
    const error = await liter
      .completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', max_retries: 0, api_key: 'k', base_url: `http://127.0.0.1:${port}` })
      .catch((e) => e);
    assert.ok(error instanceof APIConnectionError, String(error));
    assert.ok(!(error instanceof Timeout));
    assert.equal(error.kind, 'connection');
    assert.equal(error.status, null);
  });

  test('a missing key rejects with AuthenticationError naming the variable', async () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const error = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', base_url: 'http://127.0.0.1:9' }).catch((e) => e);
      assert.ok(error instanceof AuthenticationError, String(error));
      assert.match(error.message, /OPENAI_API_KEY/);
      assert.equal(error.status, null);
      assert.equal(error.attempts, 0, 'nothing was sent');
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });

  test('a request the core refuses locally rejects with BadRequestError', async () => {
    const error = await liter.completion({ model: 'mock/m' }).catch((e) => e);
    assert.ok(error instanceof BadRequestError, String(error));
    assert.equal(error.kind, 'invalid_request');
    assert.match(error.message, /messages/);
  });

  test('an unknown provider rejects with UnsupportedProviderError, also for a stream', async () => {
    const unknown = await liter.completion({ model: 'nope/m', prompt: 'Hi' }).catch((e) => e);
    assert.ok(unknown instanceof UnsupportedProviderError, String(unknown));
    assert.match(unknown.message, /openai, anthropic, cohere, mock/);
    const stream = await liter.completion({ provider: 'nope', model: 'm', prompt: 'Hi', stream: true });
    const error = await stream.next().catch((e) => e);
    assert.ok(error instanceof UnsupportedProviderError, String(error));
    // The raw call never streams: stream: true there is the core's unsupported error.
    const raw = await liter.invoke('mock', { model: 'm', prompt: 'Hi', stream: true }).catch((e) => e);
    assert.ok(raw instanceof UnsupportedProviderError, String(raw));
    assert.match(raw.message, /stream/);
  });

  test('every kind of the C ABI maps to its class', () => {
    const classes = {
      invalid_request: BadRequestError,
      authentication: AuthenticationError,
      permission_denied: PermissionDeniedError,
      not_found: NotFoundError,
      rate_limited: RateLimitError,
      timeout: Timeout,
      connection: APIConnectionError,
      provider_unavailable: ServiceUnavailableError,
      bad_response: BadResponseError,
      unsupported: UnsupportedProviderError,
      cancelled: CancelledError,
      internal: InternalError,
    };
    for (const [kind, cls] of Object.entries(classes)) {
      const body = { kind, message: `m-${kind}`, status: null, provider: null, retry_after: null, provider_error: null };
      const error = errorFromJson({ error: body });
      assert.equal(error.constructor, cls, kind);
      assert.equal(error.kind, kind);
      assert.equal(error.message, `m-${kind}`);
      assert.deepEqual(error.body, body);
    }
    const cancelled = errorFromJson({ error: { kind: 'cancelled', message: 'x' } });
    assert.equal(cancelled.name, 'CancelledError');
    assert.ok(!(cancelled instanceof AbortError), 'a cancellation from the library is not an abort by the signal');
  });

  test("AbortError, the error of a call's own AbortSignal, is a CancelledError", () => {
    const reason = new Error('stop');
    const aborted = new AbortError('aborted', { cause: reason });
    assert.ok(aborted instanceof CancelledError);
    assert.ok(aborted instanceof LiterLlmError);
    assert.equal(aborted.name, 'AbortError');
    assert.equal(aborted.code, 'ABORT_ERR');
    assert.equal(aborted.kind, 'cancelled');
    assert.equal(aborted.cause, reason);
  });

  test('an unknown kind keeps its name on the base class; a malformed error is internal', () => {
    const future = errorFromJson({ error: { kind: 'quota_exhausted', message: 'later' } });
    assert.equal(future.constructor, LiterLlmError);
    assert.equal(future.kind, 'quota_exhausted');
    assert.ok(errorFromJson({ nope: 1 }) instanceof InternalError);
    assert.ok(errorFromJson(null) instanceof InternalError);
  });
});
