'use strict';

// What this package expects of the C ABI (include/liter_llm.h), apart from the code that loads it
// (lib/native.js), so that test/header.test.js can check it against the header without loading
// a library.

/** The ABI version this package was written for: `LITER_LLM_ABI_VERSION` in include/liter_llm.h. */
const ABI_VERSION = 2;

/**
 * Every function of the C ABI this package calls, in koffi's syntax, under the name lib/native.js
 * calls it by; and the callback type. test/header.test.js checks each against its prototype in
 * include/liter_llm.h (name, result type, parameter names and types), which these differ from
 * only deliberately:
 * - an owned `char *` (a result, `liter_llm_free`'s argument, the callback's `result`) is
 *   `void *`: koffi would turn a `char *` into a JS string and lose the pointer that
 *   `liter_llm_free()` needs;
 * - `LiterLlmCallback` (a function pointer type in C) is `LiterLlmCallback *`, as koffi writes a
 *   pointer to a prototype;
 * - an out-parameter is marked `_Out_`, so that koffi writes its value back.
 */
const CALLBACK_DECLARATION = 'void LiterLlmCallback(void *user_data, void *result, int32_t len)';
const DECLARATIONS = Object.freeze({
  abiVersion: 'uint32_t liter_llm_abi_version(void)',
  version: 'const char *liter_llm_version(void)',
  invokeAsync:
    'uint64_t liter_llm_invoke_async(const char *provider, const char *json_request, LiterLlmCallback *callback, void *user_data)',
  stream:
    'uint64_t liter_llm_stream(const char *provider, const char *json_request, LiterLlmCallback *callback, void *user_data)',
  clientNew:
    'void *liter_llm_client_new(const char *json_config, const char *config_file, _Out_ uint64_t *out_client, _Out_ int32_t *out_len)',
  clientFree: 'int32_t liter_llm_client_free(uint64_t client)',
  clientInvokeAsync:
    'uint64_t liter_llm_client_invoke_async(uint64_t client, const char *provider, const char *json_request, ' +
    'LiterLlmCallback *callback, void *user_data)',
  clientStream:
    'uint64_t liter_llm_client_stream(uint64_t client, const char *provider, const char *json_request, ' +
    'LiterLlmCallback *callback, void *user_data)',
  streamAssemble: 'void *liter_llm_stream_assemble(const char *json_chunks, _Out_ int32_t *out_len)',
  cancel: 'int32_t liter_llm_cancel(uint64_t call_id)',
  configure: 'void *liter_llm_configure(const char *json_config, _Out_ int32_t *out_len)',
  free: 'void liter_llm_free(void *ptr)',
  shutdown: 'int32_t liter_llm_shutdown(uint32_t timeout_ms)',
  telemetryFlush: 'int32_t liter_llm_telemetry_flush(uint32_t timeout_ms)',
});

module.exports = { ABI_VERSION, CALLBACK_DECLARATION, DECLARATIONS };
