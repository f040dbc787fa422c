'use strict';

// Clients: each owns, in the core, its configuration, connection pool, rate limiter, route state
// and caches, so one process can hold several configurations (two tenants' keys, say) and use
// them at once. The module-level functions of index.js run on the default client, `null` here.

const native = require('./native');
const streams = require('./stream');
const { ManagedHandle } = require('./managed');
const { BadRequestError } = require('./errors');
const { checkOptions, checkProvider, checkSignal, describe, encodeObject } = require('./request');
const { withTraceContext } = require('./tracing');

/**
 * One call on `client` (a Client, or null for the default client), streamed when `streaming`:
 * the call's promise (for a stream, of its ChatCompletionStream). Never throws: arguments that
 * cannot be sent reject it. One promise per call, with no async wrapper around it: each layer of
 * `async` would add microtask turns to every call.
 */
function send(client, provider, request, options, streaming) {
  try {
    const signal = checkSignal(checkOptions(options).signal);
    const checkedProvider = checkProvider(provider);
    const json = encodeObject('request', withTraceContext(request));
    if (streaming) return Promise.resolve(streams.startStream(client, checkedProvider, json, signal));
    // The call's entry holds the Client, so that a client nobody else holds lives until its calls end.
    return native.call(client === null ? null : client._handle(), checkedProvider, json, signal, client);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Splits the `params` of `name()` into provider, signal and request; `shape` is what it takes. */
function splitParams(name, shape, params) {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new TypeError(`${name}() takes an object such as ${shape}, not ${describe(params)}`);
  }
  const { provider, signal, ...request } = params;
  if (typeof request.model !== 'string') {
    throw new TypeError(`model must be a string, not ${describe(request.model)}`);
  }
  return { provider, signal, request };
}

// A call's arguments that cannot be sent reject its promise (never a synchronous throw).
function call(client, name, shape, params, start) {
  let split;
  try {
    split = splitParams(name, shape, params);
  } catch (error) {
    return Promise.reject(error);
  }
  return start(client, split);
}

function completion(client, params) {
  return call(client, 'completion', '{ model, messages }', params, (c, { provider, signal, request }) =>
    send(c, provider, request, { signal }, request.stream === true),
  );
}

function embedding(client, params) {
  return call(client, 'embedding', '{ model, input }', params, (c, { provider, signal, request }) =>
    send(c, provider, { ...request, operation: 'embedding' }, { signal }, false),
  );
}

function clientConfiguration(config, options) {
  const { configFile } = checkOptions(options);
  let json = null;
  if (config !== undefined && config !== null) {
    if (typeof config === 'string') {
      throw new TypeError('config must be an object (the JSON form of liter-llm.toml); for a file, pass new Client(null, { configFile })');
    }
    json = encodeObject('config', config);
  }
  let file = null;
  if (configFile !== undefined && configFile !== null) {
    if (typeof configFile !== 'string') throw new TypeError(`configFile must be a string, not ${describe(configFile)}`);
    if (configFile.includes('\0')) throw new TypeError('configFile must not contain NUL characters');
    file = configFile;
  }
  if (json !== null && file !== null) throw new TypeError('pass config or configFile, not both');
  return { json, file };
}

/**
 * A liter-llm client with its own configuration: `new Client({ providers: { openai: { api_key } } })`
 * or `new Client(null, { configFile: 'tenant.toml' })`; with neither, the default client's
 * discovery (`LITER_LLM_CONFIG`, else ./liter-llm.toml when it exists).
 */
class Client extends ManagedHandle {
  #id;
  /** The promise of the first close(), which every later one returns. */
  #closing = null;

  constructor(config = undefined, options = {}) {
    super();
    const { json, file } = clientConfiguration(config, options);
    this.#id = native.newClient(json, file);
    this._adopt(this.#id, native.freeClient);
  }

  /** `completion({ model, messages, ... })`, as the module-level function, on this client. */
  completion(params) {
    return completion(this, params);
  }

  /** `embedding({ model, input, ... })`, as the module-level function, on this client. */
  embedding(params) {
    return embedding(this, params);
  }

  /** `invoke(provider, request, { signal })`, as the module-level function, on this client. */
  invoke(provider, request, options = {}) {
    return send(this, provider, request, options, false);
  }

  /** `invokeStream(provider, request, { signal })`, as the module-level function, on this client. */
  invokeStream(provider, request, options = {}) {
    return send(this, provider, request, options, true);
  }

  /** True once close() was called. */
  get closed() {
    return this.#closing !== null;
  }

  /**
   * Frees the client in the library, at once: its calls and streams in flight end with a
   * CancelledError, later calls reject with a BadRequestError. Resolves once every call and stream
   * it had has delivered its end. Idempotent.
   */
  close() {
    if (this.#closing === null) {
      this._release();
      this.#closing = native.whenIdle(this.#id);
    }
    return this.#closing;
  }

  _closedError() {
    return new BadRequestError(`client ${this.#id} is closed (client.close() was called); create a new Client`);
  }

  get [Symbol.toStringTag]() {
    return 'Client';
  }
}

module.exports = { Client, send, completion, embedding };
