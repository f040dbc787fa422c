"""OpenAI-shaped responses whose fields read as attributes and as keys."""

from __future__ import annotations

import json
from typing import Any, Optional, Union


class Record(dict):  # type: ignore[type-arg]
    """A JSON object: a dict whose keys also read as attributes (``r.usage`` is ``r["usage"]``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None
        return _adopt(self, name, value)

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """A plain-dict copy of the object, nested objects included, as the OpenAI SDK's
        pydantic models give it; ``exclude_none`` leaves out fields whose value is None."""
        return _plain(self, exclude_none)  # type: ignore[no-any-return]

    def model_dump_json(self, *, indent: Optional[int] = None, exclude_none: bool = False) -> str:
        """The object as JSON text (compact unless ``indent``), as pydantic's ``model_dump_json``."""
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(_plain(self, exclude_none), indent=indent, separators=separators, ensure_ascii=False)


def _plain(value: Any, exclude_none: bool) -> Any:
    """`value` with every dict and list copied as a plain one."""
    if isinstance(value, dict):
        return {k: _plain(v, exclude_none) for k, v in value.items() if not (exclude_none and v is None)}
    if isinstance(value, list):
        return [_plain(v, exclude_none) for v in value]
    return value


def _adopt(owner: dict[str, Any], key: str, value: Any) -> Any:
    """Makes nested objects Records on first access, in place, so later reads and writes see
    the same objects. Responses are parsed into plain dicts (fast); only what is read is wrapped."""
    if type(value) is dict:
        value = owner[key] = Record(value)
    elif type(value) is list:
        for i, item in enumerate(value):
            if type(item) is dict:
                value[i] = Record(item)
    return value


class Function(Record):
    __slots__ = ()

    @property
    def name(self) -> str:
        return self["name"]  # type: ignore[no-any-return]

    @property
    def arguments(self) -> str:
        """The arguments as JSON text, as the model wrote them."""
        return self["arguments"]  # type: ignore[no-any-return]


class ToolCall(Record):
    __slots__ = ()

    @property
    def id(self) -> str:
        return self["id"]  # type: ignore[no-any-return]

    @property
    def type(self) -> str:
        return self.get("type", "function")  # type: ignore[no-any-return]

    @property
    def function(self) -> Function:
        return self["function"]  # type: ignore[no-any-return]


class Message(Record):
    __slots__ = ()

    @property
    def role(self) -> str:
        return self.get("role", "assistant")  # type: ignore[no-any-return]

    @property
    def content(self) -> Optional[str]:
        return self.get("content")

    @property
    def tool_calls(self) -> Optional[list[ToolCall]]:
        return self.get("tool_calls")

    @property
    def reasoning_content(self) -> Optional[str]:
        """The model's reasoning (Anthropic's thinking), where the provider returns it."""
        return self.get("reasoning_content")


class Choice(Record):
    __slots__ = ()

    @property
    def index(self) -> int:
        return self.get("index", 0)  # type: ignore[no-any-return]

    @property
    def message(self) -> Message:
        return self["message"]  # type: ignore[no-any-return]

    @property
    def finish_reason(self) -> Optional[str]:
        return self.get("finish_reason")


class Usage(Record):
    __slots__ = ()

    @property
    def prompt_tokens(self) -> int:
        return self.get("prompt_tokens", 0)  # type: ignore[no-any-return]

    @property
    def completion_tokens(self) -> int:
        return self.get("completion_tokens", 0)  # type: ignore[no-any-return]

    @property
    def total_tokens(self) -> int:
        return self.get("total_tokens", 0)  # type: ignore[no-any-return]


class ChatCompletion(Record):
    """An OpenAI ``chat.completion``, whichever provider served it."""

    __slots__ = ()

    @property
    def id(self) -> str:
        return self["id"]  # type: ignore[no-any-return]

    @property
    def object(self) -> str:
        return self.get("object", "chat.completion")  # type: ignore[no-any-return]

    @property
    def created(self) -> int:
        return self.get("created", 0)  # type: ignore[no-any-return]

    @property
    def model(self) -> str:
        return self["model"]  # type: ignore[no-any-return]

    @property
    def choices(self) -> list[Choice]:
        return self["choices"]  # type: ignore[no-any-return]

    @property
    def usage(self) -> Optional[Usage]:
        return self.get("usage")


