"""`OllamaDouble`: start the fake Ollama, seed it with models, tamper with it, inspect it.

    with OllamaDouble() as double:
        double.add_registry_model("llama3.2", system="You are helpful.")
        client = ollama.Client(host=double.url)
        client.create(model="bot", from_="llama3.2", system="Never discuss politics.")
        assert double.calls.count("/api/create") == 1

Models are put on the server by running the same create code that `/api/create` runs (not
by writing manifests by hand), so a model added here looks exactly like one a client built.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .api import OllamaApi
from .create import CreateContext, create_events, go_value, message_json, validate_create
from .faults import CallLog, Faults
from .gguf import fake_gguf, parse_parameter_size
from .gocompat import go_json, human_number, sorted_map
from .names import ModelName, parse_name
from .server import DoubleHTTPServer
from .show import show_body
from .store import (
    MT_CONFIG,
    MT_LICENSE,
    MT_MESSAGES,
    MT_MODEL,
    MT_PARAMS,
    MT_SYSTEM,
    MT_TEMPLATE,
    ApiError,
    Store,
    encode_config,
    encode_manifest,
    load_model,
)

DEFAULT_MODELS_DIR = "/usr/share/ollama/.ollama/models"
DEFAULT_VERSION = "0.33.0-rc2"


class OllamaDouble:
    """A fake Ollama server on 127.0.0.1 with an in-memory store.

    `port=0` picks a free port. `models_dir` is only used to print blob paths in
    `show --modelfile`. `rewrite_gguf=False` keeps an imported GGUF's digest as uploaded
    (real Ollama rewrites it, so the default does too).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        version: str = DEFAULT_VERSION,
        models_dir: str = DEFAULT_MODELS_DIR,
        rewrite_gguf: bool = True,
        embed_dim: int = 256,
    ) -> None:
        self.store = Store()
        self.faults = Faults()
        self.calls = CallLog()
        self.api = OllamaApi(
            self.store,
            version=version,
            models_dir=models_dir,
            rewrite_gguf=rewrite_gguf,
            embed_dim=embed_dim,
        )
        self._port = port
        self._server: DoubleHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> OllamaDouble:
        if self._server is not None:
            return self
        self._server = DoubleHTTPServer(
            ("127.0.0.1", self._port), self.api, self.faults, self.calls
        )
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
            name=f"ollama-double:{self._port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections (clients then see a dead server)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OllamaDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`; pass it as `ollama.Client(host=...)` or OLLAMA_HOST."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def host(self) -> str:
        return self.url

    def client(self, **kwargs: Any) -> Any:
        """A real `ollama.Client` pointed at the double (keyword args go to httpx)."""
        import ollama

        return ollama.Client(host=self.url, **kwargs)

    def reset(self) -> None:
        """Forget faults and recorded calls (models stay)."""
        self.faults.clear()
        self.calls.reset()

    # -- seeding -----------------------------------------------------------------------------------
    def add_registry_model(
        self,
        name: str,
        *,
        template: str | None = None,
        system: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        license: str | Sequence[str] | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        family: str = "llama",
        size: str | int = "3.2B",
        quantization: str = "Q4_K_M",
        embedding: bool = False,
        renderer: str = "",
        parser: str = "",
        requires: str = "",
        capabilities: Sequence[str] = (),
    ) -> str:
        """Publish a model in the pretend registry (what `/api/pull` and auto-pull fetch).

        Calling it again with the same name replaces it, which is how a test simulates an
        upstream update of a base model. Returns the registry manifest digest (hex).
        """
        parsed = self._name(name)
        weights = fake_gguf(
            architecture=family,
            parameter_size=size,
            quantization=quantization,
            embedding=embedding,
            name=parsed.short,
        )
        staging = Store()
        layers = [staging.new_layer(weights, MT_MODEL)]
        if template:
            layers.append(staging.new_layer(template.encode(), MT_TEMPLATE))
        if system:
            layers.append(staging.new_layer(system.encode(), MT_SYSTEM))
        if parameters:
            params = {k: go_value(v) for k, v in parameters.items()}
            layers.append(staging.new_layer(go_json(sorted_map(params)), MT_PARAMS))
        licenses = [license] if isinstance(license, str) else list(license or [])
        layers.extend(staging.new_layer(text.encode(), MT_LICENSE) for text in licenses)
        if messages:
            encoded = go_json([message_json(dict(m)) for m in messages])
            layers.append(staging.new_layer(encoded, MT_MESSAGES))
        config = {
            "model_format": "gguf",
            "model_family": family,
            "model_families": [family],
            "model_type": human_number(parse_parameter_size(size)),
            "file_type": quantization,
            "renderer": renderer,
            "parser": parser,
            "requires": requires,
            "capabilities": list(capabilities),
            "architecture": "amd64",
            "os": "linux",
        }
        config_layer = staging.new_layer(encode_config(config), MT_CONFIG)
        data = encode_manifest(config_layer, layers)
        with self.store.lock:
            self.store.registry.blobs.update(staging.blobs)
            self.store.registry.manifests[parsed.folded] = data
        return hashlib.sha256(data).hexdigest()

    def remove_registry_model(self, name: str) -> None:
        with self.store.lock:
            self.store.registry.manifests.pop(self._name(name).folded, None)

    def registry_digest(self, name: str) -> str | None:
        with self.store.lock:
            data = self.store.registry.manifests.get(self._name(name).folded)
        return hashlib.sha256(data).hexdigest() if data is not None else None

    def add_local_model(
        self,
        name: str,
        *,
        from_: str | None = None,
        template: str | None = None,
        system: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        license: str | Sequence[str] | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        family: str = "llama",
        size: str | int = "3.2B",
        quantization: str = "Q4_K_M",
        embedding: bool = False,
        **extra: Any,
    ) -> str:
        """Create a model on the server, as a client's `/api/create` would; returns its digest.

        Without `from_` it is built from fresh fake GGUF weights (like `FROM ./model.gguf`;
        `family`, `size`, `quantization`, `embedding` describe them); with `from_` it
        inherits from that model (pulled from the registry if needed).
        `extra` goes into the create request as is (`adapters`, `renderer`, `requires`...).
        """
        req: dict[str, Any] = {"model": name, **extra}
        if from_:
            req["from"] = from_
        else:
            weights = fake_gguf(
                architecture=family,
                parameter_size=size,
                quantization=quantization,
                embedding=embedding,
                name=self._name(name).short,
            )
            req["files"] = {"model.gguf": self.add_blob(weights)}
        for key, value in (
            ("template", template),
            ("system", system),
            ("parameters", dict(parameters) if parameters else None),
            ("license", license if isinstance(license, str) else list(license or [])),
            ("messages", [dict(m) for m in messages or []]),
        ):
            if value:
                req[key] = value
        self.create(req)
        digest = self.digest(name)
        assert digest is not None
        return digest

    def create(self, req: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run a create request in-process (not logged as a call); returns the progress."""
        ctx: CreateContext = self.api.ctx
        request = dict(req)
        name = validate_create(ctx, request)
        return list(create_events(ctx, request, name))

    def tamper(self, name: str, **changes: Any) -> str:
        """Change a model behind mfops' back, e.g. `tamper("bot:v1", system="Be rude.")`.

        Runs `create <name> FROM <name>` with the given fields, as a person editing the
        server by hand would; the manifest digest changes. Returns the new digest.
        """
        resolved, record = self.store.resolve(self._name(name))
        if record is None:
            raise KeyError(f"no model {name!r} on the double")
        req: dict[str, Any] = {"model": resolved.short, "from": resolved.short, **changes}
        self.create(req)
        digest = self.digest(resolved.short)
        assert digest is not None
        return digest

    def add_blob(self, data: bytes) -> str:
        """Store bytes as a blob (as if uploaded); returns `sha256:<hex>`."""
        digest, _ = self.store.put_blob(data)
        return digest

    # -- inspection --------------------------------------------------------------------------------
    def digest(self, name: str) -> str | None:
        """The manifest digest `/api/tags` reports (hex, no prefix), or None."""
        _, record = self.store.resolve(self._name(name))
        return record.digest if record else None

    def manifest(self, name: str) -> dict[str, Any] | None:
        _, record = self.store.resolve(self._name(name))
        return record.parsed if record else None

    def has_model(self, name: str) -> bool:
        return self.digest(name) is not None

    def model_names(self) -> list[str]:
        """Display names (`llama3.2:latest`) of the local models, sorted."""
        return sorted(n.short for n in self.store.names())

    def blob(self, digest: str) -> bytes | None:
        return self.store.get_blob(digest)

    def show(self, name: str) -> dict[str, Any]:
        """The full `/api/show` JSON (including the fields the Python client drops)."""
        resolved, record = self.store.resolve(self._name(name))
        if record is None:
            raise KeyError(f"no model {name!r} on the double")
        view = load_model(self.store, resolved, record)
        return show_body(view, {}, blob_path=self.api.ctx.blob_path)

    @staticmethod
    def _name(name: str) -> ModelName:
        parsed = parse_name(name)
        if not parsed.valid:
            raise ApiError(400, "invalid model name")
        return parsed
