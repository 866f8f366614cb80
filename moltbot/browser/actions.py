"""``act``: what an agent does to a page, by element ref (from the last snapshot) and CDP input events.

An element is reached through its ref (``RefTable``) → ``backendDOMNodeId`` → ``DOM.resolveNode`` →
a remote object. Pointer actions scroll it into view and aim at the centre of its box, then send real
input events (``Input.dispatchMouseEvent``), so pages see the same events as from a user: focus, hover
styles and handlers all run. Typing uses ``Input.insertText`` (or key events one by one with
``slowly``); ``fill``/``select`` set values as a user's edit would and fire ``input`` and ``change``.
Kinds and fields follow the original's ``/act``: click, type, press, hover, scrollIntoView (and
``scroll``: by a delta), drag, select, fill, wait, resize, close. Not here: ``evaluate`` (arbitrary
script), refused with a clear error. HTML5 drag-and-drop (``dragstart``) is not synthesised by mouse
events in Chromium; pointer-event drags work.
"""

from __future__ import annotations

import json
from typing import Any

import trio

from .cdp import CdpError
from .pages import PageError, PageSession, Tab

MAX_TEXT = 100_000
MAX_WAIT_SECONDS = 120.0
KINDS = (
    "click",
    "type",
    "press",
    "hover",
    "scrollIntoView",
    "scroll",
    "drag",
    "select",
    "fill",
    "wait",
    "resize",
    "close",
)
_MODIFIERS = {"Alt": 1, "Control": 2, "Ctrl": 2, "Meta": 4, "Shift": 8}
_KEY_CODES = {
    "Enter": 13,
    "Tab": 9,
    "Escape": 27,
    "Backspace": 8,
    "Delete": 46,
    "ArrowUp": 38,
    "ArrowDown": 40,
    "ArrowLeft": 37,
    "ArrowRight": 39,
    "Home": 36,
    "End": 35,
    "PageUp": 33,
    "PageDown": 34,
    "Space": 32,
    "Insert": 45,
}
_KEY_TEXT = {"Enter": "\r", "Space": " ", "Tab": ""}

_CENTER = """function(){ this.scrollIntoView({block:'center', inline:'center', behavior:'instant'});
  const r = this.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; }"""
_CLEAR_AND_FOCUS = """function(){ this.focus();
  if (typeof this.select === 'function' && 'value' in this) { this.select(); }
  else if (this.isContentEditable) { const s = getSelection(); s.selectAllChildren(this); } }"""
_SET_VALUE = """function(value){ this.focus();
  if (this.type === 'checkbox' || this.type === 'radio') {
    const want = value === true || value === 'true' || value === 'on' || value === '1';
    if (this.checked !== want) { this.click(); } return String(this.checked); }
  const proto = this instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype
    : this instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
  const setter = Object.getOwnPropertyDescriptor(proto, 'value');
  if (setter && setter.set && 'value' in this) { setter.set.call(this, String(value)); }
  else if (this.isContentEditable) { this.textContent = String(value); }
  else { throw new Error('element cannot be filled'); }
  this.dispatchEvent(new Event('input', {bubbles: true}));
  this.dispatchEvent(new Event('change', {bubbles: true})); return String(value); }"""
_SELECT = """function(values){ if (!(this instanceof HTMLSelectElement)) throw new Error('not a <select>');
  const wanted = o => values.includes(o.value) || values.includes(o.label);
  if (this.multiple) { for (const o of this.options) o.selected = wanted(o); }
  else { const o = Array.from(this.options).find(wanted); if (!o) throw new Error('no such option');
    this.value = o.value; }
  const chosen = Array.from(this.selectedOptions).map(o => o.value);
  this.dispatchEvent(new Event('input', {bubbles: true}));
  this.dispatchEvent(new Event('change', {bubbles: true})); return chosen; }"""


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) else ""


def _required(body: dict[str, Any], key: str) -> str:
    value = _text(body, key)
    if not value:
        raise PageError(f"{key} is required")
    return value


async def _element(session: PageSession, tab: Tab, ref: str) -> str:
    backend = tab.refs.node_for(ref)
    if backend is None:
        raise PageError(f"unknown ref {ref[:32]}: take a snapshot and use a ref from it", 404)
    try:
        result = await session.send(tab, "DOM.resolveNode", {"backendNodeId": backend})
    except CdpError:
        raise PageError(
            f"stale ref {ref[:32]}: the element left the page; take a new snapshot", 409
        ) from None
    return str(result["object"]["objectId"])


async def _call(session: PageSession, tab: Tab, object_id: str, function: str, *args: Any) -> Any:
    result = await session.send(
        tab,
        "Runtime.callFunctionOn",
        {
            "functionDeclaration": function,
            "objectId": object_id,
            "arguments": [{"value": a} for a in args],
            "returnByValue": True,
            "awaitPromise": True,
        },
    )
    if result.get("exceptionDetails"):
        details = result["exceptionDetails"]
        text = (details.get("exception") or {}).get("description") or details.get("text") or "failed"
        raise PageError(f"action failed on the element: {str(text).splitlines()[0][:200]}", 409)
    return (result.get("result") or {}).get("value")


