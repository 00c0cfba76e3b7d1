"""GGUF model files: the key-value metadata in a file's header, read without loading the model.

`model_info` gives what `proactive doctor` reports (architecture, name,
quantisation, size, context length, chat template). Pure Python over a
read-only memory map: no llama.cpp, so it works where the model cannot load.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ModelError

# GGUF value types (gguf.md): struct format of each scalar type; 8 is a string, 9 an array.
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
# llama_ftype: the quantisation a GGUF's general.file_type names (the common ones)
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    25: "IQ4_NL",
    30: "IQ4_XS",
    32: "BF16",
}
# llm.chat_format for a model family whose GGUF has no chat template (base models)
_FORMAT_FOR_ARCH = {"gemma": "gemma", "qwen": "chatml", "mistral": "mistral-instruct", "llama": "llama-3"}


@dataclass(frozen=True)
class GGUFArray:
    """A metadata array too long to keep (e.g. the vocabulary): its element type and length only."""

    type: int
    length: int


def read_gguf_metadata(path: Path, keep_array: int = 64) -> dict[str, Any]:
    """The key-value metadata in the header of the GGUF file ``path``, without loading the model.

    Arrays of up to ``keep_array`` elements are returned as lists, longer ones
    (vocabularies, merges) as `GGUFArray`. Reads GGUF versions 2 and 3 through a
    read-only memory map. Raises `ModelError` when the file is missing, not a
    GGUF, or cut short.
    """
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return _GGUFHeader(m, keep_array).read()
    except FileNotFoundError as e:
        raise ModelError(f"Model file {path} does not exist.", "Set llm.model_path to a GGUF file.") from e
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as e:
        raise ModelError(
            f"{path} is not a readable GGUF model: {e}", "Check that the file is a complete GGUF model."
        ) from e


class _GGUFHeader:
    """A cursor over a GGUF header (little-endian: magic, version, tensor count, key-value pairs)."""

    def __init__(self, buf: mmap.mmap, keep_array: int) -> None:
        self.buf = buf
        self.pos = 0
        self.keep_array = keep_array

    def _unpack(self, fmt: str) -> Any:
        value = struct.unpack_from("<" + fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def _string(self) -> str:
        n = self._unpack("Q")
        if self.pos + n > len(self.buf):
            raise ValueError("a string runs past the end of the file")
        text = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8")
        self.pos += n
        return text

    def _value(self, vtype: int) -> Any:
        if vtype in _GGUF_SCALARS:
            return self._unpack(_GGUF_SCALARS[vtype])
        if vtype == _GGUF_STRING:
            return self._string()
        if vtype == _GGUF_ARRAY:
            etype, n = self._unpack("I"), self._unpack("Q")
            if n <= self.keep_array:
                return [self._value(etype) for _ in range(n)]
            if etype in _GGUF_SCALARS:  # skip without reading
                self.pos += n * struct.calcsize(_GGUF_SCALARS[etype])
            elif etype == _GGUF_STRING:  # skip each string by its length alone
                length, buf, pos = struct.Struct("<Q").unpack_from, self.buf, self.pos
                for _ in range(n):
                    pos += 8 + length(buf, pos)[0]
                self.pos = pos
            else:
                for _ in range(n):
                    self._value(etype)
            if self.pos > len(self.buf):
                raise ValueError("an array runs past the end of the file")
            return GGUFArray(etype, n)
        raise ValueError(f"unknown GGUF value type {vtype}")

    def read(self) -> dict[str, Any]:
        if bytes(self.buf[:4]) != b"GGUF":
            raise ValueError("no GGUF magic number")
        self.pos = 4
        version = self._unpack("I")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not supported (2 or 3)")
        self._unpack("Q")  # tensor count
        n_kv = self._unpack("Q")
        meta: dict[str, Any] = {"GGUF.version": version}
        for _ in range(n_kv):
            key = self._string()
            meta[key] = self._value(self._unpack("I"))
        return meta


@dataclass(frozen=True)
class ModelInfo:
    """What `proactive doctor` reports about a GGUF: read from its header, no model loaded."""

    path: Path
    size_bytes: int
    architecture: str
    name: str
    quantization: str
    context_length: int | None
    chat_template: str | None

    def suggested_chat_format(self) -> str | None:
        """The llama.cpp chat format to set when the GGUF has no template (a base model), if known."""
        return next((f for a, f in _FORMAT_FOR_ARCH.items() if self.architecture.startswith(a)), None)


def model_info(path: Path) -> ModelInfo:
    """Architecture, size, context length and chat template of the GGUF ``path``.

    Raises `ModelError` when the file cannot be read as a GGUF.
    """
    meta = read_gguf_metadata(path)
    arch = str(meta.get("general.architecture", "unknown"))
    ftype = meta.get("general.file_type")
    template = meta.get("tokenizer.chat_template")
    ctx = meta.get(f"{arch}.context_length")
    return ModelInfo(
        path=path,
        size_bytes=path.stat().st_size,
        architecture=arch,
        name=str(meta.get("general.name") or path.stem),
        quantization=_FILE_TYPES.get(ftype, f"type {ftype}") if isinstance(ftype, int) else "unknown",
        context_length=ctx if isinstance(ctx, int) else None,
        chat_template=template if isinstance(template, str) and template.strip() else None,
    )
