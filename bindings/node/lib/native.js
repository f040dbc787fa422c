'use strict';

// Loads the one shared library of liter-llm through koffi and runs calls on its own runtime:
// `liter_llm_invoke_async` returns at once, and the result comes back through one registered
// callback that koffi relays from the liter-llm runtime thread to this JS thread.

const fs = require('node:fs');
const koffi = require('koffi');

const { InternalError, abortError, errorFromJson } = require('./errors');
const { PACKAGE_ROOT, bundledLibraryPath, bundledPlatforms, platformKey, repositoryLibraryPath } = require('./paths');

/** The ABI version this package was written for: `LITER_LLM_ABI_VERSION` in include/liter_llm.h. */
const ABI_VERSION = 1;

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
  let lib;
  try {
    lib = koffi.load(libPath);
  } catch (error) {
    throw new Error(`liter-llm could not load its native library ${libPath}: ${error.message}`, { cause: error });
  }
  let abiVersion;
  try {
    abiVersion = lib.func('uint32_t liter_llm_abi_version(void)');
  } catch (error) {
    throw new Error(`liter-llm: ${libPath} is not a liter-llm library (${error.message})`, { cause: error });
  }
  checkAbiVersion(abiVersion(), libPath);
  // `result` is declared `void *`, not `char *`: koffi would turn a `char *` into a JS string and
  // lose the pointer that liter_llm_free() needs.
  const Callback = koffi.proto('void LiterLlmCallback(void *user_data, void *result, int32_t len)');
  return {
    path: libPath,
    version: lib.func('const char *liter_llm_version(void)'),
    invokeAsync: lib.func(
      'uint64_t liter_llm_invoke_async(const char *provider, const char *json_request, ' +
        'LiterLlmCallback *callback, void *user_data)',
    ),
    stream: lib.func(
      'uint64_t liter_llm_stream(const char *provider, const char *json_request, ' +
        'LiterLlmCallback *callback, void *user_data)',
    ),
    streamAssemble: lib.func('void *liter_llm_stream_assemble(const char *json_chunks, _Out_ int32_t *out_len)'),
    cancel: lib.func('int32_t liter_llm_cancel(uint64_t call_id)'),
    configure: lib.func('void *liter_llm_configure(const char *json_config, _Out_ int32_t *out_len)'),
    free: lib.func('void liter_llm_free(void *ptr)'),
    shutdown: lib.func('int32_t liter_llm_shutdown(uint32_t timeout_ms)'),
    Callback,
  };
}

const lib = load();

// At exit (process.exit() with calls still in flight, say), no callback may enter a Node that
// is being torn down: stop them. No wait (0 ms): a callback already running waits for this very
// thread, which is busy exiting.
// Only the main thread's exit ends the process; a worker thread exiting must not stop the
// callbacks of the others.
if (require('node:worker_threads').isMainThread) {
  process.once('exit', () => {
    lib.shutdown(0);
  });
}

/**
 * The calls waiting for their callback, by the token passed as `user_data` (a small integer, never
 * a pointer into JS memory). Each entry is `{ resolve, reject }` of the call's promise, or, for a
 * stream, `{ stream: true, onEvent }`: a stream stays here until its terminal event.
 */
const pending = new Map();
let nextToken = 1;

// koffi's relay to the JS thread does not keep the event loop alive, so a script whose only
// work is a pending call would exit before the answer. One timer holds the loop open while
// calls are pending and is dropped when none is, so a finished script exits at once.
let keepAlive = null;

function holdEventLoop() {
  if (keepAlive === null) keepAlive = setInterval(() => {}, 1 << 30);
}

