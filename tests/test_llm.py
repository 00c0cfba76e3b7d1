"""Unit tests of edge.llm that need no model (GGUF headers are written by the tests)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from edge.config import LLMSettings, Settings
from edge.doctor import check_model
from edge.errors import ModelError
from edge.gguf import GGUFArray, model_info, read_gguf_metadata
from edge.llm import PrefixStates, _parse_json


def test_json_with_raw_newlines_in_strings_is_accepted_but_cut_json_is_not() -> None:
    # a real SmolLM2 answer on code_11 under the maxLength grammar: a literal newline inside a string
    raw = '{"Purpose": "p", "Thoughts": "t", "Proactive Task": null, "Response": "I can explain a\n\n" }'
    assert _parse_json(raw, "m")["Response"] == "I can explain a\n\n"
    with pytest.raises(ModelError, match="not JSON"):
        _parse_json('{"Purpose": "The user wants","Thou', "m")
    with pytest.raises(ModelError, match="not an object"):
        _parse_json("[1, 2]", "m")


def _gguf(path: Path, kv: list[tuple[str, int, Any]], version: int = 3) -> Path:
    """A GGUF header with these (key, value type, value) pairs and no tensors."""

    def string(s: str) -> bytes:
        return struct.pack("<Q", len(s.encode())) + s.encode()

    def value(vtype: int, v: Any) -> bytes:
        if vtype == 8:
            return string(v)
        if vtype == 9:
            etype, items = v
            return struct.pack("<IQ", etype, len(items)) + b"".join(value(etype, i) for i in items)
        return struct.pack("<" + {4: "I", 5: "i", 6: "f", 7: "?", 10: "Q"}[vtype], v)

    body = b"GGUF" + struct.pack("<IQQ", version, 0, len(kv))
    body += b"".join(string(k) + struct.pack("<I", t) + value(t, v) for k, t, v in kv)
    path.write_bytes(body + b"\0" * 32)
    return path


BASE_GEMMA = [
    ("general.architecture", 8, "gemma3"),
    ("general.name", 8, "Tiny base"),
    ("general.file_type", 4, 15),
    ("gemma3.context_length", 4, 32768),
    ("tokenizer.ggml.tokens", 9, (8, [f"t{i}" for i in range(100)])),
    ("tokenizer.ggml.scores", 9, (6, [0.5] * 100)),
    ("tokenizer.ggml.add_bos_token", 7, True),
]


def test_gguf_header_is_read_without_loading_and_long_arrays_are_only_counted(tmp_path: Path) -> None:
    path = _gguf(tmp_path / "m.gguf", [*BASE_GEMMA, ("general.tags", 9, (8, ["a", "b"]))])
    meta = read_gguf_metadata(path)
    assert meta["general.architecture"] == "gemma3" and meta["gemma3.context_length"] == 32768
    assert meta["tokenizer.ggml.tokens"] == GGUFArray(8, 100) and meta["tokenizer.ggml.scores"] == GGUFArray(
        6, 100
    )
    assert meta["general.tags"] == ["a", "b"] and meta["tokenizer.ggml.add_bos_token"] is True
    info = model_info(path)
    assert (info.architecture, info.name, info.quantization, info.context_length) == (
        "gemma3",
        "Tiny base",
        "Q4_K_M",
        32768,
    )
    assert info.chat_template is None and info.suggested_chat_format() == "gemma"
    assert info.size_bytes == path.stat().st_size


def test_not_a_gguf_or_a_cut_header_is_a_model_error(tmp_path: Path) -> None:
    path = _gguf(tmp_path / "m.gguf", BASE_GEMMA)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[:60])
    for bad, why in ((cut, "not a readable GGUF"), (tmp_path / "nope.gguf", "does not exist")):
        with pytest.raises(ModelError, match=why):
            read_gguf_metadata(bad)
    (tmp_path / "text.gguf").write_text("hello, not a model")
    with pytest.raises(ModelError, match="no GGUF magic"):
        model_info(tmp_path / "text.gguf")
    with pytest.raises(ModelError, match="version 1"):
        model_info(_gguf(tmp_path / "v1.gguf", BASE_GEMMA, version=1))


def test_doctor_names_the_chat_format_a_base_model_without_template_needs(tmp_path: Path) -> None:
    base = _gguf(tmp_path / "base.gguf", BASE_GEMMA)
    check = check_model(Settings(llm=LLMSettings(model_path=base)))
    assert not check.ok and "no chat template" in check.detail and 'llm.chat_format = "gemma"' in check.hint
    assert "gemma3" in check.detail and "32768" in check.detail and "Q4_K_M" in check.detail
    check = check_model(Settings(llm=LLMSettings(model_path=base, chat_format="gemma")))
    assert check.ok and "'gemma' from llm.chat_format" in check.detail
    tuned = _gguf(tmp_path / "it.gguf", [*BASE_GEMMA, ("tokenizer.chat_template", 8, "{{ messages }}")])
    check = check_model(Settings(llm=LLMSettings(model_path=tuned)))
    assert check.ok and "chat template from the GGUF" in check.detail
    odd = _gguf(tmp_path / "odd.gguf", [("general.architecture", 8, "rwkv7")])
    check = check_model(Settings(llm=LLMSettings(model_path=odd)))
    assert not check.ok and "context length unknown" in check.detail and '"chatml"' in check.hint


def test_prefix_states_are_bounded_in_bytes_least_recently_used_first() -> None:
    states = PrefixStates(max_bytes=100)
    states.put((1,), bytearray(40))
    states.put((2,), bytearray(40))
    assert states.get((1,)) is not None  # (2,) is now the least recently used
    states.put((3,), bytearray(40))
    assert states.get((2,)) is None and states.get((1,)) is not None and states.get((3,)) is not None
    assert states.nbytes == 80 and len(states) == 2 and (states.hits, states.misses) == (3, 1)
    states.put((4,), bytearray(101))  # larger than the bound: not kept, nothing evicted for it
    assert states.get((4,)) is None and len(states) == 2
    states.clear()  # what LlamaCppLLM.close() does
    assert states.nbytes == 0 and states.get((1,)) is None
