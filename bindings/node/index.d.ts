// Types of liter-llm for Node. Requests and responses are OpenAI chat-completions shaped, whichever
// provider serves them (docs/providers.md); errors are described in docs/errors.md.

// `Symbol.asyncDispose` and `Symbol.dispose` (TypeScript 5.2+), for `await using` / `using`.
/// <reference lib="esnext.disposable" />

/** What `signal` accepts: an AbortSignal (declared structurally, so no DOM or Node types are needed). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface TextContentPart {
  type: 'text';
  text: string;
}

export interface ImageContentPart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export type ContentPart = TextContentPart | ImageContentPart;

export interface FunctionCall {
  name: string;
  /** The arguments as JSON text, as the model wrote them. */
  arguments: string;
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: FunctionCall;
}

export interface SystemMessage {
  role: 'system' | 'developer';
  content: string | TextContentPart[];
  name?: string;
}

export interface UserMessage {
  role: 'user';
  content: string | ContentPart[];
  name?: string;
}

export interface AssistantMessage {
  role: 'assistant';
  content?: string | TextContentPart[] | null;
  tool_calls?: ToolCall[];
  name?: string;
}

export interface ToolMessage {
  role: 'tool';
  tool_call_id: string;
  content: string | TextContentPart[];
}

export type ChatMessage = SystemMessage | UserMessage | AssistantMessage | ToolMessage;

export interface FunctionTool {
  type: 'function';
  function: {
    name: string;
    description?: string;
    /** A JSON Schema object. */
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean; description?: string } };

/** An OpenAI chat-completions request, plus the fields that configure the call. */
export interface ChatRequest {
  /** `provider/model`, such as `openai/gpt-4o-mini`, or a bare model with an explicit provider. */
  model: string;
  /** Required unless `prompt` is given. */
  messages?: ChatMessage[];
  /** Shorthand for `messages: [{ role: 'user', content: prompt }]`. */
  prompt?: string;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  tools?: FunctionTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ResponseFormat;
  seed?: number;
  user?: string;
  n?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  /** Overrides the provider's key variable for this call; never sent as a field. */
  api_key?: string;
  /** Overrides the provider's base URL variable for this call; never sent as a field. */
  base_url?: string;
  /** Alias of `base_url`. */
  api_base?: string;
  /** Seconds, a positive number; 600 unless given. */
  timeout?: number;
  /** The text the `mock` provider answers with. */
  mock_response?: string;
  /** `true`: fields a provider has no place for are dropped instead of rejected. */
  drop_params?: boolean;
  /** Retries of retryable failures (429, 5xx, broken connections), 0 to 10; default 2. */
  max_retries?: number;
  /** `provider/model` names tried in order when the model is rate limited or down. */
  fallbacks?: string[];
  /** `true`: the call gives a ChatCompletionStream of chunks instead of one completion. */
  stream?: boolean | null;
  /** Any other field is passed through to OpenAI-compatible providers. */
  [field: string]: unknown;
}

export interface CompletionParams extends ChatRequest {
  /** Names the adapter ('openai', 'anthropic', 'cohere', 'mock') instead of the model's prefix. */
  provider?: string | null;
  /** Aborts the call: the upstream request is dropped and the promise rejects with an AbortError. */
  signal?: AbortSignalLike;
}

/** Parameters of a streamed completion: `stream: true`. */
export interface StreamingCompletionParams extends CompletionParams {
  stream: true;
  /** OpenAI's `{ include_usage: true }` asks for a last chunk with the usage. */
  stream_options?: { include_usage?: boolean; [field: string]: unknown };
}

export interface InvokeOptions {
  signal?: AbortSignalLike;
}

export interface ResponseMessage {
  role: 'assistant';
  content: string | null;
  tool_calls?: ToolCall[];
  refusal?: string | null;
  /** The model's reasoning, where the provider returns it (Anthropic's and Cohere's thinking). */
  reasoning_content?: string;
  [field: string]: unknown;
}

export interface Choice {
  index: number;
  message: ResponseMessage;
  finish_reason: 'stop' | 'length' | 'tool_calls' | 'content_filter' | (string & {}) | null;
  logprobs?: unknown;
  [field: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; [field: string]: unknown };
  /** Prompt tokens written to the provider's prompt cache (Anthropic), part of `prompt_tokens`. */
  cache_creation_input_tokens?: number;
  [field: string]: unknown;
}

