"""A trace far beyond any recorded session is refused with a hint (exit 2) before it takes the memory."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from edge.errors import SourceError
from edge.sources.trace import MAX_EVENT_CHARS, MAX_TRACE_BYTES, load_trace

PROACTIVE = Path(sys.executable).parent / "proactive"


def big_trace(path: Path, size: int) -> Path:
    """A valid shared-format trace of about ``size`` bytes: many ordinary events."""
    event = json.dumps({"time": "1717377997.0", "event": "The user types in Visual Studio Code. " * 5})
    n = size // (len(event) + 1) + 1
    with path.open("w", encoding="utf-8") as f:
        f.write('{"name": "big", "events": [')
        f.write(",".join([event] * n))
        f.write("]}")
    return path


def one_event_trace(path: Path, chars: int) -> Path:
    text = "The user pastes " + "x" * chars
    path.write_text(json.dumps({"name": "long", "events": [{"time": "1", "event": text}]}), encoding="utf-8")
    return path


def test_a_60_mb_trace_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = big_trace(tmp_path / "big.json", 60_000_000)
    assert path.stat().st_size > MAX_TRACE_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as err:
            load_trace(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # nothing of the 60 MB was read
    assert str(path) in err.value.msg and "60.0 MB" in err.value.msg and "50 MB" in err.value.msg
    assert "split" in err.value.hint

    # the limit is what decides: a small trace passes, and fails under a smaller limit
    small = big_trace(tmp_path / "small.json", 200_000)
    assert len(load_trace(small).observations) > 800
    with pytest.raises(SourceError, match="MB a trace may have"):
        load_trace(small, max_bytes=100_000)


def test_a_stream_without_a_size_is_bounded_while_read() -> None:
    with pytest.raises(SourceError, match="larger than that"):
        load_trace(Path("/dev/zero"), max_bytes=4096)


def test_a_5_mb_event_is_refused_naming_the_event(tmp_path: Path) -> None:
    path = one_event_trace(tmp_path / "long.json", 5_000_000)
    with pytest.raises(SourceError) as err:
        load_trace(path)
    assert "long event 0" in err.value.msg and "5,000,016 characters" in err.value.msg
    assert f"{MAX_EVENT_CHARS:,}" in err.value.msg and "shorten or split" in err.value.hint
    ok = one_event_trace(tmp_path / "ok.json", MAX_EVENT_CHARS - 100)
    assert len(load_trace(ok).observations) == 1


def test_deeply_nested_json_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(SourceError, match="nests JSON too deeply"):
        load_trace(path)


@pytest.mark.parametrize("kind", ["file", "event"])
def test_the_cli_exits_2_with_the_hint(tmp_path: Path, kind: str) -> None:
    path = (
        big_trace(tmp_path / "big.json", 60_000_000)
        if kind == "file"
        else one_event_trace(tmp_path / "long.json", 5_000_000)
    )
    for args in (["replay", str(path)], ["run", "--source", "trace", "--trace", str(path), "--no-relay"]):
        r = subprocess.run([str(PROACTIVE), *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), r.stderr
        assert "Traceback" not in r.stderr
