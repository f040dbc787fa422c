'use strict';

// What this package expects of the C ABI (include/liter_llm.h), apart from the code that loads it
// (lib/native.js), so that test/header.test.js can check it against the header without loading
// a library.

/** The ABI version this package was written for: `LITER_LLM_ABI_VERSION` in include/liter_llm.h. */
const ABI_VERSION = 2;

/**
 * Every function of the C ABI this package calls, in koffi's syntax, under the name lib/native.js
 * calls it by. test/header.test.js checks each against its prototype in include/liter_llm.h (name,
 * result type, parameter names and types), which these differ from only deliberately:
 * - an owned `char *` (a result, `liter_llm_free`'s argument) is `void *`, and the drained
 *   buffers' `char **` is `void **`: koffi would turn a `char *` into a JS string and lose the
 *   pointer that `liter_llm_free()` needs;
 * - an out-parameter is marked `_Out_`, so that koffi writes its value back (the drain's three
 *   arrays are typed arrays, which the library writes in place).
 */
const DECLARATIONS = Object.freeze({
  abiVersion: 'uint32_t liter_llm_abi_version(void)',
  version: 'const char *liter_llm_version(void)',
  queueNew: 'uint64_t liter_llm_queue_new(_Out_ int32_t *out_fd)',
  queueDrain: 'int32_t liter_llm_queue_drain(uint64_t queue, uint64_t *tags, void **data, int32_t *lens, int32_t capacity)',
  queueFree: 'int32_t liter_llm_queue_free(uint64_t queue)',
  invokeQueued:
    'uint64_t liter_llm_invoke_queued(const char *provider, const char *json_request, uint64_t queue, uint64_t tag)',
  streamQueued:
    'uint64_t liter_llm_stream_queued(const char *provider, const char *json_request, uint64_t queue, uint64_t tag)',
  clientNew:
    'void *liter_llm_client_new(const char *json_config, const char *config_file, _Out_ uint64_t *out_client, _Out_ int32_t *out_len)',
  clientFree: 'int32_t liter_llm_client_free(uint64_t client)',
  clientInvokeQueued:
    'uint64_t liter_llm_client_invoke_queued(uint64_t client, const char *provider, const char *json_request, ' +
    'uint64_t queue, uint64_t tag)',
  clientStreamQueued:
    'uint64_t liter_llm_client_stream_queued(uint64_t client, const char *provider, const char *json_request, ' +
    'uint64_t queue, uint64_t tag)',
  streamAssemble: 'void *liter_llm_stream_assemble(const char *json_chunks, _Out_ int32_t *out_len)',
  cancel: 'int32_t liter_llm_cancel(uint64_t call_id)',
  configure: 'void *liter_llm_configure(const char *json_config, _Out_ int32_t *out_len)',
  free: 'void liter_llm_free(void *ptr)',
  shutdown: 'int32_t liter_llm_shutdown(uint32_t timeout_ms)',
  telemetryFlush: 'int32_t liter_llm_telemetry_flush(uint32_t timeout_ms)',
});

module.exports = { ABI_VERSION, DECLARATIONS };
