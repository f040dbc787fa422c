// The quickstart in Node: the same call as examples/quickstart.py, the same answer.
const { completion } = require('../bindings/node');

async function main() {
  const response = await completion({
    model: 'mock/demo',
    messages: [
      { role: 'system', content: 'You answer in one short sentence.' },
      { role: 'user', content: 'What is liter-llm?' },
    ],
    max_tokens: 100,
  });
  console.log(`node:   ${response.choices[0].message.content} (${response.usage.total_tokens} tokens)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
