'use strict';

// Loads the one shared library of liter-llm through koffi and runs calls on its own runtime:
// `liter_llm_invoke_queued` (or `liter_llm_client_invoke_queued` on a client) returns at once,
// and the result waits in a completion queue of the library, one per JS thread, until this
// thread drains it. The runtime worker that ends a call pushes its result and makes the queue's
// pipe readable; libuv watches the pipe like any socket, so no liter-llm thread ever calls into
// JavaScript or waits for it.

const fs = require('node:fs');
const net = require('node:net');
const { isMainThread } = require('node:worker_threads');
const koffi = require('koffi');

const { ABI_VERSION, DECLARATIONS } = require('./abi');
const { InternalError, abortError, errorFromJson } = require('./errors');
const { PACKAGE_ROOT, bundledLibraryPath, bundledPlatforms, platformKey, repositoryLibraryPath } = require('./paths');

function modifiedAt(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * `LITER_LLM_LIBRARY` when set, else the copy the package carries for this platform, else the
 * in-repo build. `platform`, `arch` and `packageRoot` are parameters for the loader's tests.
 */
function libraryPath(env = process.env, platform = process.platform, arch = process.arch, packageRoot = PACKAGE_ROOT) {
  if (env.LITER_LLM_LIBRARY) return env.LITER_LLM_LIBRARY;
  const bundled = bundledLibraryPath(platform, arch, packageRoot);
  const candidates = [bundled];
  // The in-repo build is the host's own: it can only stand in for the platform this process runs on.
  if (platform === process.platform && arch === process.arch) candidates.push(repositoryLibraryPath());
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  // In a checkout, a bundled copy older than cargo's build would silently run stale code.
  const [bundledAt, builtAt] = candidates.map(modifiedAt);
  if (bundledAt != null && builtAt != null && builtAt > bundledAt) {
    process.emitWarning(
      `liter-llm: ${candidates[0]} is older than ${candidates[1]}; run \`npm run build:native\` in bindings/node to use the new build`,
      { code: 'LITER_LLM_STALE_LIBRARY' },
    );
  }
  if (found === undefined) {
    const carried = bundledPlatforms(packageRoot);
    throw new Error(
      `liter-llm has no native library for ${platformKey(platform, arch)}: this package carries ` +
        `${carried.length ? carried.join(', ') : 'none'} (looked at ${candidates.join(' and ')}). ` +
        'Set LITER_LLM_LIBRARY to a libliter_llm built for this platform ' +
        '(cargo build --release -p liter-llm-ffi in core/), or, in a checkout, build it and run `npm run build:native` in bindings/node.',
    );
  }
  return found;
}

/** Throws unless the loaded library speaks the ABI this package was written for. */
function checkAbiVersion(found, libPath) {
  if (found !== ABI_VERSION) {
    throw new Error(
      `liter-llm: the native library at ${libPath} speaks ABI version ${found}, but this package needs ` +
        `version ${ABI_VERSION}; rebuild the library (cargo build --release -p liter-llm-ffi) and the ` +
        'package (npm run build:native), or point LITER_LLM_LIBRARY at a matching build',
    );
  }
}

function load() {
  const libPath = libraryPath();
  let library;
  try {
    library = koffi.load(libPath);
  } catch (error) {
    throw new Error(`liter-llm could not load its native library ${libPath}: ${error.message}`, { cause: error });
  }
  let abiVersion;
  try {
    abiVersion = library.func(DECLARATIONS.abiVersion);
  } catch (error) {
    throw new Error(`liter-llm: ${libPath} is not a liter-llm library (${error.message})`, { cause: error });
  }
  checkAbiVersion(abiVersion(), libPath);
  const functions = { path: libPath };
  for (const [name, declaration] of Object.entries(DECLARATIONS)) functions[name] = library.func(declaration);
  return functions;
}

const lib = load();

/**
 * The calls waiting for their result, by the token passed as their tag (a small integer, never a
 * pointer into JS memory). Each entry names its `client` (its handle, null for the default
 * client) and `owner` (an object kept alive until the call ends: the Client it runs on). A call's
 * entry is `{ resolve, reject, abortedBy, done }` of its promise; a stream's is
 * `{ stream: true, receiver }`, where `receiver` is a WeakRef to the function that takes its
 * events: a stream nobody holds any more can be collected (and cancelled, see lib/stream.js).
 * A stream stays here until its terminal event.
 */
const pending = new Map();
let nextToken = 1;

/** Per client handle: how many of its calls are pending, and who waits for none to be. */
const byClient = new Map();

function track(token, entry) {
  pending.set(token, entry);
  if (entry.client === null) return;
  const record = byClient.get(entry.client) ?? { count: 0, idle: [] };
  record.count += 1;
  byClient.set(entry.client, record);
}

/** Forgets a call's entry: the one place an entry leaves `pending`. */
function untrack(token) {
  const entry = pending.get(token);
  if (entry === undefined) return undefined;
  pending.delete(token);
  releaseEventLoopIfIdle();
  const record = entry.client === null ? undefined : byClient.get(entry.client);
  if (record !== undefined && --record.count === 0) {
    byClient.delete(entry.client);
    for (const resolve of record.idle) resolve();
  }
  return entry;
}

/** Resolves once no call or stream of `client` is pending (at once when none is). */
function whenIdle(client) {
  const record = byClient.get(client);
  if (record === undefined) return Promise.resolve();
  return new Promise((resolve) => record.idle.push(resolve));
}

/**
 * This thread's completion queue, made at its first call: `{ handle, socket, held }` (`held`: the
 * socket is ref()'d). The main thread and each worker_thread load this module separately, so each
 * drains its own queue on its own loop.
 */
let queue = null;

/** How many events one liter_llm_queue_drain call moves, into arrays allocated once. */
const DRAIN_CAPACITY = 64;
const drainedTags = new BigUint64Array(DRAIN_CAPACITY);
// The buffers' addresses: koffi 3 passes pointers as BigInt, which is what decode and free take.
const drainedData = new BigUint64Array(DRAIN_CAPACITY);
const drainedLens = new Int32Array(DRAIN_CAPACITY);

function completionQueue() {
  if (queue !== null) return queue;
  const fd = [-1];
  const handle = lib.queueNew(fd);
  if (!handle) {
    throw new InternalError('liter-llm could not make its completion queue (it needs Linux, and a free file descriptor)');
  }
  let readable;
  try {
    // libuv closes the descriptor it reads when its handle closes (a worker thread's teardown
    // closes them all), and liter_llm_queue_free() closes the queue's own: the socket reads the
    // same pipe through a descriptor of its own, so that none is closed twice.
    readable = fs.openSync(`/proc/self/fd/${fd[0]}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    lib.queueFree(handle);
    throw new InternalError(`liter-llm could not open its completion queue's pipe: ${error.message}`, { cause: error });
  }
  // `onread` reads into one buffer and skips the stream machinery: the bytes are only wake-ups.
  const socket = new net.Socket({
    fd: readable,
    readable: true,
    writable: false,
    onread: { buffer: Buffer.alloc(64), callback: drainQueue },
  });
  // Not referenced while no call is pending, so that a finished script exits at once.
  socket.unref();
  queue = { handle, socket, held: false };
  return queue;
}

// A script whose only work is a pending call must not exit before the answer: the queue's socket
// holds the event loop open while calls are pending and is unref'd when none is (ref() and
// unref() only flip a flag on the handle).
function holdEventLoop() {
  if (queue.held) return;
  queue.socket.ref();
  queue.held = true;
}

function releaseEventLoopIfIdle() {
  if (pending.size === 0 && queue !== null && queue.held) {
    queue.socket.unref();
    queue.held = false;
  }
}

/**
 * Takes every event waiting in the queue, on this thread, when libuv has read the pipe's wake-up
 * byte: the library writes another only when the queue goes from empty to non-empty, so this
 * drains until a drain comes back short. Every event is handled (and its buffer freed) even when
 * one of them throws; the first error is thrown after.
 */
function drainQueue() {
  let failure = null;
  let n;
  do {
    n = lib.queueDrain(queue.handle, drainedTags, drainedData, drainedLens, DRAIN_CAPACITY);
    for (let i = 0; i < n; i++) {
      try {
        onResult(Number(drainedTags[i]), drainedData[i], drainedLens[i]);
      } catch (error) {
        failure ??= error;
      }
    }
  } while (n === DRAIN_CAPACITY);
  if (n < 0) throw new InternalError("liter-llm's completion queue of this thread is gone");
  if (failure !== null) throw failure;
}

// At exit (process.exit() with calls still in flight, say): the queue is freed, which cancels its
// calls, and nothing more is delivered. Telemetry is sent first, within 5 s, so a script that makes
// one call and exits delivers its span; only the main thread's exit ends the process, so only it
// flushes and shuts the library down. A worker thread terminated by `worker.terminate()` runs no
// 'exit' handler: its queue, and the results of calls it left in flight, stay allocated.
process.once('exit', () => {
  if (isMainThread) {
    lib.telemetryFlush(5000);
    lib.shutdown(0);
  }
  if (queue !== null) lib.queueFree(queue.handle);
});

/** The value of a result's JSON: the response, or throws the error it describes. */
function parseResult(text, isError) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InternalError(`liter-llm returned a result that is not JSON: ${error.message}`, { cause: error });
  }
  if (isError) throw errorFromJson(parsed);
  return parsed;
}

