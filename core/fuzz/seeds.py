#!/usr/bin/env python3
"""Writes the seed corpora (corpus/<target>/, checked in) from what the project already holds:
the conformance cases' requests and scripted upstream answers, the documented configuration
examples, Retry-After values and stored cache values. Run it again after adding cases or a
provider target; files are named by the SHA-1 of their content, as libFuzzer names its own."""

import hashlib
import json
import pathlib
import re
import zlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TARGETS = sorted(p.stem for p in (HERE / "src" / "bin").glob("*.rs"))
seeds: dict[str, set[bytes]] = {t: set() for t in TARGETS}


def add(target: str, data: bytes) -> None:
    if target in seeds and data:
        seeds[target].add(data)


for path in sorted((ROOT / "conformance" / "cases").rglob("*.json")):
    case = json.loads(path.read_text())
    # The case's provider, else the one its model names (`gemini/...`).
    model = case.get("request", {}).get("model", "") if isinstance(case.get("request"), dict) else ""
    named = model.split("/", 1)[0] if isinstance(model, str) and "/" in model else ""
    provider = f"provider_{case.get('provider') or named}"
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


def event_frame(headers: dict[str, str], payload: dict) -> bytes:
    """One AWS event-stream frame: prelude (total and headers lengths, CRC), string headers
    (type 7), the payload and the message CRC."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + len(value.encode()).to_bytes(2, "big") + value.encode()
        for name, value in headers.items()
    )
    body = json.dumps(payload).encode()
    total = 12 + len(encoded) + len(body) + 4
    prelude = total.to_bytes(4, "big") + len(encoded).to_bytes(4, "big")
    prelude += zlib.crc32(prelude).to_bytes(4, "big")
    message = prelude + encoded + body
    return message + zlib.crc32(message).to_bytes(4, "big")


def converse_event(name: str, payload: dict) -> bytes:
    return event_frame({":event-type": name, ":content-type": "application/json", ":message-type": "event"}, payload)


# ConverseStream answers as the API reference shows them: text, a tool call, reasoning, an
# exception frame, and a truncated answer.
converse = [
    converse_event("messageStart", {"role": "assistant"}),
    converse_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
    converse_event("contentBlockStop", {"contentBlockIndex": 0}),
    converse_event(
        "contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}
    ),
    converse_event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a": 1}'}}}),
    converse_event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"reasoningContent": {"text": "Hmm"}}}),
    converse_event("messageStop", {"stopReason": "tool_use"}),
    converse_event("metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}}),
]
throttled = event_frame(
    {":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"},
    {"message": "Too many requests"},
)
for split in (b"\x00", b"\x07"):
    add("bedrock_eventstream", split + b"".join(converse))
    add("bedrock_eventstream", split + b"".join(converse[:2]) + throttled)
    add("bedrock_eventstream", split + b"".join(converse)[:-9])

for target, items in seeds.items():
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    for data in items:
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print(f"{target}: {len(items)} seeds")
