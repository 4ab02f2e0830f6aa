"""What a model *is* on a server, independent of the server: its content fingerprint.

A sharded gate tests a candidate on N runners and promotes it on another server; promotion
may trust the shards only for a model whose content there is the content they tested. The
manifest digest cannot say so: it differs between Ollama versions for identical layers
(the config blob records the server's own fields). So the fingerprint is taken from the
read-back (`/api/show`, show.py) of what decides a model's behaviour: the digests of its
weight, projector, adapter and draft layers (the `sha256-<hex>` blob names its stored Modelfile
points at, not the blob directory, which is per machine), and the effective config:
template, system, typed parameters, messages, licenses, renderer, parser, requires.
"""

from __future__ import annotations

import hashlib
import json
import re

from mfops.server.show import ServerConfig

_BLOB = re.compile(r"sha256[-:]([0-9a-f]{64})")

#: Bumped when the fields change: fingerprints of another version never match.
#: 2: projector layers (a vision model's extra FROM blobs) count; version 1 left them out.
CONTENT_VERSION = 2


def _layer(reference: str) -> str:
    """A layer as its blob digest (`sha256:<hex>`) when the reference names a blob."""
    found = _BLOB.search(reference)
    return f"sha256:{found.group(1)}" if found else reference


def content_fingerprint(config: ServerConfig) -> str:
    """`sha256:` over the layers and the effective config of a model, as a server shows
    them (module docstring)."""
    body = {
        "v": CONTENT_VERSION,
        "weights": _layer(config.weights),
        "projectors": [_layer(p) for p in config.projectors],
        "adapters": [_layer(a) for a in config.adapters],
        "drafts": [_layer(d) for d in config.drafts],
        "template": config.template,
        "system": config.system,
        "parameters": config.parameters,
        "messages": [[m.role, m.content] for m in config.messages],
        "license": config.license_text,
        "renderer": config.renderer,
        "parser": config.parser,
        "requires": config.requires,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
