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

/** The request fields that send a call to a mock upstream session as the `openai` provider. */
function viaSession(session) {
  return { api_key: 'sk-test-key', base_url: session.baseUrl };
}

module.exports = { openaiCompletion, viaSession };
