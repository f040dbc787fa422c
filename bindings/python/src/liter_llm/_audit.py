"""Verification of an audit file (docs/audit.md); the check itself runs in the core."""

from __future__ import annotations

import json
import os
from typing import Optional, Union

from . import _native
from ._errors import error_from_json


class AuditLogError(Exception):
    """An audit file failed verification: ``line`` (1-based) is the first bad record, ``reason``
    says what is wrong with it, ``verified`` counts the records before it that verified."""

    def __init__(self, path: str, line: int, reason: str, verified: int) -> None:
        super().__init__(f"{path} line {line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason
        self.verified = verified


def verify_audit_log(path: Union[str, os.PathLike[str]], hmac_key: Optional[str] = None) -> int:
    """Checks every record of the audit file ``path`` (each record's hash, and each chain's
    order) and returns the number of records verified.

    Raises :class:`AuditLogError` naming the first line that was altered, removed from the
    middle of its chain or moved; records cut from the end of the file cannot be detected. Pass
    the ``audit.hmac_key`` the file was written with; a file that cannot be read raises
    :class:`BadRequestError`.
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError("path must be a str or os.PathLike[str]")
    if hmac_key is not None and not isinstance(hmac_key, str):
        raise TypeError(f"hmac_key must be a str or None, not {type(hmac_key).__name__}")
    for value in (text, hmac_key):
        if value is not None and "\x00" in value:
            raise ValueError("path and hmac_key must not contain NUL characters")
    is_error, data = _native.audit_verify_raw(
        text.encode("utf-8"), None if hmac_key is None else hmac_key.encode("utf-8")
    )
    answer = json.loads(data.decode("utf-8"))
    if is_error:
        raise error_from_json(answer)
    if "bad_line" in answer:
        raise AuditLogError(text, int(answer["bad_line"]), str(answer["reason"]), int(answer["records"]))
    return int(answer["records"])
