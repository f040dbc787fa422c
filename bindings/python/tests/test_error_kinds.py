"""The error kinds exist once, in include/liter_llm.h; the exception classes follow that list."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

import liter_llm
from liter_llm._errors import _BY_KIND, error_from_json

HEADER = ROOT / "include" / "liter_llm.h"


def header_kinds() -> set[str]:
    """The kinds of the header's error-kind enum: `LITER_LLM_ERROR_KIND_INVALID_REQUEST` is `invalid_request`."""
    text = HEADER.read_text(encoding="utf-8")
    return {name.lower() for name in re.findall(r"\bLITER_LLM_ERROR_KIND_([A-Z][A-Z0-9_]*)\b", text)}


def test_every_kind_of_the_header_has_its_own_class() -> None:
    kinds = header_kinds()
    assert kinds, f"{HEADER} declares no LITER_LLM_ERROR_KIND_* constants"
    assert sorted(_BY_KIND) == sorted(kinds)
    classes = list(_BY_KIND.values())
    assert len(set(classes)) == len(classes), "two kinds share a class"
    for kind, cls in _BY_KIND.items():
        assert cls.kind == kind
        assert issubclass(cls, liter_llm.LiterLLMError)
        assert getattr(liter_llm, cls.__name__) is cls and cls.__name__ in liter_llm.__all__


@pytest.mark.parametrize("kind", sorted(_BY_KIND))
def test_an_error_object_raises_the_class_of_its_kind(kind: str) -> None:
    e = error_from_json({"error": {"kind": kind, "message": "what went wrong", "status": None, "attempts": 0}})
    assert type(e) is _BY_KIND[kind]
    assert (e.kind, e.message, e.body["kind"]) == (kind, "what went wrong", kind)


def test_cancelled_is_a_liter_llm_error_not_an_asyncio_cancellation() -> None:
    import asyncio

    assert liter_llm.CancelledError.kind == "cancelled"
    assert issubclass(liter_llm.CancelledError, liter_llm.LiterLLMError)
    assert not issubclass(liter_llm.CancelledError, asyncio.CancelledError)