def _typed(owner: Any, key: Any, cls: type[Record]) -> Any:
    """Replaces owner[key] with an instance of `cls` when it is a JSON object."""
    try:
        value = owner[key]
    except (KeyError, IndexError, TypeError):
        return None
    if isinstance(value, dict) and type(value) is not cls:
        value = owner[key] = cls(value)
    return value


def as_completion(data: dict[str, Any]) -> ChatCompletion:
    """A parsed response with its known parts in their typed classes.

    Written out for the usual shape (choices holding a message), as `_typed` would do each
    step: this runs once per call."""
    completion = ChatCompletion(data)
    choices = completion.get("choices")
    if isinstance(choices, list):
        for i, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            if type(choice) is not Choice:
                choice = choices[i] = Choice(choice)
            message = choice.get("message")
            if not isinstance(message, dict):
                continue
            if type(message) is not Message:
                message = choice["message"] = Message(message)
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                for j in range(len(calls)):
                    call = _typed(calls, j, ToolCall)
                    if call is not None:
                        _typed(call, "function", Function)
    usage = completion.get("usage")
    if isinstance(usage, dict) and type(usage) is not Usage:
        completion["usage"] = Usage(usage)
    return completion


class Delta(Record):
    """What one chunk adds to the message."""

    __slots__ = ()

    @property
    def role(self) -> Optional[str]:
        return self.get("role")

    @property
    def content(self) -> Optional[str]:
        return self.get("content")

    @property
    def tool_calls(self) -> Optional[list[Record]]:
        return self.get("tool_calls")

    @property
    def reasoning_content(self) -> Optional[str]:
        """A piece of the model's reasoning, where the provider streams it."""
        return self.get("reasoning_content")


class ChunkChoice(Record):
    __slots__ = ()

    @property
    def index(self) -> int:
        return self.get("index", 0)  # type: ignore[no-any-return]

    @property
    def delta(self) -> Delta:
        return self["delta"]  # type: ignore[no-any-return]

    @property
    def finish_reason(self) -> Optional[str]:
        return self.get("finish_reason")


class ChatCompletionChunk(Record):
    """An OpenAI ``chat.completion.chunk``; the last one of a stream has ``choices == []`` and
    the ``usage``."""

    __slots__ = ()

    @property
    def id(self) -> str:
        return self.get("id", "")  # type: ignore[no-any-return]

    @property
    def model(self) -> str:
        return self.get("model", "")  # type: ignore[no-any-return]

    @property
    def choices(self) -> list[ChunkChoice]:
        return self.get("choices", [])  # type: ignore[no-any-return]

    @property
    def usage(self) -> Optional[Usage]:
        return self.get("usage")


def as_chunk(data: dict[str, Any]) -> ChatCompletionChunk:
    """A parsed chunk with its known parts in their typed classes."""
    chunk = ChatCompletionChunk(data)
    choices = chunk.get("choices")
    if isinstance(choices, list):
        for i in range(len(choices)):
            choice = _typed(choices, i, ChunkChoice)
            if choice is not None:
                _typed(choice, "delta", Delta)
    _typed(chunk, "usage", Usage)
    return chunk


class Embedding(Record):
    """One vector of an :class:`EmbeddingResponse`: a list of floats, or base64 text when the
    call asked for ``encoding_format="base64"``."""

    __slots__ = ()

    @property
    def index(self) -> int:
        return self["index"]  # type: ignore[no-any-return]

    @property
    def embedding(self) -> Union[list[float], str]:
        return self["embedding"]  # type: ignore[no-any-return]


class EmbeddingResponse(Record):
    """OpenAI's embedding list, whatever the provider: ``data`` in input order, ``model``, ``usage``."""

    __slots__ = ()

    @property
    def object(self) -> str:
        return self.get("object", "list")  # type: ignore[no-any-return]

    @property
    def data(self) -> list[Embedding]:
        return self["data"]  # type: ignore[no-any-return]

    @property
    def model(self) -> str:
        return self["model"]  # type: ignore[no-any-return]

    @property
    def usage(self) -> Optional[Usage]:
        return self.get("usage")


def as_embedding_response(data: dict[str, Any]) -> EmbeddingResponse:
    """A parsed embedding response with its items and usage in their typed classes."""
    response = EmbeddingResponse(data)
    items = response.get("data")
    if isinstance(items, list):
        for i in range(len(items)):
            _typed(items, i, Embedding)
    _typed(response, "usage", Usage)
    return response
