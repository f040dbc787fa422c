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
const clients = require('./lib/client');
const { describe, encodeObject, toJson } = require('./lib/request');

// Each function here runs on the default client (`null`): the one built lazily from
// LITER_LLM_CONFIG or ./liter-llm.toml, whose configuration configure() replaces. `new Client(config)`
// makes others.

/**
 * Sends one OpenAI-shaped chat request; resolves with the OpenAI-shaped response object.
 *
 * `provider` names the adapter ('openai', 'anthropic', 'cohere', 'mock'), or is null/undefined to
 * route by the `provider/` prefix of `request.model`. Rejects with a LiterLlmError subclass when
 * the call fails, an AbortError when `options.signal` aborts, and a TypeError when the arguments
 * cannot be sent at all.
 */
function invoke(provider, request, options = {}) {
  return clients.send(null, provider, request, options, false);
}

/**
 * `invoke`, streamed: resolves with a ChatCompletionStream of the raw request's
 * `chat.completion.chunk` objects (`stream: true` is implied). Leaving the `for await` loop early,
 * `close()` or `options.signal` cancels the upstream request; a failure is thrown by the loop after
 * the chunks received before it.
 */
function invokeStream(provider, request, options = {}) {
  return clients.send(null, provider, request, options, true);
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
function completion(params) {
  return clients.completion(null, params);
}

/**
 * Embeddings, LiteLLM-style: `await embedding({ model: 'openai/text-embedding-3-small', input: ['a', 'b'] })`.
 *
 * Resolves with OpenAI's list (`{ object: 'list', data: [{ object: 'embedding', embedding, index }],
 * model, usage }`) whatever the provider: vectors as arrays of numbers, or base64 text with
 * `encoding_format: 'base64'` (docs/embeddings.md). Other fields (`dimensions`, `input_type`,
 * `api_key`, `base_url`, `fallbacks`...) are fields of the request.
 */
function embedding(params) {
  return clients.embedding(null, params);
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
  return streams.assemble(toJson(chunks));
}

/**
 * Replaces the default client's configuration: the JSON form of `liter-llm.toml` (`defaults`,
 * `pool`, `providers`, `routes`, `prices`; see docs/configuration.md). It applies to every later
 * call of the module-level functions in the process, from every binding (a Client keeps its own).
 * Throws a BadRequestError naming the offending key (and leaves the configuration unchanged), or
 * a TypeError when `config` is not an object.
 */
function configure(config) {
  native.configure(encodeObject('config', config));
}

/**
 * Sends the spans and metrics every client holds now (docs/telemetry.md), waiting at most
 * `timeoutMs` (default 5000) without blocking the event loop. Resolves true when everything was
 * sent (or telemetry is off), false when the time ran out. The process's exit does this too.
 */
function flushTelemetry(timeoutMs = 5000) {
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 3_600_000) {
    throw new RangeError(`flushTelemetry() takes a timeout in milliseconds from 0 to 3600000, not ${timeoutMs}`);
  }
  return native.flushTelemetry(timeoutMs);
}

module.exports = {
  Client: clients.Client,
  completion,
  embedding,
  invoke,
  invokeStream,
  configure,
  flushTelemetry,
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
  CancelledError: errors.CancelledError,
  AbortError: errors.AbortError,
};
