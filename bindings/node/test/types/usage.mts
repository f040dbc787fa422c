// The ES module face: named and default imports carry the same types.
import liter, { Client, completion, streamChunkBuilder, BadRequestError, type ChatCompletion, type ChatCompletionChunk } from 'liter-llm';

const r: ChatCompletion = await completion({ model: 'mock/demo', prompt: 'Hi' });
const same: ChatCompletion = await liter.completion({ model: 'mock/demo', prompt: 'Hi' });
console.log(r.choices[0]?.message.content, same.id, new BadRequestError('x').kind, liter.version);

const chunks: ChatCompletionChunk[] = [];
for await (const chunk of await completion({ model: 'mock/demo', prompt: 'Hi', stream: true })) chunks.push(chunk);
const whole: ChatCompletion = streamChunkBuilder(chunks);
console.log(whole.choices[0]?.message.content);

await using client = new Client({ defaults: { max_retries: 0 } });
const viaClient: ChatCompletion = await client.completion({ model: 'mock/demo', prompt: 'Hi' });
console.log(viaClient.id, new liter.Client() instanceof Client);
