"""Prints the requirements of LiteLLM's `proxy` extra for the litellm installed in this venv,
for an index that lacks the `litellm-proxy` package (its code ships inside litellm's own wheel,
litellm/proxy/) or a post-release pin of `litellm-enterprise`: `make bench` installs these when
`pip install 'litellm[proxy]'` fails."""

from __future__ import annotations

import re
from importlib.metadata import requires

for requirement in requires("litellm") or []:
    if "extra == 'proxy'" not in requirement or requirement.startswith("litellm-proxy"):
        continue
    requirement = re.sub(r" and extra == 'proxy'| ; extra == 'proxy'", "", requirement)
    print(re.sub(r"^(litellm-enterprise==[0-9.]+)\.post[0-9]+", r"\1", requirement))
