"""OpenAI-shaped responses whose fields read as attributes and as keys."""

from __future__ import annotations

from typing import Any, Optional


class Record(dict):  # type: ignore[type-arg]
    """A JSON object: a dict whose keys also read as attributes (``r.usage`` is ``r["usage"]``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None


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


def _retype(value: Any, cls: type[Record]) -> None:
    if isinstance(value, Record):
        value.__class__ = cls


def as_completion(data: Record) -> ChatCompletion:
    """Gives the known parts of a parsed response their typed classes, in place."""
    _retype(data, ChatCompletion)
    choices = data.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            _retype(choice, Choice)
            message = choice.get("message") if isinstance(choice, dict) else None
            _retype(message, Message)
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            if isinstance(calls, list):
                for call in calls:
                    _retype(call, ToolCall)
                    _retype(call.get("function") if isinstance(call, dict) else None, Function)
    _retype(data.get("usage"), Usage)
    return data  # type: ignore[return-value]
