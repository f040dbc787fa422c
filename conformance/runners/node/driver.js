#!/usr/bin/env node
'use strict';

// The Node driver of the conformance harness (conformance/RUNNER_CONTRACT.md, "Drivers"): reads
// operations as JSON lines on stdin, makes each call through the Node binding as a Node program
// does, and writes one JSON line per operation with the result and what only Node can see (the
// error's class, checked with instanceof, and its properties). The binding is bindings/node, or
// the package directory named by LITER_LLM_NODE_BINDING.

const path = require('node:path');
const readline = require('node:readline');

const PROTOCOL_VERSION = 1;

// docs/errors.md: the Node error class of each kind.
const ERROR_CLASSES = {
  invalid_request: 'BadRequestError',
  authentication: 'AuthenticationError',
  permission_denied: 'PermissionDeniedError',
  not_found: 'NotFoundError',
  rate_limited: 'RateLimitError',
  timeout: 'Timeout',
  connection: 'APIConnectionError',
  provider_unavailable: 'ServiceUnavailableError',
  bad_response: 'BadResponseError',
  unsupported: 'UnsupportedProviderError',
  cancelled: 'CancelledError',
  internal: 'InternalError',
};
// The Node error's property for each field of the error object.
const ERROR_PROPERTIES = {
  kind: 'kind',
  status: 'status',
  provider: 'provider',
  retry_after: 'retryAfter',
  message: 'message',
  attempts: 'attempts',
};

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

function loadBinding() {
  const dir = process.env.LITER_LLM_NODE_BINDING || path.join(__dirname, '..', '..', '..', 'bindings', 'node');
  return require(path.resolve(dir));
}

/** The Node binding's own contract: properties mirror the body, the class matches the kind. */
function nativeErrorProblems(binding, error) {
  const body = error.body;
  if (!isObject(body)) return [];
  const problems = [];
  for (const [field, property] of Object.entries(ERROR_PROPERTIES)) {
    const expected = body[field] === undefined ? null : body[field];
    if (error[property] !== expected) {
      problems.push(`error.${property} is ${JSON.stringify(error[property])} but the error body has ${JSON.stringify(expected)}`);
    }
  }
  const className = ERROR_CLASSES[body.kind];
  const expectedClass = className ? binding[className] : undefined;
  if (className && !(typeof expectedClass === 'function' && error instanceof expectedClass)) {
    problems.push(`a ${body.kind} error rejected with ${error.constructor?.name}, not liter-llm's ${className}`);
  }
  return problems;
}

class Driver {
  constructor(binding, nextLine) {
    this.binding = binding;
    this.nextLine = nextLine; // resolves to the next input line (the harness's cancel)
    this.clients = new Map();
  }

  /** A reply for an error: a LiterLlmError's body and native findings; anything else is rethrown. */
  failed(error, chunks) {
    if (!(error instanceof this.binding.LiterLlmError)) throw error;
    const native = { native: nativeErrorProblems(this.binding, error), class: error.constructor?.name };
    return chunks === undefined ? { error: error.body, ...native } : { stream: { chunks, error: error.body }, ...native };
  }

  calls(message) {
    return message.client === undefined || message.client === null ? this.binding : this.clients.get(message.client);
  }

  hello() {
    return { protocol: PROTOCOL_VERSION, language: 'node', binding: this.binding.version };
  }

  env({ name, value }) {
    if (value === null) delete process.env[name];
    else process.env[name] = value;
    return {};
  }

  configure({ config }) {
    try {
      this.binding.configure(config);
      return {};
    } catch (error) {
      return this.failed(error);
    }
  }

  client_create({ config }) {
    try {
      const handle = this.clients.size + 1;
      this.clients.set(handle, new this.binding.Client(config));
      return { client: handle };
    } catch (error) {
      return this.failed(error);
    }
  }

  async client_close({ client }) {
    // Kept: a later call on it gets the binding's closed-client error, as a user's would.
    await this.clients.get(client).close();
    return {};
  }

  async invoke(message) {
    try {
      return { response: await this.calls(message).invoke(message.provider, message.request) };
    } catch (error) {
      if (error instanceof this.binding.LiterLlmError) return this.failed(error);
      return { problem: `invoke rejected with ${error?.name ?? typeof error} instead of a LiterLlmError: ${error?.message ?? error}` };
    }
  }

  /**
   * `await invokeStream()` and a `for await` loop, left after `cancel_after_chunks` chunks (which
   * closes the stream); with 0, `close()` once the harness says the request is in flight. A complete
   * stream's chunks go to `streamChunkBuilder`.
   */
  async stream(message, started) {
    const cancelAfter = message.cancel_after_chunks ?? null;
    const chunks = [];
    try {
      try {
        const stream = await this.calls(message).invokeStream(message.provider, message.request);
        if (cancelAfter === 0) {
          await started();
          await stream.close();
          return { stream: { chunks, cancelled: true } };
        }
        for await (const chunk of stream) {
          chunks.push(chunk);
          // Leaving the loop closes the stream (and waits until the library has let go of it).
          if (chunks.length === cancelAfter) return { stream: { chunks, cancelled: true } };
        }
      } catch (error) {
        return this.failed(error, chunks);
      }
      try {
        return { stream: { chunks, assembled: this.binding.streamChunkBuilder(chunks) } };
      } catch (error) {
        if (error instanceof this.binding.LiterLlmError) return { assembler_error: error.body };
        throw error;
      }
    } catch (error) {
      return { problem: `the stream raised ${error?.name ?? typeof error}: ${error?.message ?? error}` };
    }
  }
}

const OPERATIONS = ['hello', 'env', 'configure', 'client_create', 'client_close', 'invoke', 'stream'];

/** Answers every operation read from `input` on `output`, one at a time, until `input` ends. */
async function serve(binding, input, output) {
  const lines = readline.createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the harness closed the input');
    return value;
  };
  const write = (reply) => output.write(`${JSON.stringify(reply)}\n`);
  const driver = new Driver(binding, nextLine);
  for (;;) {
    const { value: line, done } = await lines.next();
    if (done) return;
    const message = JSON.parse(line);
    const started = async () => {
      write({ id: message.id, event: 'started' });
      const cancel = JSON.parse(await nextLine());
      if (cancel.op !== 'cancel' || cancel.id !== message.id) throw new Error(`expected cancel for ${message.id}, got ${JSON.stringify(cancel)}`);
    };
    const reply = OPERATIONS.includes(message.op)
      ? await driver[message.op](message, started)
      : { problem: `unknown operation ${JSON.stringify(message.op)}` };
    write({ id: message.id, ...reply });
  }
}

if (require.main === module) {
  serve(loadBinding(), process.stdin, process.stdout).catch((error) => {
    console.error(error);
    process.exitCode = 2;
  });
}

module.exports = { ERROR_CLASSES, nativeErrorProblems, serve };