/** What served a response: added by liter-llm to every response. */
export interface ServedBy {
  provider: string;
  /** `provider/model`, or the route's model that answered. */
  model: string;
  /** HTTP attempts the call made, retries and fallbacks included. */
  attempts: number;
  /** What the response cache did for this call (docs/cache.md); `'off'` without a cache. */
  cache?: 'off' | 'bypass' | 'miss' | 'hit-l1' | 'hit-l2';
  /** What the answer cost in US dollars at the model's price (docs/cost.md); `null` when the
   * model has no price, 0 for an answer from the response cache. */
  cost_usd?: number | null;
}

/** An OpenAI `chat.completion`, whichever provider served it. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Choice[];
  usage?: Usage;
  liter_llm?: ServedBy;
  [field: string]: unknown;
}

export interface ChunkDelta {
  role?: 'assistant';
  content?: string | null;
  tool_calls?: Array<{
    index: number;
    id?: string;
    type?: 'function';
    function?: { name?: string; arguments?: string };
  }>;
  refusal?: string | null;
  /** A piece of the model's reasoning, where the provider streams it. */
  reasoning_content?: string;
  [field: string]: unknown;
}

export interface ChunkChoice {
  index: number;
  delta: ChunkDelta;
  finish_reason: Choice['finish_reason'];
  logprobs?: unknown;
  [field: string]: unknown;
}

/** One OpenAI `chat.completion.chunk` of a stream. */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChunkChoice[];
  /** On the last chunk, when the provider reports it. */
  usage?: Usage | null;
  /** On the usage chunk, its `cost_usd`; with a response cache, on every chunk, its `cache`. */
  liter_llm?: Partial<Pick<ServedBy, 'cache' | 'cost_usd'>>;
  [field: string]: unknown;
}

/**
 * The chunks of a streamed completion as they arrive: `for await (const chunk of stream)`.
 * Leaving the loop early, `close()` or the call's AbortSignal cancels the upstream request
 * (closing its connection); a failure is thrown by the loop, as a LiterLlmError, after the chunks
 * received before it (an AbortError when the signal aborted).
 */
export class ChatCompletionStream implements AsyncIterableIterator<ChatCompletionChunk>, AsyncDisposable, Disposable {
  private constructor();
  next(): Promise<IteratorResult<ChatCompletionChunk, undefined>>;
  /** Stops the stream (cancelling the upstream request unless it ended); resolves once it is released. */
  return<T = undefined>(value?: T): Promise<IteratorReturnResult<T>>;
  /** Same as `return()`; idempotent. */
  close(): Promise<void>;
  [Symbol.asyncIterator](): ChatCompletionStream;
  /** `await using stream = ...`: `await stream.close()`. */
  [Symbol.asyncDispose](): Promise<void>;
  /** `using stream = ...`: `stream.close()`, without waiting for the library to let go. */
  [Symbol.dispose](): void;
}

/** A chat completion, LiteLLM-style: `await completion({ model: 'anthropic/claude-sonnet-4-5', messages })`. */
export function completion(params: StreamingCompletionParams): Promise<ChatCompletionStream>;
export function completion(params: CompletionParams & { stream?: false | null }): Promise<ChatCompletion>;
export function completion(params: CompletionParams): Promise<ChatCompletion | ChatCompletionStream>;

/** An OpenAI-shaped embeddings request (docs/embeddings.md), plus the fields that configure the call. */
export interface EmbeddingParams {
  /** `provider/model`, e.g. `openai/text-embedding-3-small`, `gemini/gemini-embedding-001`. */
  model: string;
  input: string | string[];
  dimensions?: number;
  /** How each vector comes back: arrays of numbers (`float`, the default) or base64 float32 text. */
  encoding_format?: 'float' | 'base64';
  /** Cohere's and Gemini's task hint: `search_document`, `search_query`, `classification`, `clustering`. */
  input_type?: string;
  user?: string;
  provider?: string | null;
  api_key?: string;
  base_url?: string;
  api_base?: string;
  timeout?: number;
  max_retries?: number;
  fallbacks?: string[];
  signal?: AbortSignal;
  [field: string]: unknown;
}

/** One vector of an EmbeddingResponse. */
export interface Embedding {
  object: 'embedding';
  /** Numbers, or base64 text when the request asked for `encoding_format: 'base64'`. */
  embedding: number[] | string;
  index: number;
}

/** OpenAI's embedding list, whichever provider served it. */
export interface EmbeddingResponse {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
  liter_llm?: ServedBy;
  [field: string]: unknown;
}

/** Embeddings, LiteLLM-style: `await embedding({ model: 'openai/text-embedding-3-small', input: 'Hi' })`. */
export function embedding(params: EmbeddingParams): Promise<EmbeddingResponse>;

