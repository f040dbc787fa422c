// The ES module face: named and default imports carry the same types.
import liter, { completion, BadRequestError, type ChatCompletion } from 'liter-llm';

const r: ChatCompletion = await completion({ model: 'mock/demo', prompt: 'Hi' });
const same: ChatCompletion = await liter.completion({ model: 'mock/demo', prompt: 'Hi' });
console.log(r.choices[0]?.message.content, same.id, new BadRequestError('x').kind, liter.version);
