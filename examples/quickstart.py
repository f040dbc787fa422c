"""The README quickstart: one call through liter_llm.

With no key set it uses the built-in `mock` provider (no network). Set OPENAI_API_KEY,
ANTHROPIC_API_KEY or CO_API_KEY to call that provider instead.
"""

import os

import liter_llm

if os.environ.get("OPENAI_API_KEY"):
    model = "openai/gpt-4o-mini"
elif os.environ.get("ANTHROPIC_API_KEY"):
    model = "anthropic/claude-sonnet-4-5"
elif os.environ.get("CO_API_KEY") or os.environ.get("COHERE_API_KEY"):
    model = "cohere/command-r-plus"
else:
    model = "mock/demo"

response = liter_llm.completion(
    model=model,
    messages=[
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "What is liter-llm?"},
    ],
    max_tokens=100,
)
print(f"model:  {response.model}")
print(f"answer: {response.choices[0].message.content}")
print(f"tokens: {response.usage.total_tokens if response.usage else 'n/a'}")

try:
    liter_llm.completion(model="nope/model", prompt="hi")
except liter_llm.UnsupportedProviderError as e:
    print(f"error:  {e.kind}: {e.message}")
