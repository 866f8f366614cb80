"""Each cron patch type is its payload type with every field optional: the two are written out side by side
(a generated class would be invisible to mypy), and this pins that they do not drift apart."""

from __future__ import annotations

import typing

import attrs
import pytest

from moltbot.protocol import (
    CronAddParams,
    CronAgentTurn,
    CronAgentTurnPatch,
    CronPayload,
    CronPayloadPatch,
    CronSystemEvent,
    CronSystemEventPatch,
)
from moltbot.protocol._payloads.cron import CronJobPatch

# CronAddParams.payload is a whole payload, CronJobPatch.payload a payload patch; a patch may also set state.
PATCH_ONLY = {"state"}
SWAPPED = {CronPayload: CronPayloadPatch}


def optional(hint: object) -> object:
    hint = SWAPPED.get(hint, hint)
    return hint if type(None) in typing.get_args(hint) else hint | None


def hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls, include_extras=True)


@pytest.mark.parametrize(
    ("whole", "patch"),
    [
        (CronSystemEvent, CronSystemEventPatch),
        (CronAgentTurn, CronAgentTurnPatch),
        (CronAddParams, CronJobPatch),
    ],
)
def test_patch_has_the_fields_of_its_type_each_optional(whole, patch):
    whole_hints, patch_hints = hints(whole), hints(patch)
    assert set(patch_hints) - PATCH_ONLY == set(whole_hints)
    for name, hint in whole_hints.items():
        if name == "kind":  # the tag stays required: it picks the payload the patch merges into
            assert patch_hints[name] == hint
            assert attrs.fields_dict(patch)[name].default is attrs.NOTHING
        else:
            assert patch_hints[name] == optional(hint), name
            assert attrs.fields_dict(patch)[name].default is not attrs.NOTHING, name
