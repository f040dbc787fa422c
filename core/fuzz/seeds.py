#!/usr/bin/env python3
"""Writes the seed corpora (corpus/<target>/, checked in) from what the project already holds:
the conformance cases' requests and scripted upstream answers, the documented configuration
examples, Retry-After values and stored cache values. Run it again after adding cases or a
provider target; files are named by the SHA-1 of their content, as libFuzzer names its own."""

import hashlib
import json
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TARGETS = sorted(p.stem for p in (HERE / "src" / "bin").glob("*.rs"))
seeds: dict[str, set[bytes]] = {t: set() for t in TARGETS}


def add(target: str, data: bytes) -> None:
    if target in seeds and data:
        seeds[target].add(data)


for path in sorted((ROOT / "conformance" / "cases").rglob("*.json")):
    case = json.loads(path.read_text())
    provider = f"provider_{case.get('provider', '')}"
    if isinstance(case.get("request"), (dict, list, str)):
        add("request", json.dumps(case["request"]).encode())
    for response in case.get("upstream", {}).get("responses", []):
        if "json" in response:
            add(provider, json.dumps(response["json"]).encode())
        if "body" in response:
            add(provider, response["body"].encode())
        if "chunks" in response:
            stream = b"".join(c.get("data", "").encode() for c in response["chunks"])
            add(provider, stream)
            add("sse", b"\x05" + stream)
        for name, value in response.get("headers", {}).items():
            if name.lower() == "retry-after":
                add("retry_after", value.encode())
            if name.lower() == "retry-after-ms":
                add("retry_after", value.encode() + b"\x00")

for doc in sorted((ROOT / "docs").glob("*.md")):
    for block in re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S):
        add("config", block.encode())
add("config", b'{"defaults": {"timeout": 30, "max_retries": 2}, "providers": {"openai": {"api_key": "sk-x"}}}')

for value in [b"0", b"1.5", b"120", b"Wed, 21 Oct 2015 07:28:00 GMT", b"250\x00", b"1e3\x003"]:
    add("retry_after", value)

KEY = "07" * 32
response = {
    "id": "x",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
}
chunk = {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
add("cache_value", json.dumps({"v": 1, "key": KEY, "response": response}).encode())
add("cache_value", json.dumps({"v": 1, "key": KEY, "chunks": [chunk, chunk]}).encode())

for target, items in seeds.items():
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    for data in items:
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print(f"{target}: {len(items)} seeds")
