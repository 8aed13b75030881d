"""neurotwin.registry: one name -> object table per kind, filled by a decorator."""

import pytest

import neurotwin as nt
from neurotwin.errors import ConfigError
from neurotwin.registry import Registry


def test_register_get_and_repr():
    reg: Registry[object] = Registry("widget")
    assert repr(reg) == "Registry('widget': empty)" and len(reg) == 0

    @reg.register("b")
    class B: ...

    @reg.register("a")
    class A: ...

    assert reg.get("a") is A and reg.get("b") is B
    assert repr(reg) == "Registry('widget': a, b)"
    assert len(reg) == 2 and "a" in reg and list(reg) == ["a", "b"]


def test_unknown_and_duplicate_names_are_errors():
    reg: Registry[int] = Registry("widget")
    reg.register("x")(1)
    with pytest.raises(ConfigError, match=r"unknown widget 'y'; known: x"):
        reg.get("y")
    with pytest.raises(ConfigError, match="registered twice"):
        reg.register("x")(2)


def test_backends_registry_is_readable():
    text = repr(nt.BACKENDS)
    assert text.startswith("Registry('backend'") and "ideal" in text and "bss2" in text