/** Settles a call's promise with its result JSON, or with an AbortError when its signal aborted. */
function settle(call, text, isError) {
  call.done();
  if (call.abortedBy !== null) {
    call.reject(abortError(call.abortedBy));
    return;
  }
  let value;
  try {
    value = parseResult(text, isError);
  } catch (error) {
    call.reject(error);
    return;
  }
  call.resolve(value);
}

/** Copies a buffer the library returned and releases it; NULL or an unreadable buffer is an InternalError. */
function takeResult(resultPtr, len) {
  if (!resultPtr) throw new InternalError('liter-llm returned NULL instead of a result');
  try {
    return koffi.decode.string(resultPtr, Math.abs(len));
  } catch (error) {
    throw new InternalError(`the result of liter-llm could not be read: ${error.message}`, { cause: error });
  } finally {
    lib.free(resultPtr);
  }
}

/** Receives every drained event of the queue, on the JS thread. */
function onResult(token, resultPtr, len) {
  const streamEntry = pending.get(token);
  if (streamEntry !== undefined && streamEntry.stream === true) {
    onStreamEvent(token, streamEntry, resultPtr, len);
    return;
  }
  let text = null;
  let failure = null;
  try {
    text = takeResult(resultPtr, len);
  } catch (error) {
    failure = error;
  }
  const call = untrack(token);
  if (call === undefined) return;
  if (failure !== null) {
    call.done();
    call.reject(failure);
  } else {
    settle(call, text, len < 0);
  }
}

