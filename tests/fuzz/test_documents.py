"""The safe document loader: limits, refusals and messages that stay short and name the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoinfra.core.documents import (
    ECHO_CHARS,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    echo,
    load_document,
    parse_document,
    validation_error,
)
from autoinfra.core.errors import ConfigError


def test_valid_yaml_and_json_load_as_safe_load_would() -> None:
    assert parse_document("a: 1\nb: [x, 2.5]\n", source="s.yaml") == {"a": 1, "b": ["x", 2.5]}
    assert parse_document('{"a": [1, {"b": null}]}', source="s.json", fmt="json") == {
        "a": [1, {"b": None}]
    }
    assert parse_document(b"\xef\xbb\xbfa: 1\n", source="bom.yaml") == {"a": 1}


def test_aliases_are_refused_with_the_line() -> None:
    with pytest.raises(ConfigError, match=r"s\.yaml: line 2: aliases"):
        parse_document("a: &x [1, 2]\nb: *x\n", source="s.yaml")


def test_depth_and_size_are_capped() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(ConfigError, match="deeper than"):
        parse_document(deep, source="d.yaml")
    with pytest.raises(ConfigError, match="deeper than"):
        parse_document(deep, source="d.json", fmt="json")
    parse_document("[" * MAX_DEPTH + "]" * MAX_DEPTH, source="ok.yaml")
    with pytest.raises(ConfigError, match="at most"):
        parse_document("a: " + "x" * MAX_DOCUMENT_BYTES, source="big.yaml")


def test_duplicate_keys_empty_files_and_bad_bytes_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"line 3: key 'a' given twice \(first on line 1\)"):
        parse_document("a: 1\nb: 2\na: 3\n", source="dup.yaml")
    with pytest.raises(ConfigError, match="twice"):
        parse_document('{"a": 1, "a": 2}', source="dup.json", fmt="json")
    for empty in ("", "# a comment\n", "---\n"):
        with pytest.raises(ConfigError, match="empty"):
            parse_document(empty, source="e.yaml")
    with pytest.raises(ConfigError, match="line 2: not UTF-8"):
        parse_document(b"a: 1\nb: \xff\n", source="u.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_document("a: \x0b\n", source="c.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_document("t: 2011-02-30\n", source="date.yaml")


def test_messages_name_the_real_file_and_never_echo_much(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("a: [unclosed " + "x" * 5000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_document(path)
    assert str(path) in str(info.value) and "<unicode string>" not in str(info.value)
    assert len(str(info.value)) < len(str(path)) + 200
    assert len(echo("y" * 10_000)) == ECHO_CHARS
    with pytest.raises(ConfigError, match="unsupported format"):
        load_document(tmp_path / "spec.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_document(tmp_path / "missing.yaml")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, float]] = Field(default_factory=list)
    share: float = Field(0.5, ge=0, le=1, allow_inf_nan=False)


def test_validation_errors_name_the_field_path_and_truncate_the_input() -> None:
    with pytest.raises(ValidationError) as info:
        _Model.model_validate({"rows": [{"a": 1.0}, {"b": "x" * 1000}]})
    err = validation_error(info.value, source="m.yaml")
    assert err.field == "rows[1].b" and err.source == "m.yaml"
    assert len(str(err)) < 250
    with pytest.raises(ValidationError) as info:
        _Model.model_validate({"share": 2})
    assert "expected a number <= 1" in str(validation_error(info.value, source="m.yaml"))
    with pytest.raises(ValidationError) as info:
        _Model.model_validate({"shares": 2})
    err = validation_error(info.value, source="m.yaml")
    assert err.field == "shares" and "unknown key" in str(err)
