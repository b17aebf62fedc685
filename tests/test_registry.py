import pytest

from bench.errors import UserError
from bench.registry import Registry


def test_registry_get_list_and_did_you_mean():
    reg = Registry("widget")

    @reg.register("alpha")
    class A:
        pass

    reg.add("beta", 2)
    assert reg.get("alpha") is A and reg.get("beta") == 2
    assert reg.names("a*") == ["alpha"] and len(reg) == 2 and "beta" in reg
    with pytest.raises(UserError, match=r"unknown widget 'alpah' \(did you mean 'alpha'\?\)"):
        reg.get("alpah", "s.yaml:3", "w")
    with pytest.raises(UserError) as e:
        reg.get("zzz")
    assert "did you mean" not in str(e.value)
    assert reg.origin("alpha") == reg.origin("beta") == __name__  # the registering module
    with pytest.raises(ValueError, match=rf"widget 'beta' is registered by both {__name__} and elsewhere"):
        reg.register("beta", origin="elsewhere")(3)