function releaseEventLoopIfIdle() {
  if (pending.size === 0 && keepAlive !== null) {
    clearInterval(keepAlive);
    keepAlive = null;
  }
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
 * Receives every result, on the JS thread. The liter-llm runtime thread that delivered the result
 * waits until this returns, so it only copies the buffer and frees it; parsing and settling
 * happen in a microtask, after the runtime thread is released.
 */
function onResult(userData, resultPtr, len) {
  const streamEntry = pending.get(Number(userData));
  if (streamEntry !== undefined && streamEntry.stream === true) {
    onStreamEvent(Number(userData), streamEntry, resultPtr, len);
    return;
  }
  let text = null;
  let failure = null;
  try {
    text = takeResult(resultPtr, len);
  } catch (error) {
    failure = error;
  }
  const token = Number(userData);
  const call = pending.get(token);
  if (call === undefined) return;
  pending.delete(token);
  releaseEventLoopIfIdle();
  if (failure !== null) {
    call.done();
    call.reject(failure);
  } else {
    queueMicrotask(() => settle(call, text, len < 0));
  }
}

/**
 * One event of a stream, on the JS thread: a chunk (`len > 0`), or its terminal event (`(NULL, 0)`
 * for the end, an error object for a failure). The handler only queues what it gets.
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
  if (terminal) {
    pending.delete(token);
    releaseEventLoopIfIdle();
  }
  entry.onEvent(event, terminal);
}

// Registered once and kept for the life of the process: it is the callback of every call.
const callbackPointer = koffi.register(onResult, koffi.pointer(lib.Callback));

/**
 * Runs one call on the liter-llm runtime. Resolves with the parsed response; rejects with a
 * LiterLlmError, or with an AbortError when `signal` aborts first.
 *
 * An abort asks the core to drop the upstream request (`liter_llm_cancel`) and the promise rejects
 * when the call's one callback arrives, an instant later: so once a promise has settled, the
 * library holds nothing for its call, and a worker thread whose promises have all settled can be
 * terminated safely.
 *
 * @param {string|null} provider
 * @param {string} jsonRequest
 * @param {AbortSignal|undefined} signal
 */
function call(provider, jsonRequest, signal) {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const token = nextToken++;
    let onAbort = null;
    const entry = {
      resolve,
      reject,
      abortedBy: null,
      done: () => {
        if (onAbort !== null) signal.removeEventListener('abort', onAbort);
      },
    };
    // Registered before the call starts: the core may deliver before invoke_async returns.
    pending.set(token, entry);
    let callId;
    try {
      callId = lib.invokeAsync(provider, jsonRequest, callbackPointer, BigInt(token));
    } catch (error) {
      pending.delete(token);
      reject(error);
      return;
    }
    if (!callId) {
      pending.delete(token);
      reject(new InternalError('liter_llm_invoke_async refused to start the call'));
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
 * Starts a stream on the liter-llm runtime; its events go to `onEvent(event, terminal)` on the JS
 * thread: `{type: 'chunk', text}` per chunk, then exactly one terminal `{type: 'end'}` or
 * `{type: 'error', error}`. While it runs, the stream holds the event loop open. Returns the
 * call id for `cancel()`; throws when the stream could not be started.
 *
 * @param {string|null} provider
 * @param {string} jsonRequest
 * @param {(event: object, terminal: boolean) => void} onEvent
 */
function startStream(provider, jsonRequest, onEvent) {
  const token = nextToken++;
  // Registered before the stream starts: the core may deliver before liter_llm_stream returns.
  pending.set(token, { stream: true, onEvent });
  let callId;
  try {
    callId = lib.stream(provider, jsonRequest, callbackPointer, BigInt(token));
  } catch (error) {
    pending.delete(token);
    throw error;
  }
  if (!callId) {
    pending.delete(token);
    throw new InternalError('liter_llm_stream refused to start the stream');
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
 * Replaces the process-wide configuration with `jsonConfig` (JSON text). Synchronous: the core
 * only parses and installs it. Throws a LiterLlmError (invalid_request) naming the offending key.
 */
function configure(jsonConfig) {
  const len = [0];
  const text = takeResult(lib.configure(jsonConfig, len), len[0]);
  parseResult(text, len[0] < 0);
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
  pendingCount: () => pending.size,
  // For the tests of the loader.
  checkAbiVersion,
  findLibrary: libraryPath,
};
