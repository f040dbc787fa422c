'use strict';

// Loads the one shared library of liter-llm through koffi and runs calls on its own runtime:
// `liter_llm_invoke_async` (or `liter_llm_client_invoke_async` on a client) returns at once, and
// the result comes back through one registered callback that koffi relays from liter-llm's
// delivery thread to this JS thread.

const fs = require('node:fs');
const koffi = require('koffi');

const { ABI_VERSION, CALLBACK_DECLARATION, DECLARATIONS } = require('./abi');
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
  const Callback = koffi.proto(CALLBACK_DECLARATION);
  const functions = { path: libPath, Callback };
  for (const [name, declaration] of Object.entries(DECLARATIONS)) functions[name] = library.func(declaration);
  return functions;
}

const lib = load();

// At exit (process.exit() with calls still in flight, say), no callback may enter a Node that
// is being torn down: stop them. No wait (0 ms): a callback already running waits for this very
// thread, which is busy exiting.
// Only the main thread's exit ends the process; a worker thread exiting must not stop the
// callbacks of the others.
// Telemetry is sent first, within 5 s (it waits for no callback; with telemetry off it returns at
// once), so a script that makes one call and exits delivers its span.
if (require('node:worker_threads').isMainThread) {
  process.once('exit', () => {
    lib.telemetryFlush(5000);
    lib.shutdown(0);
  });
}

/**
 * The calls waiting for their callback, by the token passed as `user_data` (a small integer, never
 * a pointer into JS memory). Each entry names its `client` (its handle, null for the default
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

// koffi's relay to the JS thread does not keep the event loop alive, so a script whose only
// work is a pending call would exit before the answer. One timer, created once, holds the loop
// open while calls are pending and is unref'd when none is, so a finished script exits at once
// (ref() and unref() only flip a flag; creating and clearing a timer per call costs more).
let keepAlive = null;

function holdEventLoop() {
  if (keepAlive === null) keepAlive = setInterval(() => {}, 1 << 30);
  else keepAlive.ref();
}

function releaseEventLoopIfIdle() {
  if (pending.size === 0 && keepAlive !== null) keepAlive.unref();
}

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

/**
 * Receives every result, on the JS thread. The liter-llm thread that delivered the result waits
 * until this returns, so it only copies the buffer and frees it; parsing and settling happen in a
 * microtask, after that thread is released.
 */
function onResult(userData, resultPtr, len) {
  const token = Number(userData);
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
    queueMicrotask(() => settle(call, text, len < 0));
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

// Registered once and kept for the life of the process: it is the callback of every call.
const callbackPointer = koffi.register(onResult, koffi.pointer(lib.Callback));

/**
 * Runs one call on the liter-llm runtime, on `client` (a client handle) or, when it is null, on
 * the default client. Resolves with the parsed response; rejects with a LiterLlmError, or with an
 * AbortError when `signal` aborts first. `owner` is kept alive until the call ends.
 *
 * An abort asks the core to drop the upstream request (`liter_llm_cancel`) and the promise rejects
 * when the call's one callback arrives, an instant later: so once a promise has settled, the
 * library holds nothing for its call, and a worker thread whose promises have all settled can be
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
    // Registered before the call starts: the core may deliver before invoke_async returns.
    track(token, entry);
    let callId;
    try {
      callId =
        client === null
          ? lib.invokeAsync(provider, jsonRequest, callbackPointer, BigInt(token))
          : lib.clientInvokeAsync(client, provider, jsonRequest, callbackPointer, BigInt(token));
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
  // Registered before the stream starts: the core may deliver before liter_llm_stream returns.
  track(token, { stream: true, client, receiver: new WeakRef(receiver) });
  let callId;
  try {
    callId =
      client === null
        ? lib.stream(provider, jsonRequest, callbackPointer, BigInt(token))
        : lib.clientStream(client, provider, jsonRequest, callbackPointer, BigInt(token));
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
 * Frees a client: its calls in flight end with `cancelled`, each through its one callback.
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
  // For the tests of the loader.
  checkAbiVersion,
  findLibrary: libraryPath,
};
