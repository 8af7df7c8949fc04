"""jsonio: orjson speed with the standard library's semantics (NaN handling, errors)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trans3dhead import jsonio


def test_round_trip_numpy_and_plain():
    data = {"a": [1.5, 2.0], "b": np.arange(3, dtype=np.float32), "c": np.int64(4), "d": None, "e": "x"}
    assert jsonio.loads(jsonio.dumps(data)) == {
        "a": [1.5, 2.0],
        "b": [0.0, 1.0, 2.0],
        "c": 4,
        "d": None,
        "e": "x",
    }
    assert jsonio.loads(jsonio.dumps({"k": 1}, indent=2)) == {"k": 1}


def test_non_finite_is_refused_or_written_like_json():
    for bad in ({"v": [0.0, float("nan")]}, {"v": np.array([np.inf])}, [[1.0, -math.inf]]):
        with pytest.raises(ValueError, match="not JSON compliant"):
            jsonio.dumps(bad)
    text = jsonio.dumps({"v": [1.0, float("nan")]}, allow_nan=True)
    assert "NaN" in text and math.isnan(jsonio.loads(text)["v"][1])  # read back, not silently null


def test_invalid_json_raises_the_standard_error():
    with pytest.raises(json.JSONDecodeError):
        jsonio.loads(b'{"a": [1, 2')


def test_has_non_finite_on_nested_and_ragged_lists():
    assert not jsonio.has_non_finite({"v": [[0.0, 1.0], [2.0, 3.0]], "i": [1, 2], "s": ["a"], "n": None})
    assert jsonio.has_non_finite([[0.0, 1.0], [2.0, float("inf")]])
    assert jsonio.has_non_finite([[0.0], [1.0, float("nan")]])  # ragged: walked element by element
    assert jsonio.has_non_finite([1, {"x": float("nan")}])


@pytest.mark.parametrize(
    "value", [[1, 2.5], [[1, 2], [3, 4]], 1.5, [], np.zeros((2, 3), np.float32), [np.float32(1), 2]]
)
def test_number_array_reads_numbers(value):
    array = jsonio.number_array(value)
    assert array is not None and array.dtype == np.float64
    np.testing.assert_array_equal(array, np.asarray(value, dtype=np.float64))


@pytest.mark.parametrize(
    "value",
    # booleans and numeric strings, which numpy converts silently; ragged; an int beyond float64
    [[True, 1.5], [[1, 2], [3, False]], ["1.5", 2], "1.5", True, [[1, 2], [3]], [1, None], [10**400], {}],
)
def test_number_array_refuses_what_is_not_json_numbers(value):
    assert jsonio.number_array(value) is None


def test_read_file_is_the_one_reader(tmp_path):
    from trans3dhead.errors import InputError
    from trans3dhead.jsonio import read_file

    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2.5, NaN]}')
    assert read_file(good)["a"][:2] == [1, 2.5]
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError, match=r"GT file .*bad\.json: not valid JSON"):
        read_file(bad, what="GT file", error=InputError)
    with pytest.raises(FileNotFoundError, match=r"missing\.json: file not found"):
        read_file(tmp_path / "missing.json")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        read_file(tmp_path)