/**
 * Assembles the chunks of a stream, in order, into one `chat.completion` (content and tool-call
 * arguments concatenated, the last finish reason, the usage), like LiteLLM's `stream_chunk_builder`.
 */
export function streamChunkBuilder(chunks: readonly ChatCompletionChunk[]): ChatCompletion;

/**
 * Sends one OpenAI-shaped request as it is; `provider` null or undefined routes by the model's
 * prefix. Resolves with the response object. The raw call never streams (`stream: true` is an
 * UnsupportedProviderError naming the streaming call): use `completion({ ..., stream: true })`.
 */
export function invoke(
  provider: string | null | undefined,
  request: ChatRequest,
  options?: InvokeOptions,
): Promise<ChatCompletion>;

/**
 * `invoke`, streamed: resolves with a ChatCompletionStream of the raw request's chunks
 * (`stream: true` is implied). Leaving the loop early, `close()` or the signal cancels the
 * upstream request; a failure is thrown by the loop after the chunks received before it.
 */
export function invokeStream(
  provider: string | null | undefined,
  request: ChatRequest,
  options?: InvokeOptions,
): Promise<ChatCompletionStream>;

/**
 * Replaces the default client's configuration: the JSON form of `liter-llm.toml` (`defaults`,
 * `pool`, `providers`, `routes`, `prices`; see docs/configuration.md). Applies to every later call
 * of the module-level functions in the process (a Client keeps its own). Throws a BadRequestError
 * naming the offending key, leaving the configuration unchanged.
 */
export function configure(config: LiterLlmConfig): void;

/**
 * Sends the spans and metrics every client holds now (docs/telemetry.md), waiting at most
 * `timeoutMs` (default 5000) without blocking the event loop: true when everything was sent (or
 * telemetry is off), false when the time ran out. The process's exit does this too.
 */
export function flushTelemetry(timeoutMs?: number): Promise<boolean>;

export interface ClientOptions {
  /** A `liter-llm.toml` to read (with `${VAR}` interpolation), instead of `config`. */
  configFile?: string | null;
}

/**
 * A client with its own configuration, connection pool, rate limits, route state and caches;
 * any number of them can be used at once. The module-level functions run on the default client.
 *
 * ```js
 * await using client = new Client({ providers: { openai: { api_key: process.env.TENANT_KEY } } });
 * const r = await client.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi' });
 * ```
 */
export class Client implements AsyncDisposable, Disposable {
  /**
   * `config` is the JSON form of `liter-llm.toml` (what `configure()` takes); or pass
   * `{ configFile }`; not both. With neither, the default client's discovery (`LITER_LLM_CONFIG`,
   * else `./liter-llm.toml` when it exists). Throws a BadRequestError naming the offending key
   * or file.
   */
  constructor(config?: LiterLlmConfig | null, options?: ClientOptions);
  /** As the module-level `completion()`, on this client. */
  completion(params: StreamingCompletionParams): Promise<ChatCompletionStream>;
  completion(params: CompletionParams & { stream?: false | null }): Promise<ChatCompletion>;
  completion(params: CompletionParams): Promise<ChatCompletion | ChatCompletionStream>;
  /** As the module-level `embedding()`, on this client. */
  embedding(params: EmbeddingParams): Promise<EmbeddingResponse>;
  /** As the module-level `invoke()`, on this client. */
  invoke(provider: string | null | undefined, request: ChatRequest, options?: InvokeOptions): Promise<ChatCompletion>;
  /** As the module-level `invokeStream()`, on this client. */
  invokeStream(provider: string | null | undefined, request: ChatRequest, options?: InvokeOptions): Promise<ChatCompletionStream>;
  /** True once `close()` was called. */
  readonly closed: boolean;
  /**
   * Frees the client at once: its calls and streams in flight end with a CancelledError, later
   * calls reject with a BadRequestError. Resolves once each of them has ended. Idempotent.
   */
  close(): Promise<void>;
  /** `await using client = ...`: `await client.close()`. */
  [Symbol.asyncDispose](): Promise<void>;
  /** `using client = ...`: `client.close()`, without waiting for its calls to end. */
  [Symbol.dispose](): void;
}

export interface LimitSettings {
  rpm?: number;
  tpm?: number;
}

export interface ProviderSettings extends LimitSettings {
  api_key?: string;
  base_url?: string;
  timeout?: number;
  max_retries?: number;
  on_limit?: 'wait' | 'fail';
  models?: Record<string, LimitSettings>;
}