/**
 * One event of a stream, on the JS thread: a chunk (`len > 0`), or its terminal event (`(NULL, 0)`
 * for the end, an error object for a failure). The handler only queues what it gets; a stream
 * that was collected gets nothing (its buffers are still freed).
 */
function onStreamEvent(token, entry, resultPtr, len) {
  const terminal = len <= 0;
  let event;
  if (len === 0 && !resultPtr) {
    event = { type: 'end' };
  } else {
    let text = null;
    let failure = null;
    try {
      text = takeResult(resultPtr, len);
    } catch (error) {
      failure = error;
    }
    if (failure !== null) {
      event = { type: 'error', error: failure };
    } else if (terminal) {
      let error;
      try {
        parseResult(text, true);
        error = new InternalError('liter-llm ended a stream with an error that does not say what failed');
      } catch (thrown) {
        error = thrown;
      }
      event = { type: 'error', error };
    } else {
      event = { type: 'chunk', text };
    }
  }
  if (terminal) untrack(token);
  entry.receiver.deref()?.(event, terminal);
}

/**
 * Runs one call on the liter-llm runtime, on `client` (a client handle) or, when it is null, on
 * the default client. Resolves with the parsed response; rejects with a LiterLlmError, or with an
 * AbortError when `signal` aborts first. `owner` is kept alive until the call ends.
 *
 * An abort asks the core to drop the upstream request (`liter_llm_cancel`) and the promise rejects
 * when the call's one event arrives, an instant later: so once a promise has settled, the library
 * holds nothing for its call, and a worker thread whose promises have all settled can be
 * terminated safely.
 *
 * @param {bigint|number|null} client
 * @param {string|null} provider
 * @param {string} jsonRequest
 * @param {AbortSignal|undefined} signal
 * @param {object|null} owner
 */
