"""The protocol-4 oracle is reachable: every v4 test reads OpenClaw's schema through ``openclaw_schema``."""


def test_the_official_schema_is_loaded(openclaw_schema):
    assert "ConnectParams" in openclaw_schema["definitions"]
    assert openclaw_schema["methods"]["config.get"]["scope"] == "operator.read"