/** The JSON form of `liter-llm.toml` (docs/configuration.md). */
export interface LiterLlmConfig {
  defaults?: { timeout?: number; max_retries?: number; max_retry_wait?: number; on_limit?: 'wait' | 'fail' };
  pool?: { max_idle_per_host?: number; idle_timeout?: number };
  providers?: Record<string, ProviderSettings>;
  routes?: Record<string, { strategy?: 'fallback' | 'lowest_price' | 'round_robin'; models: string[] }>;
  /** USD per million tokens, by `provider/model`. */
  /** USD per million tokens by `provider/model` (docs/cost.md). */
  prices?: Record<string, { input: number; output: number; cached_input?: number; cache_write?: number }>;
}

/** The version of the loaded liter-llm library, such as '0.1.0'. */
export const version: string;

export type ErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'permission_denied'
  | 'not_found'
  | 'rate_limited'
  | 'timeout'
  | 'connection'
  | 'provider_unavailable'
  | 'bad_response'
  | 'unsupported'
  | 'cancelled'
  | 'internal';

/** The provider's own description of an error, when its body had one. */
export interface ProviderError {
  type?: string | null;
  message?: string | null;
  code?: string | number | null;
  [field: string]: unknown;
}

/** One model of a fallback chain that failed. */
export interface TriedModel {
  provider: string | null;
  model: string;
  kind: ErrorKind | (string & {});
  status: number | null;
  attempts: number;
}

/** The error object of the C ABI, as it came. */
export interface ErrorBody {
  kind: ErrorKind | (string & {});
  message: string;
  status?: number | null;
  provider?: string | null;
  retry_after?: number | null;
  provider_error?: ProviderError | null;
  attempts?: number;
  tried?: TriedModel[];
  [field: string]: unknown;
}

export interface LiterLlmErrorDetails {
  kind?: string;
  status?: number | null;
  provider?: string | null;
  retryAfter?: number | null;
  providerError?: ProviderError | null;
  attempts?: number;
  tried?: TriedModel[] | null;
  body?: ErrorBody | null;
  cause?: unknown;
}

/** Base of every error a failed call rejects with. */
export class LiterLlmError extends Error {
  /** The kind this class stands for. */
  static readonly kind: ErrorKind;
  constructor(message: string, details?: LiterLlmErrorDetails);
  /** Stable across versions and languages. */
  readonly kind: ErrorKind | (string & {});
  /** The upstream HTTP status, or null when no response was received. */
  readonly status: number | null;
  /** The adapter that handled the call, or null when none was chosen. */
  readonly provider: string | null;
  /** Seconds to wait before retrying, from `retry-after-ms` or `Retry-After`. */
  readonly retryAfter: number | null;
  readonly providerError: ProviderError | null;
  /** HTTP attempts the call made, retries and fallbacks included (0 when it failed before sending). */
  readonly attempts: number;
  /** For a call whose fallbacks all failed: every model tried, in order; else null. */
  readonly tried: TriedModel[] | null;
  /** The whole error object. */
  readonly body: ErrorBody;
}

/** The request is malformed (caught locally, or HTTP 400, 409, 413, 422 and other 4xx). */
export class BadRequestError extends LiterLlmError {}
/** No key is configured, or the provider rejected it (HTTP 401). */
export class AuthenticationError extends LiterLlmError {}
/** The key may not do this (HTTP 402, 403). */
export class PermissionDeniedError extends LiterLlmError {}
/** The model or endpoint does not exist (HTTP 404). */
export class NotFoundError extends LiterLlmError {}
/** The provider asked to slow down (HTTP 429); see `retryAfter`. */
export class RateLimitError extends LiterLlmError {}
/** The provider could not be reached or the connection broke. */
export class APIConnectionError extends LiterLlmError {}
/** The call's `timeout` passed (or HTTP 408). */
export class Timeout extends APIConnectionError {}
export { Timeout as APITimeoutError };
/** The provider failed or is overloaded (HTTP 5xx, Anthropic's 529). */
export class ServiceUnavailableError extends LiterLlmError {}
/** The provider answered with bytes that are not the documented JSON. */
export class BadResponseError extends LiterLlmError {}
/** An unknown provider, or a feature this version does not support. */
export class UnsupportedProviderError extends LiterLlmError {}
/** A bug in liter-llm. */
export class InternalError extends LiterLlmError {}
/** The library ended the call before its answer: its Client was closed, or it was cancelled from elsewhere. */
export class CancelledError extends LiterLlmError {}
/** The call's own AbortSignal aborted; `cause` is the signal's reason. */
export class AbortError extends CancelledError {
  readonly code: 'ABORT_ERR';
}
