'use strict';

// Runs the README snippets as a user would paste them, so the READMEs cannot drift from the API:
// the Quickstart and Clients sections of this package's README.md, and every ```js block of the
// repository's README.md.
// A `console.log(...); // text` line must print `text`. Provider keys and base URLs are removed
// from the environment, so a snippet naming a real provider fails before any network use.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const REPO_README = path.resolve(PACKAGE_ROOT, '..', '..', 'README.md');
const PROVIDER_VARIABLES = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_BASE_URL',
  'CO_API_KEY',
  'COHERE_API_KEY',
  'CO_API_URL',
  'COHERE_BASE_URL',
];

function jsBlocks(markdown) {
  return [...markdown.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
}

function run(code) {
  const isModule = /^(import|export)\s/m.test(code);
  const args = isModule ? ['--input-type=module', '-e', code] : ['-e', code];
  const env = { ...process.env };
  for (const name of PROVIDER_VARIABLES) delete env[name];
  return new Promise((resolve, reject) => {
    // Runs from the package root, where `liter-llm` resolves to this package.
    execFile(process.execPath, args, { cwd: PACKAGE_ROOT, env, timeout: 30000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`the snippet failed: ${error.message}\n${stderr}\n${code}`));
      else resolve(stdout);
    });
  });
}

async function checkSnippet(code) {
  const stdout = await run(code);
  assert.notEqual(stdout.trim(), '', `the snippet printed nothing:\n${code}`);
  const expected = [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.+)$/gm)].map((m) => m[1].trim());
  for (const text of expected) assert.ok(stdout.includes(text), `expected ${JSON.stringify(text)} in:\n${stdout}`);
}

test('the package README quickstart snippets run and print what they say', async () => {
  const readme = fs.readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const section = /^## Quickstart\n([\s\S]*?)(?=^## )/m.exec(readme);
  assert.ok(section, 'README.md has a "## Quickstart" section');
  const snippets = jsBlocks(section[1]);
  assert.ok(snippets.length >= 2, 'a CommonJS and an ES module snippet');
  for (const code of snippets) {
    assert.match(code, /model: 'mock\//, 'quickstart snippets use the mock provider, which needs no key');
    await checkSnippet(code);
  }
});

test('the package README Clients snippet runs and prints what it says', async () => {
  const readme = fs.readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const section = /^### Clients\n([\s\S]*?)(?=^##)/m.exec(readme);
  assert.ok(section, 'README.md has a "### Clients" section');
  const snippets = jsBlocks(section[1]);
  assert.equal(snippets.length, 1);
  assert.match(snippets[0], /new Client\(/);
  await checkSnippet(snippets[0]);
});

test("the repository README's Node snippets run", async () => {
  for (const code of jsBlocks(fs.readFileSync(REPO_README, 'utf8'))) await checkSnippet(code);
});
