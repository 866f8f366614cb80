"""Lone UTF-16 surrogates ("\\ud800", a valid JSON escape) are data: every JSON text we write encodes to
UTF-8 and reads back to the same string, as Node's JSON.stringify writes them."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from moltbot.protocol import RequestFrame, decode_frame, encode_frame
from moltbot.protocol._codec import dumps, escape_surrogates, join_surrogate_pairs

# Any code point, surrogates included (hypothesis's text() leaves them out by default).
_ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())


def test_lone_surrogate_is_escaped_like_json_stringify():
    assert dumps({"a": "x\ud800y"}) == '{"a":"x\\ud800y"}'
    assert dumps(["\udc00\ud800"]) == '["\\udc00\\ud800"]'


def test_surrogate_pair_is_written_as_its_character():
    assert dumps("\ud83d\ude00") == '"\U0001f600"'
    assert join_surrogate_pairs("a\ud83d\ude00\ud800") == "a\U0001f600\ud800"


def test_clean_text_is_returned_as_is():
    text = '{"a":"é"}'
    assert escape_surrogates(text) is text


def test_options_keep_the_escape():
    assert dumps({"k\udfff": 1}, indent=2) == '{\n  "k\\udfff": 1\n}'


@given(st.text(alphabet=_ANY_CHAR, max_size=40))
def test_any_string_round_trips_through_utf8(value):
    text = dumps({"v": value})
    back = json.loads(text.encode("utf-8").decode("utf-8"))
    assert join_surrogate_pairs(back["v"]) == join_surrogate_pairs(value)


def test_frame_with_lone_surrogate_encodes_and_decodes():
    frame = RequestFrame(id="r\ud800", method="chat.send", params={"message": "\udbff"})
    text = encode_frame(frame)
    text.encode("utf-8")
    assert decode_frame(text) == frame
