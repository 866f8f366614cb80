"""The JSON5 fast path agrees with the json5 parser: same value, or an error from both."""

import json
import math

import json5
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moltbot.config import json5_fast
from tests.strategies import examples


def outcome(parse, text):
    try:
        return ("ok", json.dumps(parse(text), sort_keys=True))
    except ValueError:
        return ("error", None)
    except RecursionError:
        pytest.skip("nested too deep for the reference parser")


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
_trees = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def render(value, draw) -> str:
    """``value`` as JSON5 with the features hand-written files use, chosen by ``draw``."""
    comment = draw(st.sampled_from(["", " // note\n", " /* c */ "]))
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            bare = draw(st.booleans()) and key.isidentifier() and key.isascii()
            items.append(f"{key if bare else quote(key, draw)}:{comment}{render(item, draw)}")
        return "{" + ", ".join(items) + ("," if items and draw(st.booleans()) else "") + "}"
    if isinstance(value, list):
        items = [render(item, draw) for item in value]
        return "[" + comment + ", ".join(items) + ("," if items and draw(st.booleans()) else "") + "]"
    if isinstance(value, str):
        return quote(value, draw)
    return json.dumps(value)


def quote(text, draw) -> str:
    # \u escapes of astral characters (surrogate pairs) only as JSON writes them: json5 decodes a pair into
    # two lone surrogates, JSON (and so the fast path) into the character, which is right.
    ascii_only = draw(st.booleans()) and all(ord(c) < 0x10000 for c in text)
    if draw(st.booleans()):
        body = json.dumps(text, ensure_ascii=ascii_only)[1:-1].replace("'", "\\'").replace('\\"', '"')
        return f"'{body}'"
    return json.dumps(text, ensure_ascii=ascii_only)


@settings(deadline=None, max_examples=examples(60))
@given(tree=_trees, data=st.data())
def test_rendered_json5_parses_to_the_same_value(tree, data):
    text = render(tree, data.draw)
    assert outcome(json5_fast.loads, text) == outcome(json5.loads, text)


@settings(deadline=None, max_examples=examples(150))
@given(st.text(alphabet="{}[]:,'\"\\/*\n ab1.-+xeIN_$tfu0", max_size=24))
def test_arbitrary_text_gives_the_same_outcome(text):
    assert outcome(json5_fast.loads, text) == outcome(json5.loads, text)


def test_typical_config_takes_the_fast_path():
    text = "// c\n{ gateway: { port: 18789, bind: 'loopback', }, /* x */ list: [1, -2.5e3, true, null,], }"
    assert json5_fast.to_json(text) is not None
    assert json5_fast.loads(text) == json5.loads(text)


def test_non_finite_numbers_agree():
    value = json5_fast.loads("{a: Infinity, b: -Infinity, c: NaN}")
    assert value["a"] == math.inf and value["b"] == -math.inf and math.isnan(value["c"])