async def _center(session: PageSession, tab: Tab, ref: str) -> tuple[float, float]:
    x, y, width, height = await _call(session, tab, await _element(session, tab, ref), _CENTER)
    if width <= 0 or height <= 0:
        raise PageError(f"element {ref[:32]} is not visible (empty box)", 409)
    return x, y


async def _mouse(
    session: PageSession,
    tab: Tab,
    kind: str,
    x: float,
    y: float,
    *,
    button: str = "left",
    clicks: int = 1,
    modifiers: int = 0,
) -> None:
    await session.send(
        tab,
        "Input.dispatchMouseEvent",
        {
            "type": kind,
            "x": x,
            "y": y,
            "button": button if kind != "mouseMoved" else "none",
            "buttons": 1 if kind == "mousePressed" or button == "drag" else 0,
            "clickCount": clicks,
            "modifiers": modifiers,
        },
    )


def _modifier_mask(names: list[Any]) -> int:
    mask = 0
    for name in names:
        if str(name) not in _MODIFIERS:
            raise PageError(f"unknown modifier {str(name)[:20]} (Alt, Control, Meta, Shift)")
        mask |= _MODIFIERS[str(name)]
    return mask


async def press_key(session: PageSession, tab: Tab, combo: str) -> None:
    """``Enter``, ``a``, ``Control+a``, ``Shift+Tab`` …: keyDown (with text for printable keys), keyUp."""
    *mods, key = combo.split("+") if combo != "+" else ["+"]
    mask = _modifier_mask(mods)
    if len(key) == 1:
        code, text = ord(key.upper()), key
    elif key in _KEY_CODES:
        code, text = _KEY_CODES[key], _KEY_TEXT.get(key, "")
    else:
        raise PageError(f"unknown key {key[:32]}")
    name = " " if key == "Space" else key
    down: dict[str, Any] = {
        "type": "keyDown" if text and not mask & 6 else "rawKeyDown",
        "key": name,
        "windowsVirtualKeyCode": code,
        "modifiers": mask,
    }
    if text and not mask & 6:
        down["text"] = text
    await session.send(tab, "Input.dispatchKeyEvent", down)
    await session.send(
        tab,
        "Input.dispatchKeyEvent",
        {"type": "keyUp", "key": name, "windowsVirtualKeyCode": code, "modifiers": mask},
    )


async def act(session: PageSession, tab: Tab, body: dict[str, Any]) -> dict[str, Any]:
    """Run one action; the answer is ``{ok, targetId, url}`` plus what the kind reports."""
    kind = _text(body, "kind")
    if kind == "evaluate":
        raise PageError("act kind evaluate (arbitrary script) is not supported by this gateway")
    if kind not in KINDS:
        what = f"unknown act kind {kind!r}" if kind else "kind is required"
        raise PageError(f"{what}: one of {', '.join(KINDS)}")
    if "selector" in body and kind != "wait":
        raise PageError("selectors are not supported: take a snapshot and act on a ref")
    extra = await _ACTIONS[kind](session, tab, body) or {}
    return {"ok": True, "targetId": tab.target_id, "url": tab.url, **extra}


