// The official openai npm package against the gateway: completions, streams, embeddings (the
// package's default base64 and floats), and its own error classes for the gateway's 401, 429 and
// 400.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const KEY = "sk-gw-sdk-0123456789abcdef";
const processes = [];

async function start(argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  processes.push(child);
  const lines = createInterface({ input: child.stdout });
  const [line] = await once(lines, "line");
  assert.match(line, /^listening on /);
  return line.replace("listening on ", "");
}

function completion(content) {
  return {
    status: 200,
    json: {
      id: "chatcmpl-1", object: "chat.completion", created: 1, model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    },
  };
}

function stream(parts) {
  const chunk = (delta, finish) => ({
    id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini",
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const events = [chunk({ role: "assistant", content: "" }, null), ...parts.map((p) => chunk({ content: p }, null)),
    chunk({}, "stop")];
  const chunks = events.map((e) => ({ data: `data: ${JSON.stringify(e)}\n\n` }));
  chunks.push({ data: "data: [DONE]\n\n" });
  return { status: 200, headers: { "content-type": "text/event-stream" }, chunks };
}

const VECTORS = [[0.5, -1.0, 0.25], [1.0, 2.0, 3.0]];
const embeddings = {
  status: 200,
  json: {
    object: "list", model: "text-embedding-3-small", usage: { prompt_tokens: 6, total_tokens: 6 },
    data: VECTORS.map((embedding, index) => ({ object: "embedding", index, embedding })),
  },
};

let gateway;
let embeddingGateway;
let mockUrl;

before(async () => {
  const mock = await start([process.env.LITER_LLM_MOCK_UPSTREAM, "--exit-on-stdin-eof"]);
  mockUrl = mock;
  const script = { responses: [completion("hello from the mock"), stream(["Hel", "lo"]), completion("third")], repeat_last: true };
  const put = await fetch(`${mock}/__mock/sessions/node-sdk`, {
    method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(script),
  });
  assert.equal(put.status, 204);
  const dir = mkdtempSync(join(tmpdir(), "liter-llm-sdk-"));
  const config = join(dir, "liter-llm.toml");
  writeFileSync(config, `[providers.openai]\napi_key = "sk-upstream-sdk"\nbase_url = "${mock}/s/node-sdk"\nmax_retries = 0\n\n`
    + `[server]\nlisten = "127.0.0.1:0"\nshutdown_grace = 0\n\n[[server.keys]]\nname = "sdk"\nkey = "${KEY}"\nrpm = 3\n`);
  gateway = await start([process.env.LITER_LLM_GATEWAY, "serve", "--config", config]);
  const put2 = await fetch(`${mock}/__mock/sessions/node-sdk-embeddings`, {
    method: "PUT", headers: { "content-type": "application/json" },
    body: JSON.stringify({ responses: [embeddings], repeat_last: true }),
  });
  assert.equal(put2.status, 204);
  const config2 = join(dir, "embeddings.toml");
  writeFileSync(config2, `[providers.openai]\napi_key = "sk-upstream-sdk"\nbase_url = "${mock}/s/node-sdk-embeddings"\n`
    + `max_retries = 0\n\n[server]\nlisten = "127.0.0.1:0"\nshutdown_grace = 0\n\n[[server.keys]]\nname = "sdk"\nkey = "${KEY}"\n`);
  embeddingGateway = await start([process.env.LITER_LLM_GATEWAY, "serve", "--config", config2]);
});

after(() => {
  for (const child of processes.reverse()) child.kill("SIGKILL");
});

const client = (key = KEY) => new OpenAI({ apiKey: key, baseURL: `${gateway}/v1`, maxRetries: 0, timeout: 20000 });
const messages = [{ role: "user", content: "hi" }];

test("completions, streams and the SDK's own errors", async () => {
  const answer = await client().chat.completions.create({ model: "openai/gpt-4o-mini", messages });
  assert.equal(answer.choices[0].message.content, "hello from the mock");

  const events = await client().chat.completions.create({ model: "openai/gpt-4o-mini", messages, stream: true });
  let text = "";
  for await (const chunk of events) text += chunk.choices[0]?.delta?.content ?? "";
  assert.equal(text, "Hello");

  await assert.rejects(client("sk-gw-wrong-0000000000").chat.completions.create({ model: "openai/gpt-4o-mini", messages }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && !String(e.message).includes("sk-gw"));
  await assert.rejects(client().chat.completions.create({ model: "openai/gpt-4o-mini", messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /messages/.test(e.message));
  // The key's rpm of 3: two calls above and this one; the next is refused.
  await client().chat.completions.create({ model: "openai/gpt-4o-mini", messages });
  await assert.rejects(client().chat.completions.create({ model: "openai/gpt-4o-mini", messages }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && Number(e.headers["retry-after"]) >= 1);
});

test("embeddings as base64 (the package's default) and as floats", async () => {
  const c = new OpenAI({ apiKey: KEY, baseURL: `${embeddingGateway}/v1`, maxRetries: 0, timeout: 20000 });
  const model = "openai/text-embedding-3-small";
  const byDefault = await c.embeddings.create({ model, input: ["a", "b"] });
  assert.deepEqual(byDefault.data.map((d) => d.embedding), VECTORS);
  assert.equal(byDefault.usage.prompt_tokens, 6);
  const journal = await (await fetch(`${mockUrl}/__mock/sessions/node-sdk-embeddings/requests`)).json();
  assert.equal(journal.requests[0].json.encoding_format, "base64", "the package's default reached the provider");
  const floats = await c.embeddings.create({ model, input: ["a", "b"], encoding_format: "float" });
  assert.deepEqual(floats.data.map((d) => d.embedding), VECTORS);
  const base64 = await c.embeddings.create({ model, input: ["a", "b"], encoding_format: "base64" });
  assert.equal(base64.data[0].embedding, "AAAAPwAAgL8AAIA+");
  await assert.rejects(c.embeddings.create({ model, input: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /input/.test(e.message));
});
