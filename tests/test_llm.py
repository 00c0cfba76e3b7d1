"""Unit tests of edge.llm that need no model."""

from __future__ import annotations

import pytest

from edge.errors import ModelError
from edge.llm import _parse_json


def test_json_with_raw_newlines_in_strings_is_accepted_but_cut_json_is_not() -> None:
    # a real SmolLM2 answer on code_11 under the maxLength grammar: a literal newline inside a string
    raw = '{"Purpose": "p", "Thoughts": "t", "Proactive Task": null, "Response": "I can explain a\n\n" }'
    assert _parse_json(raw, "m")["Response"] == "I can explain a\n\n"
    with pytest.raises(ModelError, match="not JSON"):
        _parse_json('{"Purpose": "The user wants","Thou', "m")
    with pytest.raises(ModelError, match="not an object"):
        _parse_json("[1, 2]", "m")
