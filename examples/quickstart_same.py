"""The quickstart in Python, printed in the form the Node and Go quickstarts use (make demo)."""

import liter_llm

response = liter_llm.completion(
    model="mock/demo",
    messages=[
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "What is liter-llm?"},
    ],
    max_tokens=100,
)
usage = response.usage.total_tokens if response.usage else 0
print(f"python: {response.choices[0].message.content} ({usage} tokens)")
