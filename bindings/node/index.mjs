// The ES module face of liter-llm: the same objects as the CommonJS implementation in index.js.
import liter from './index.js';

export const {
  Client,
  completion,
  embedding,
  invoke,
  invokeStream,
  configure,
  flushTelemetry,
  streamChunkBuilder,
  ChatCompletionStream,
  version,
  LiterLlmError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  RateLimitError,
  APIConnectionError,
  Timeout,
  APITimeoutError,
  ServiceUnavailableError,
  BadResponseError,
  UnsupportedProviderError,
  InternalError,
  CancelledError,
  AbortError,
} = liter;

export default liter;
