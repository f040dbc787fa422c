// Type-checked with `tsc -p test/types` (never run): the declarations accept what the API
// accepts, give the fields users read their types, and reject obvious mistakes.
import liter = require('liter-llm');
import {
  completion,
  embedding,
  configure,
  invoke,
  invokeStream,
  version,
  APIConnectionError,
  APITimeoutError,
  AbortError,
  CancelledError,
  Client,
  LiterLlmError,
  RateLimitError,
  Timeout,
  streamChunkBuilder,
  ChatCompletionStream,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatMessage,
  type EmbeddingResponse,
  type ErrorKind,
  type ToolCall,
} from 'liter-llm';

async function embeddings(): Promise<void> {
  const e: EmbeddingResponse = await embedding({ model: 'mock/e', input: ['a', 'b'], dimensions: 4, encoding_format: 'base64' });
  const first: number[] | string | undefined = e.data[0]?.embedding;
  const index: number | undefined = e.data[0]?.index;
  const tokens: number = e.usage.prompt_tokens;
  void [first, index, tokens];
  await new Client({}).embedding({ model: 'mock/e', input: 'x' });
  // @ts-expect-error encoding_format is float or base64
  await embedding({ model: 'mock/e', input: 'x', encoding_format: 'int8' });
}
void embeddings;

async function main(): Promise<void> {
  const controller = new AbortController();
  const messages: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: '42' },
  ];
  const r: ChatCompletion = await completion({
    model: 'mock/demo',
    messages,
    max_tokens: 5,
    temperature: 0.2,
    stop: ['\n'],
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    tool_choice: { type: 'function', function: { name: 'f' } },
    response_format: { type: 'json_object' },
    mock_response: 'ok',
    timeout: 30,
    top_k: 5, // a provider's own field passes through
    signal: controller.signal,
  });
  const content: string | null | undefined = r.choices[0]?.message.content;
  const calls: ToolCall[] | undefined = r.choices[0]?.message.tool_calls;
  const total: number | undefined = r.usage?.total_tokens;
  const finish = r.choices[0]?.finish_reason;
  if (finish === 'tool_calls' && calls) console.log(calls[0]?.function.arguments);
  console.log(content, total, version);

  console.log(r.liter_llm?.attempts, r.liter_llm?.model);
  const cost: number | null | undefined = r.liter_llm?.cost_usd;
  const reasoning: string | undefined = r.choices[0]?.message.reasoning_content;
  console.log(cost, reasoning, r.usage?.cache_creation_input_tokens);
  configure({
    defaults: { timeout: 60, max_retries: 2, on_limit: 'wait' },
    providers: { openai: { api_key: 'sk-x', rpm: 500, models: { 'gpt-4o': { tpm: 30000 } } } },
    routes: { chat: { strategy: 'lowest_price', models: ['openai/gpt-4o-mini'] } },
    prices: { 'openai/gpt-4o-mini': { input: 0.15, output: 0.6, cached_input: 0.075 } },
  });
  // @ts-expect-error: an unknown strategy
  configure({ routes: { chat: { strategy: 'random', models: [] } } });
  await completion({ model: 'mock/m', prompt: 'Hi', max_retries: 3, fallbacks: ['anthropic/claude-sonnet-4-5'] });

  const raw = await invoke(null, { model: 'mock/m', prompt: 'Hi' }, { signal: AbortSignal.timeout(1000) });
  console.log(raw.id);
  await invoke('mock', { model: 'm', prompt: 'Hi' });
  for await (const chunk of await invokeStream('mock', { model: 'm', prompt: 'Hi' }, { signal: AbortSignal.timeout(1000) })) {
    const delta: string | null | undefined = chunk.choices[0]?.delta.content;
    console.log(delta);
  }
  await liter.completion({ model: 'mock/m', prompt: 'Hi', provider: 'mock' });

  try {
    await completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi' });
  } catch (err) {
    if (err instanceof RateLimitError) {
      const wait: number = err.retryAfter ?? 1;
      const status: number | null = err.status;
      console.log(wait, status, err.providerError?.type, err.body.message);
    }
    if (err instanceof Timeout) {
      const connection: APIConnectionError = err;
      const alias: APITimeoutError = err;
      console.log(connection.kind, alias.message);
    }
    if (err instanceof AbortError) {
      const code: 'ABORT_ERR' = err.code;
      console.log(code, err.cause);
    }
    if (err instanceof LiterLlmError) {
      const kind: ErrorKind | (string & {}) = err.kind;
      const attempts: number = err.attempts;
      console.log(kind, err.provider, attempts, err.tried?.[0]?.model);
    }
  }

  const stream: ChatCompletionStream = await completion({ model: 'mock/m', prompt: 'Hi', stream: true, signal: controller.signal });
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    const delta: string | null | undefined = chunk.choices[0]?.delta.content;
    console.log(delta, chunk.usage?.total_tokens);
    chunks.push(chunk);
  }
  await stream.close();
  const assembled: ChatCompletion = streamChunkBuilder(chunks);
  console.log(assembled.choices[0]?.message.content);
  const rawStream: ChatCompletionStream = await completion({ model: 'mock/m', prompt: 'Hi', stream: true });
  const step = await rawStream.next();
  if (!step.done) console.log(step.value.object);
  const plain: ChatCompletion = await completion({ model: 'mock/m', prompt: 'Hi', stream: false });
  console.log(plain.id);
  const either = await completion({ model: 'mock/m', prompt: 'Hi', stream: Math.random() > 0.5 });
  if (!(either instanceof ChatCompletionStream)) console.log(either.id);
  // @ts-expect-error: a stream is not a completion
  const wrong: ChatCompletion = await completion({ model: 'mock/m', prompt: 'Hi', stream: true });
  console.log(wrong);
  // @ts-expect-error: streams are made by completion()
  new ChatCompletionStream();

  // @ts-expect-error: model is required
  await completion({ messages });
  // @ts-expect-error: a message needs a role the API knows
  await completion({ model: 'm', messages: [{ role: 'robot', content: 'x' }] });
  // @ts-expect-error: the provider is a string
  await invoke(42, { model: 'm' });
  // @ts-expect-error: signal is an AbortSignal
  await invoke('mock', { model: 'm' }, { signal: 'stop' });
  // @ts-expect-error: max_tokens is a number
  await completion({ model: 'm', prompt: 'x', max_tokens: '5' });
}

