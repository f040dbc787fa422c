'use strict';

// liter-llm for Node: one LLM client for OpenAI, Anthropic, Cohere and a built-in mock.
// A Rust core does the network work behind a C ABI; this package is a thin layer over it.
//
//   const { completion } = require('liter-llm');
//   const r = await completion({ model: 'mock/demo', messages: [{ role: 'user', content: 'Hi' }] });
//   console.log(r.choices[0].message.content);

const native = require('./lib/native');
const errors = require('./lib/errors');
const streams = require('./lib/stream');

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function checkProvider(provider) {
  if (provider === undefined || provider === null) return null;
  if (typeof provider !== 'string') {
    throw new TypeError(`provider must be a string, null or undefined, not ${describe(provider)}`);
  }
  if (provider.includes('\0')) throw new TypeError('provider must not contain NUL characters');
  return provider;
}

function checkSignal(signal) {
  if (signal === undefined) return undefined;
  if (signal === null || typeof signal !== 'object' || typeof signal.addEventListener !== 'function') {
    throw new TypeError(`signal must be an AbortSignal, not ${describe(signal)}`);
  }
  return signal;
}

// JSON.stringify would turn NaN and Infinity into null and fail on BigInt with a message that does
// not say where; both are refused here with the field's name.
function strictJsonValue(key, value) {
  if (typeof value === 'bigint') {
    throw new TypeError(`field ${JSON.stringify(key)} is a BigInt, which JSON cannot carry; pass a Number`);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError(`field ${JSON.stringify(key)} is ${value}, which JSON cannot carry`);
  }
  return value;
}

function encodeRequest(request) {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw new TypeError(`request must be an object, not ${describe(request)}`);
  }
  // A circular structure makes JSON.stringify itself throw a TypeError naming the property.
  return JSON.stringify(request, strictJsonValue);
}

/**
 * Sends one OpenAI-shaped chat request; resolves with the OpenAI-shaped response object.
 *
 * `provider` names the adapter ('openai', 'anthropic', 'cohere', 'mock'), or is null/undefined to
 * route by the `provider/` prefix of `request.model`. Rejects with a LiterLlmError subclass when
 * the call fails, an AbortError when `options.signal` aborts, and a TypeError when the arguments
 * cannot be sent at all.
 */
async function invoke(provider, request, options = {}) {
  return send(provider, request, options, false);
}

/**
 * `invoke`, streamed: resolves with a ChatCompletionStream of the raw request's
 * `chat.completion.chunk` objects (`stream: true` is implied). Leaving the `for await` loop early,
 * `close()` or `options.signal` cancels the upstream request; a failure is thrown by the loop after
 * the chunks received before it.
 */
async function invokeStream(provider, request, options = {}) {
  return send(provider, request, options, true);
}

/** One call, streamed when `streaming` (`invoke` is the raw call, as in every binding: never). */
async function send(provider, request, options, streaming) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object, not ${describe(options)}`);
  }
  const signal = checkSignal(options.signal);
  const checkedProvider = checkProvider(provider);
  const json = encodeRequest(request);
  if (streaming) return streams.startStream(checkedProvider, json, signal);
  return native.call(checkedProvider, json, signal);
}

/**
 * A chat completion, LiteLLM-style:
 * `await completion({ model: 'anthropic/claude-sonnet-4-5', messages: [...] })`.
 *
 * Every field other than `provider` and `signal` is a field of the request (`max_tokens`,
 * `temperature`, `tools`, `prompt`, `mock_response`...); `api_key`, `base_url` (alias `api_base`)
 * and `timeout` (seconds) override the environment for this call only.
 *
 * With `stream: true`, resolves with a ChatCompletionStream: `for await (const chunk of stream)`
 * yields the `chat.completion.chunk` objects as they arrive; leaving the loop early, `close()` or
 * the signal cancels the upstream request; a failure is thrown by the loop after the chunks
 * received before it.
 */
async function completion(params) {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new TypeError(`completion() takes an object such as { model, messages }, not ${describe(params)}`);
  }
  const { provider, signal, ...request } = params;
  if (typeof request.model !== 'string') {
    throw new TypeError(`model must be a string, not ${describe(request.model)}`);
  }
  return send(provider, request, { signal }, request.stream === true);
}

/**
 * Assembles the chunks of a stream (an array of `chat.completion.chunk` objects, in order) into one
 * `chat.completion`, like LiteLLM's `stream_chunk_builder`: content and tool-call arguments
 * concatenated, the last finish reason, the usage. Throws a LiterLlmError when they cannot be
 * assembled, a TypeError when `chunks` is not an array.
 */
function streamChunkBuilder(chunks) {
  if (!Array.isArray(chunks)) {
    throw new TypeError(`streamChunkBuilder() takes an array of chunks, not ${describe(chunks)}`);
  }
  return streams.assemble(JSON.stringify(chunks, strictJsonValue));
}

/**
 * Replaces the process-wide configuration: the JSON form of `liter-llm.toml` (`defaults`, `pool`,
 * `providers`, `routes`, `prices`; see docs/configuration.md). It applies to every later call in
 * the process, from every binding. Throws a BadRequestError naming the offending key (and leaves
 * the configuration unchanged), or a TypeError when `config` is not an object.
 */
function configure(config) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`config must be an object, not ${describe(config)}`);
  }
  native.configure(JSON.stringify(config, strictJsonValue));
}

module.exports = {
  completion,
  invoke,
  invokeStream,
  configure,
  streamChunkBuilder,
  ChatCompletionStream: streams.ChatCompletionStream,
  /** The version of the loaded liter-llm library, such as '0.1.0'. */
  version: native.version,
  LiterLlmError: errors.LiterLlmError,
  BadRequestError: errors.BadRequestError,
  AuthenticationError: errors.AuthenticationError,
  PermissionDeniedError: errors.PermissionDeniedError,
  NotFoundError: errors.NotFoundError,
  RateLimitError: errors.RateLimitError,
  APIConnectionError: errors.APIConnectionError,
  Timeout: errors.Timeout,
  APITimeoutError: errors.APITimeoutError,
  ServiceUnavailableError: errors.ServiceUnavailableError,
  BadResponseError: errors.BadResponseError,
  UnsupportedProviderError: errors.UnsupportedProviderError,
  InternalError: errors.InternalError,
  AbortError: errors.AbortError,
};