async def _click(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    x, y = await _center(session, tab, _required(body, "ref"))
    button = _text(body, "button") or "left"
    if button not in ("left", "right", "middle"):
        raise PageError("button must be left|right|middle")
    mask = _modifier_mask(list(body.get("modifiers") or []))
    clicks = 2 if body.get("doubleClick") is True else 1
    await _mouse(session, tab, "mouseMoved", x, y, modifiers=mask)
    for count in range(1, clicks + 1):
        await _mouse(session, tab, "mousePressed", x, y, button=button, clicks=count, modifiers=mask)
        await _mouse(session, tab, "mouseReleased", x, y, button=button, clicks=count, modifiers=mask)


async def _type(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    ref = _required(body, "ref")
    text = body.get("text")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise PageError(f"text is required (a string of at most {MAX_TEXT} characters)")
    await _call(session, tab, await _element(session, tab, ref), _CLEAR_AND_FOCUS)
    if body.get("slowly") is True:
        for char in text:
            await press_key(session, tab, "Enter" if char == "\n" else char)
    else:
        await session.send(tab, "Input.insertText", {"text": text})
    if body.get("submit") is True:
        await press_key(session, tab, "Enter")


async def _press(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    await press_key(session, tab, _required(body, "key"))


async def _hover(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    x, y = await _center(session, tab, _required(body, "ref"))
    await _mouse(session, tab, "mouseMoved", x, y)


async def _scroll_into_view(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    await _center(session, tab, _required(body, "ref"))


async def _scroll(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    if _text(body, "ref"):
        await _center(session, tab, _text(body, "ref"))
        return
    dx, dy = body.get("deltaX", 0), body.get("deltaY", 0)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (dx, dy)):
        raise PageError("scroll needs a ref, or deltaX/deltaY numbers")
    await session.send(
        tab, "Input.dispatchMouseEvent", {"type": "mouseWheel", "x": 10, "y": 10, "deltaX": dx, "deltaY": dy}
    )


async def _drag(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    if not _text(body, "startRef") or not _text(body, "endRef"):
        raise PageError("startRef and endRef are required")
    x1, y1 = await _center(session, tab, _text(body, "startRef"))
    x2, y2 = await _center(session, tab, _text(body, "endRef"))
    await _mouse(session, tab, "mouseMoved", x1, y1)
    await _mouse(session, tab, "mousePressed", x1, y1)
    for step in range(1, 6):
        await _mouse(
            session, tab, "mouseMoved", x1 + (x2 - x1) * step / 5, y1 + (y2 - y1) * step / 5, button="drag"
        )
    await _mouse(session, tab, "mouseReleased", x2, y2)


async def _select(session: PageSession, tab: Tab, body: dict[str, Any]) -> dict[str, Any]:
    values = body.get("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise PageError("values is required (a list of option values or labels)")
    chosen = await _call(session, tab, await _element(session, tab, _required(body, "ref")), _SELECT, values)
    return {"selected": chosen}


async def _fill(session: PageSession, tab: Tab, body: dict[str, Any]) -> dict[str, Any]:
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields or len(fields) > 100:
        raise PageError("fields is required (a list of {ref, value}, at most 100)")
    for field in fields:
        if not isinstance(field, dict) or not _text(field, "ref") or "value" not in field:
            raise PageError("each field needs ref and value")
        value = field["value"]
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > MAX_TEXT:
            raise PageError("a field's value must be a string, number or boolean")
        await _call(session, tab, await _element(session, tab, _text(field, "ref")), _SET_VALUE, value)
    return {"filled": len(fields)}


async def _wait(session: PageSession, tab: Tab, body: dict[str, Any]) -> dict[str, Any]:
    """Wait for ``timeMs``, or until ``text`` appears / ``textGone`` goes / ``url`` is reached /
    ``selector`` matches / ``loadState`` is reached; bounded by ``timeoutMs`` (default 20 s, ≤ 120 s)."""
    timeout = min(float(body.get("timeoutMs") or 20_000) / 1000, MAX_WAIT_SECONDS)
    if isinstance(body.get("timeMs"), (int, float)) and not any(
        body.get(k) for k in ("text", "textGone", "url", "selector", "loadState")
    ):
        await trio.sleep(min(float(body["timeMs"]) / 1000, MAX_WAIT_SECONDS))
        return {"waited": "time"}
    checks = {
        "text": "document.body && document.body.innerText.includes(%s)",
        "textGone": "!(document.body && document.body.innerText.includes(%s))",
        "url": "location.href.includes(%s)",
        "selector": "!!document.querySelector(%s)",
        "loadState": "(%s === 'domcontentloaded' ? document.readyState !== 'loading' : document.readyState === 'complete')",
    }
    wanted = [
        (key, checks[key] % json.dumps(body[key]))
        for key in checks
        if isinstance(body.get(key), str) and body[key]
    ]
    if not wanted:
        raise PageError("wait needs timeMs, text, textGone, url, selector or loadState")
    condition = " && ".join(f"({check})" for _, check in wanted)
    # Polled in the page (every 100 ms) so one CDP call waits; it gives up by itself just after our deadline.
    expression = (
        f"new Promise(done => {{ const end = Date.now() + {int(timeout * 1000) + 500};"
        f" const poll = () => {{ if ({condition}) done(true); else if (Date.now() > end) done(false);"
        f" else setTimeout(poll, 100); }}; poll(); }})"
    )
    try:
        reached = await session.evaluate(tab, expression, within=timeout)
    except CdpError:
        reached = False
    if not reached:
        raise PageError(f"wait: {', '.join(key for key, _ in wanted)} not reached within {timeout:g} s", 504)
    return {"waited": [key for key, _ in wanted]}


async def _resize(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    width, height = body.get("width"), body.get("height")
    if not all(isinstance(v, int) and 100 <= v <= 8000 for v in (width, height)):
        raise PageError("width and height are required (100..8000)")
    await session.send(
        tab,
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


async def _close(session: PageSession, tab: Tab, body: dict[str, Any]) -> None:
    await session.close(tab.target_id)


_ACTIONS = {
    "click": _click,
    "type": _type,
    "press": _press,
    "hover": _hover,
    "scrollIntoView": _scroll_into_view,
    "scroll": _scroll,
    "drag": _drag,
    "select": _select,
    "fill": _fill,
    "wait": _wait,
    "resize": _resize,
    "close": _close,
}
