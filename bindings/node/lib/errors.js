'use strict';

// One error class per error kind of the C ABI (docs/errors.md), under one base, with the names
// the Python binding uses; misuse of the API raises plain TypeErrors instead.

class LiterLlmError extends Error {
  /**
   * @param {string} message
   * @param {{kind?: string, status?: number|null, provider?: string|null, retryAfter?: number|null,
   *          providerError?: object|null, attempts?: number, tried?: object[]|null, body?: object|null,
   *          cause?: unknown}} [details]
   */
  constructor(message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = details.kind ?? new.target.kind;
    this.status = details.status ?? null;
    this.provider = details.provider ?? null;
    this.retryAfter = details.retryAfter ?? null;
    this.providerError = details.providerError ?? null;
    // HTTP attempts the call made, retries and fallbacks included (0 when it failed before sending).
    this.attempts = details.attempts ?? 0;
    // For a call whose fallbacks all failed: one `{provider, model, kind, status, attempts}` per model.
    this.tried = details.tried ?? null;
    // An error made here (not by the library) gets the library's error-object shape too.
    this.body = details.body ?? {
      kind: this.kind,
      message,
      status: this.status,
      provider: this.provider,
      retry_after: this.retryAfter,
      provider_error: this.providerError,
      attempts: this.attempts,
    };
  }
}

/** Declares a subclass named `name` for the error `kind`, so `err.name` reads as the class. */
function defineKind(name, kind, base = LiterLlmError) {
  const cls = { [name]: class extends base {} }[name];
  cls.kind = kind;
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
  return cls;
}

LiterLlmError.kind = 'internal';
Object.defineProperty(LiterLlmError.prototype, 'name', { value: 'LiterLlmError', writable: true, configurable: true });

const BadRequestError = defineKind('BadRequestError', 'invalid_request');
const AuthenticationError = defineKind('AuthenticationError', 'authentication');
const PermissionDeniedError = defineKind('PermissionDeniedError', 'permission_denied');
const NotFoundError = defineKind('NotFoundError', 'not_found');
const RateLimitError = defineKind('RateLimitError', 'rate_limited');
const APIConnectionError = defineKind('APIConnectionError', 'connection');
const Timeout = defineKind('Timeout', 'timeout', APIConnectionError);
const ServiceUnavailableError = defineKind('ServiceUnavailableError', 'provider_unavailable');
const BadResponseError = defineKind('BadResponseError', 'bad_response');
const UnsupportedProviderError = defineKind('UnsupportedProviderError', 'unsupported');
const InternalError = defineKind('InternalError', 'internal');
// A call the library ended before its answer: its client was closed, or liter_llm_cancel() was
// called on it from elsewhere.
const CancelledError = defineKind('CancelledError', 'cancelled');
// A call whose own AbortSignal fired. Named as Node names the error of an aborted operation
// (`err.name === 'AbortError'`, `err.code === 'ABORT_ERR'`, the signal's reason as `cause`), so
// code written for fetch() or `fs.promises` recognises it.
const AbortError = defineKind('AbortError', 'cancelled', CancelledError);
Object.defineProperty(AbortError.prototype, 'code', { value: 'ABORT_ERR', writable: true, configurable: true });

/**
 * The class of each error kind of the C ABI (`LITER_LLM_ERROR_KIND_*` in include/liter_llm.h;
 * test/header.test.js checks that this table names exactly those kinds).
 */
const CLASS_BY_KIND = new Map(
  [
    BadRequestError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    RateLimitError,
    APIConnectionError,
    Timeout,
    ServiceUnavailableError,
    BadResponseError,
    UnsupportedProviderError,
    CancelledError,
    InternalError,
  ].map((cls) => [cls.kind, cls]),
);

/** The error for an error object `{"error": {...}}` returned by the C ABI. */
function errorFromJson(payload) {
  const error = payload !== null && typeof payload === 'object' ? payload.error : undefined;
  if (error === null || typeof error !== 'object' || Array.isArray(error)) {
    return new InternalError(`liter-llm returned an error without an error object: ${JSON.stringify(payload)}`);
  }
  const kind = typeof error.kind === 'string' ? error.kind : undefined;
  const cls = (kind !== undefined && CLASS_BY_KIND.get(kind)) || LiterLlmError;
  return new cls(String(error.message ?? ''), {
    kind,
    status: error.status,
    provider: error.provider,
    retryAfter: error.retry_after,
    providerError: error.provider_error,
    attempts: error.attempts,
    tried: error.tried,
    body: error,
  });
}

/** The rejection of a call whose AbortSignal fired. */
function abortError(signal) {
  return new AbortError('the call was aborted by its AbortSignal', { cause: signal.reason });
}

module.exports = {
  LiterLlmError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  RateLimitError,
  APIConnectionError,
  Timeout,
  APITimeoutError: Timeout,
  ServiceUnavailableError,
  BadResponseError,
  UnsupportedProviderError,
  InternalError,
  CancelledError,
  AbortError,
  CLASS_BY_KIND,
  errorFromJson,
  abortError,
};
