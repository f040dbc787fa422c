// The install test's Node program: the quickstart against the built-in mock provider, then one
// call through the OpenAI provider to the mock upstream (OPENAI_BASE_URL names a scripted session).
const { completion } = require('liter-llm');
const fs = require('node:fs');

async function main() {
  const quick = await completion({ model: 'mock/demo', messages: [{ role: 'user', content: 'What is liter-llm?' }] });
  console.log(`quickstart: ${quick.choices[0].message.content}`);
  const upstream = await completion({ model: 'openai/gpt-4o-mini', prompt: 'Say hi' });
  console.log(`upstream: ${upstream.choices[0].message.content} (${upstream.usage.total_tokens} tokens)`);
  // Where the library was really mapped from.
  const mapped = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find((line) => line.includes('libliter_llm'));
  console.log(`library: ${mapped.trim().split(/\s+/).pop()}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
