"""The install test's Python program: the quickstart against the built-in mock provider, then one
call through the OpenAI provider to the mock upstream (OPENAI_BASE_URL names a scripted session).
Uses only the installed package; prints what it got, the harness checks it."""

import liter_llm

quick = liter_llm.completion(model="mock/demo", messages=[{"role": "user", "content": "What is liter-llm?"}])
print(f"quickstart: {quick.choices[0].message.content}")

upstream = liter_llm.completion(model="openai/gpt-4o-mini", prompt="Say hi")
print(f"upstream: {upstream.choices[0].message.content} ({upstream.usage.total_tokens} tokens)")
# Where the library was really mapped from (under qemu, /proc/self/maps is the guest's view).
with open("/proc/self/maps") as maps:
    print("library:", next(line.split()[-1] for line in maps if "libliter_llm" in line))