function call(client, provider, jsonRequest, signal, owner = null) {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const token = nextToken++;
    let onAbort = null;
    const entry = {
      client,
      owner,
      resolve,
      reject,
      abortedBy: null,
      done: () => {
        if (onAbort !== null) signal.removeEventListener('abort', onAbort);
      },
    };
    track(token, entry);
    let callId;
    try {
      const { handle } = completionQueue();
      callId =
        client === null
          ? lib.invokeQueued(provider, jsonRequest, handle, token)
          : lib.clientInvokeQueued(client, provider, jsonRequest, handle, token);
    } catch (error) {
      untrack(token);
      reject(error);
      return;
    }
    if (!callId) {
      untrack(token);
      reject(new InternalError('liter-llm refused to start the call'));
      return;
    }
    holdEventLoop();
    if (signal !== undefined) {
      onAbort = () => {
        entry.abortedBy = signal;
        // 0 when the call had already finished: its result is on its way, and is dropped.
        lib.cancel(callId);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

/**
 * Starts a stream on `client` (null: the default client); its events go to
 * `receiver(event, terminal)` on the JS thread: `{type: 'chunk', text}` per chunk, then exactly
 * one terminal `{type: 'end'}` or `{type: 'error', error}`. `receiver` is held weakly: once it is
 * collected, the events are dropped. While it runs, the stream holds the event loop open.
 * Returns the call id for `cancel()`; throws when the stream could not be started.
 *
 * @param {bigint|number|null} client
 * @param {string|null} provider
 * @param {string} jsonRequest
 * @param {(event: object, terminal: boolean) => void} receiver
 */
function startStream(client, provider, jsonRequest, receiver) {
  const token = nextToken++;
  track(token, { stream: true, client, receiver: new WeakRef(receiver) });
  let callId;
  try {
    const { handle } = completionQueue();
    callId =
      client === null
        ? lib.streamQueued(provider, jsonRequest, handle, token)
        : lib.clientStreamQueued(client, provider, jsonRequest, handle, token);
  } catch (error) {
    untrack(token);
    throw error;
  }
  if (!callId) {
    untrack(token);
    throw new InternalError('liter-llm refused to start the stream');
  }
  holdEventLoop();
  return callId;
}

/** Asks the core to end a call or stream with `cancelled`; false when it had already finished. */
function cancel(callId) {
  return lib.cancel(callId) === 1;
}

/** Assembles the chunks of a stream (JSON text of an array) into one completion. */
function streamAssemble(jsonChunks) {
  const len = [0];
  const text = takeResult(lib.streamAssemble(jsonChunks, len), len[0]);
  return parseResult(text, len[0] < 0);
}

/**
 * Replaces the default client's configuration with `jsonConfig` (JSON text). Synchronous: the
 * core only parses and installs it. Throws a LiterLlmError (invalid_request) naming the offending key.
 */
function configure(jsonConfig) {
  const len = [0];
  const text = takeResult(lib.configure(jsonConfig, len), len[0]);
  parseResult(text, len[0] < 0);
}

/**
 * Sends the telemetry every client holds now, waiting at most `timeoutMs` on one of koffi's
 * worker threads, never the event loop's. Resolves true when everything queued was sent.
 */
function flushTelemetry(timeoutMs) {
  return new Promise((resolve, reject) => {
    lib.telemetryFlush.async(timeoutMs, (error, sent) => (error ? reject(error) : resolve(sent === 1)));
  });
}

/**
 * Creates a client from `jsonConfig` (JSON text) or `configFile` (a path), at most one of them;
 * with neither, from the default client's discovery. Returns its handle; throws a LiterLlmError
 * (invalid_request) naming the offending key or file.
 */
function newClient(jsonConfig, configFile) {
  const client = [0];
  const len = [0];
  const text = takeResult(lib.clientNew(jsonConfig, configFile, client, len), len[0]);
  parseResult(text, len[0] < 0);
  if (!client[0]) throw new InternalError('liter_llm_client_new succeeded without a client handle');
  return client[0];
}

/**
 * Frees a client: its calls in flight end with `cancelled`, each through its one event.
 * True when the client existed.
 */
function freeClient(client) {
  return lib.clientFree(client) === 1;
}

module.exports = {
  ABI_VERSION,
  libraryPath: lib.path,
  version: lib.version(),
  call,
  startStream,
  cancel,
  streamAssemble,
  configure,
  flushTelemetry,
  newClient,
  freeClient,
  whenIdle,
  pendingCount: () => pending.size,
  // For the tests: this thread's completion queue (0 until its first call).
  queueHandle: () => (queue === null ? 0 : queue.handle),
  // For the tests of the loader.
  checkAbiVersion,
  findLibrary: libraryPath,
};
