'use strict';

// The chunks of a streamed completion as an async iterable: `for await (const chunk of stream)`.
// The native stream pushes the events drained from the completion queue; `next()` takes them in order.

const native = require('./native');
const { ManagedHandle } = require('./managed');
const { InternalError, abortError } = require('./errors');

const DONE = Object.freeze({ value: undefined, done: true });
const CONSTRUCT = Symbol('ChatCompletionStream');

// The native side holds a running stream only weakly (lib/native.js), so that one dropped
// unread is collected and cancelled; a stream somebody awaits (`next()`, `close()`) is held here
// until the wait ends, or the awaiting code would be collected with it and never resume.
const awaited = new Set();

class ChatCompletionStream extends ManagedHandle {
  /** Chunks received and not yet taken, as JSON text. */
  #buffer = [];
  /** `{ resolve, reject }` of the `next()` calls waiting for an event. */
  #waiters = [];
  /** The terminal event arrived: the library holds nothing more for this stream. */
  #finished = false;
  /** The consumer has seen the end (or closed the stream): `next()` only says done. */
  #done = false;
  /** The error to throw after the buffered chunks. */
  #error = null;
  #abortedBy = null;
  #closing = 0;
  /** The Client the stream runs on (null: the default client): held so that it lives as long as the stream. */
  // eslint-disable-next-line no-unused-private-class-members -- held, never read
  #client;
  #signal;
  #onAbort = null;
  #receiver;
  #terminal;
  #markTerminal;

  /** Not for users: `completion({ ..., stream: true })` creates streams. */
  constructor(key, client, provider, jsonRequest, signal) {
    if (key !== CONSTRUCT) throw new TypeError('use completion({ ..., stream: true }) to start a stream');
    super();
    this.#client = client;
    this.#signal = signal;
    this.#terminal = new Promise((resolve) => {
      this.#markTerminal = resolve;
    });
    this.#receiver = (event, terminal) => this.#onEvent(event, terminal);
    const handle = client === null ? null : client._handle();
    // The call id: cancelling it is what giving this stream back means.
    this._adopt(native.startStream(handle, provider, jsonRequest, this.#receiver), native.cancel);
    if (signal !== undefined) {
      this.#onAbort = () => {
        this.#abortedBy = signal;
        this.#buffer = [];
        this._release();
      };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  #onEvent(event, terminal) {
    if (terminal) {
      this.#finished = true;
      this._forget();
      if (this.#onAbort !== null) this.#signal.removeEventListener('abort', this.#onAbort);
      if (this.#abortedBy !== null) {
        if (!this.#done) this.#error = abortError(this.#abortedBy);
      } else if (event.type === 'error' && !this.#done && this.#error === null) {
        this.#error = event.error;
      }
      this.#markTerminal();
    } else if (event.type === 'chunk') {
      if (!this.#done && this.#abortedBy === null && this.#error === null) this.#buffer.push(event.text);
    } else if (this.#error === null) {
      // A chunk that could not be read: end the stream with that error.
      this.#error = event.error;
      this.#buffer = [];
      this._release();
    }
    this.#drain();
  }

  /** The next step if it is known now: `{ result }` or `{ error }`; null to wait for an event. */
  #step() {
    if (this.#done) return { result: DONE };
    // A stream's error comes after the chunks received before it (an abort or an unreadable chunk
    // empties the buffer itself): one drain of the queue may bring chunks and the error together.
    if (this.#abortedBy === null && this.#buffer.length > 0) {
      const text = this.#buffer.shift();
      try {
        return { result: { value: JSON.parse(text), done: false } };
      } catch (error) {
        this.#done = true;
        this.#buffer = [];
        this._release();
        return { error: new InternalError(`liter-llm streamed a chunk that is not JSON: ${error.message}`, { cause: error }) };
      }
    }
    if (this.#finished) {
      this.#done = true;
      this.#buffer = [];
      const error = this.#error;
      this.#error = null;
      return error === null ? { result: DONE } : { error };
    }
    return null;
  }

  #drain() {
    while (this.#waiters.length > 0) {
      const step = this.#step();
      if (step === null) return;
      const waiter = this.#waiters.shift();
      if (step.error !== undefined) waiter.reject(step.error);
      else waiter.resolve(step.result);
    }
    if (this.#closing === 0) awaited.delete(this);
  }

  /** The next chunk; rejects with the stream's error (a LiterLlmError) after the chunks before it. */
  next() {
    if (this.#waiters.length === 0) {
      const step = this.#step();
      if (step !== null) return step.error !== undefined ? Promise.reject(step.error) : Promise.resolve(step.result);
    }
    awaited.add(this);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
  }

  /**
   * Stops the stream: cancels the upstream request (closing its connection) unless it already
   * ended, and resolves once the library has let go of it. Called by `break` in `for await`.
   */
  async return(value) {
    if (!this.#done) {
      this.#done = true;
      this.#buffer = [];
      this.#error = null;
      this._release();
      this.#drain();
    }
    if (!this.#finished) {
      this.#closing += 1;
      awaited.add(this);
      try {
        await this.#terminal;
      } finally {
        if (--this.#closing === 0 && this.#waiters.length === 0) awaited.delete(this);
      }
    }
    return { value, done: true };
  }

  /** Same as `return()`: stops the stream and its upstream request; idempotent. */
  async close() {
    await this.return();
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  get [Symbol.toStringTag]() {
    return 'ChatCompletionStream';
  }
}

/**
 * Starts a stream on `client` (a Client, or null for the default client); throws AbortError at
 * once when `signal` has already aborted, and the client's closed error when it is closed.
 */
function startStream(client, provider, jsonRequest, signal) {
  if (signal?.aborted) throw abortError(signal);
  return new ChatCompletionStream(CONSTRUCT, client, provider, jsonRequest, signal);
}

/** Assembles chunks (an array of chunk objects) into one `chat.completion`. */
function assemble(jsonChunks) {
  return native.streamAssemble(jsonChunks);
}

module.exports = { ChatCompletionStream, startStream, assemble };
