'use strict';

/** An OpenAI chat.completion body, as an upstream would send it. */
function openaiCompletion(content, extra = {}) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1700000000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    ...extra,
  };
}

/** One server-sent event carrying `object` as its data. */
function sse(object) {
  return `data: ${JSON.stringify(object)}\n\n`;
}

/** An OpenAI `chat.completion.chunk` with one choice. */
function openaiChunk(delta, finishReason = null) {
  return {
    id: 'chatcmpl-stream',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

/** The scripted chunks of an OpenAI stream of `words`, each after the first `delayMs` late, then stop and [DONE]. */
function openaiStream(words, delayMs = 0) {
  return [
    ...words.map((word, i) => ({ data: sse(openaiChunk({ content: word })), delay_ms: i === 0 ? 0 : delayMs })),
    { data: sse(openaiChunk({}, 'stop')) },
    { data: 'data: [DONE]\n\n' },
  ];
}

/** The request fields that send a call to a mock upstream session as the `openai` provider. */
function viaSession(session) {
  return { api_key: 'sk-test-key', base_url: session.baseUrl };
}

module.exports = { openaiCompletion, openaiChunk, openaiStream, sse, viaSession };
