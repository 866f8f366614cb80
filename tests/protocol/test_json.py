"""The parser's limits (``moltbot.protocol._json``): nesting, long integers, what is read of a frame."""

import gc
import json

import pytest

from moltbot.protocol import RemoteProtocolError
from moltbot.protocol._json import MAX_DEPTH, JsonLimitError, parse_json


def nested(levels: int, open_: str = "[", close: str = "]") -> str:
    return open_ * levels + close * levels


def limit_error(text):
    with pytest.raises(JsonLimitError) as caught:
        parse_json(text)
    return caught.value


def test_nesting_up_to_the_limit_parses():
    assert MAX_DEPTH == 128
    value = parse_json(nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        (value,) = value
    assert value == []


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 900, 100_000])
def test_nesting_past_the_limit_is_refused_whoever_notices(levels):
    """129 levels parse in Python and are refused by our walk; 100,000 make the parser itself give up."""
    assert limit_error(nested(levels)).message == "nesting deeper than 128 levels"


def test_objects_count_as_levels_too():
    text = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    assert limit_error(text).message == "nesting deeper than 128 levels"


def test_brackets_inside_strings_are_not_nesting():
    assert parse_json(json.dumps({"text": "[" * 10_000})) == {"text": "[" * 10_000}


def test_integer_of_4300_digits_parses_one_more_is_refused():
    assert parse_json("9" * 4300) == int("9" * 4300)
    assert limit_error("9" * 4301).message == "integer of more than 4300 digits"


def test_members_before_the_offending_one_are_read():
    text = '{"type":"req", "id" : "x","method":"health","params":' + nested(100_000) + ',"after":1}'
    assert limit_error(text).members == {"type": "req", "id": "x", "method": "health"}


def test_members_after_the_offending_one_are_not():
    assert limit_error('{"params":' + nested(100_000) + ',"id":"x"}').members == {}


def test_members_of_a_long_integer_frame_are_read():
    text = b'{"type":"req","id":"x","method":"health","params":{"n":' + b"1" * 5000 + b"}}"
    assert limit_error(text).members == {"type": "req", "id": "x", "method": "health"}


def test_members_of_a_frame_deeper_than_our_limit_are_its_scalars():
    text = json.dumps({"type": "req", "id": "x", "params": json.loads(nested(200)), "n": None})
    assert limit_error(text).members == {"type": "req", "id": "x", "n": None}


@pytest.mark.parametrize("text", ["{", "", "[1,]", b"\xff", "NaN", "[-Infinity]", '{"a":Infinity}'])
def test_text_that_does_not_parse_is_invalid_json(text):
    with pytest.raises(RemoteProtocolError) as caught:
        parse_json(text)
    assert type(caught.value) is RemoteProtocolError and caught.value.message == "invalid JSON"


def test_lone_surrogates_are_data():
    assert parse_json('{"s":"\\ud800"}') == {"s": "\ud800"}


def test_no_gc_pass_runs_while_a_large_frame_is_parsed():
    """A frame of 50,000 small containers would trigger dozens of collector passes (JSON has no cycles)."""
    passes = []

    def record(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(record)
    try:
        parse_json("[" + ",".join(["[0]"] * 50_000) + "]")
    finally:
        gc.callbacks.remove(record)
    assert passes == [] and gc.isenabled()


def test_the_collector_is_back_on_after_a_large_frame_fails():
    with pytest.raises(RemoteProtocolError):
        parse_json("[" * 70_000)
    assert gc.isenabled()


@pytest.mark.parametrize("literal", ["1e999", "-1e400", "1" * 400 + ".5", "0.5E+99999"])
def test_a_number_beyond_a_double_is_refused_not_read_as_infinity(literal):
    """Python reads ``1e999`` as ``inf``, which ``dumps`` could only write back as ``Infinity`` (not JSON)."""
    text = '{"type":"req","id":"x","method":"health","params":{"n":' + literal + "}}"
    error = limit_error(text)
    assert error.message == "number out of range"
    assert error.members == {"type": "req", "id": "x", "method": "health"}


def test_the_largest_double_and_tiny_numbers_parse():
    assert parse_json("[1.7976931348623157e308, -1e308, 1e-400, 0.5]") == [1.7976931348623157e308, -1e308, 0.0, 0.5]


def test_an_out_of_range_member_is_not_read_as_a_member():
    assert limit_error('{"id":1e999,"n":[1e999]}').members == {}