async function clients(): Promise<void> {
  await using client = new Client({ providers: { openai: { api_key: 'sk-tenant-a', base_url: 'http://127.0.0.1:9' } } });
  const r: ChatCompletion = await client.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi' });
  const raw: ChatCompletion = await client.invoke('openai', { model: 'gpt-4o-mini', prompt: 'Hi' }, { signal: AbortSignal.timeout(1000) });
  const stream: ChatCompletionStream = await client.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', stream: true });
  for await (const chunk of stream) console.log(chunk.choices[0]?.delta.content);
  await using rawStream = await client.invokeStream(null, { model: 'mock/m', prompt: 'Hi' });
  console.log(r.id, raw.id, await rawStream.next());
  using fromFile = new Client(null, { configFile: 'liter-llm.toml' });
  const discovered = new Client();
  const closed: boolean = discovered.closed;
  const done: Promise<void> = discovered.close();
  await done;
  console.log(fromFile.closed, closed);
  try {
    await discovered.completion({ model: 'mock/m', prompt: 'Hi' });
  } catch (err) {
    if (err instanceof AbortError) {
      const cancelled: CancelledError = err;
      console.log(cancelled.kind);
    } else if (err instanceof CancelledError) {
      console.log(err.message);
    }
  }
  // @ts-expect-error: a config file is passed as { configFile }
  new Client('liter-llm.toml');
  // @ts-expect-error: configFile is a path
  new Client(null, { configFile: 5 });
  // @ts-expect-error: the configuration's shape is checked
  new Client({ routes: { chat: { strategy: 'random', models: [] } } });
}

void main;
void clients;
