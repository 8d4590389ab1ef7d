"""Secret gap classes found on the train split of the development corpus: documented token shapes
the scanner did not know, credentials in escaped JSON and .NET constructors, and the look-alikes
(references, templates, concatenations, wrong alphabets) that must stay negative. Values are
generated here from a seeded RNG, never taken from any data set."""

from __future__ import annotations

import random
import string

import pytest

from llmops_nb.guardrails import secrets

_r = random.Random(1414)
_AN = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


def _rand(n: int, alphabet: str = _AN) -> str:
    return "".join(_r.choice(alphabet) for _ in range(n))


def _found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start:f.end]) for f in secrets.scan(text)]


_CRATES = "cio" + _rand(32)
_POSTHOG = "phx_" + _rand(43)
_CLICKUP = "pk_" + _rand(8, string.digits) + "_" + _rand(32, string.ascii_uppercase + string.digits)
_SEGMENT = "sgp_" + _rand(64)
_GCLIENT = _rand(12, string.digits) + "-" + _rand(32, string.ascii_lowercase + string.digits) + ".apps.googleusercontent.com"
_YANDEX = "y0_" + _rand(55, _AN + "_-")
_SKHEX = "sk-" + _rand(32, _HEX)
_SIDEKIQ = _rand(8, _HEX) + ":" + _rand(8, _HEX)
_SONAR = _rand(40, _HEX)
_AWS_SECRET = _rand(40, _AN + "/+")
_TOKEN = _rand(28)
_PASSWORD = "Tq7" + _rand(9)

POSITIVE = [
    ("crates.io token", f"Authorization: {_CRATES}", "provider_token", _CRATES),
    ("PostHog personal key", f"POSTHOG_KEY={_POSTHOG}", "provider_token", _POSTHOG),
    ("ClickUp personal token", f"token {_CLICKUP}", "provider_token", _CLICKUP),
    ("Segment public API token", f"segment: {_SEGMENT}", "provider_token", _SEGMENT),
    ("Google OAuth client id", f"client = '{_GCLIENT}'", "provider_token", _GCLIENT),
    ("Yandex OAuth token", f"ya {_YANDEX}", "provider_token", _YANDEX),
    ("sk- with 32 hex", f"DEEPSEEK={_SKHEX}", "provider_token", _SKHEX),
    ("Sidekiq Enterprise credentials", f"BUNDLE_ENTERPRISE__CONTRIBSYS__COM={_SIDEKIQ}", "provider_token", _SIDEKIQ),
    ("SonarQube login property", f"mvn sonar:sonar -Dsonar.login={_SONAR}", "provider_token", _SONAR),
    ("AWS secret in escaped JSON", f'body = "{{\\"awsSecretKey\\":\\"{_AWS_SECRET}\\"}}"', "aws_secret_key", _AWS_SECRET),
    ("token in escaped JSON", f'payload = "{{\\"api_token\\":\\"{_TOKEN}\\"}}"', "generic_secret", _TOKEN),
    ("NetworkCredential", f'new NetworkCredential("svc@example.org", "{_PASSWORD}");', "generic_secret", _PASSWORD),
    ("DirectoryEntry", f'new DirectoryEntry("LDAP://dc.example", "svc", "{_PASSWORD}")', "generic_secret", _PASSWORD),
    ("camelCase name glued to its value", f"acmeSecretKey-{_TOKEN}", "generic_secret", _TOKEN),
    ("Kerberos AS-REP hash with user@realm:", f"$krb5asrep$23$ann@EXAMPLE.ORG:{_rand(32, _HEX)}${_rand(96, _HEX)}",
     "password_hash", None),
]


@pytest.mark.parametrize(("name", "text", "type_", "value"), POSITIVE, ids=[c[0] for c in POSITIVE])
def test_secret_class_found(name: str, text: str, type_: str, value: str | None) -> None:
    found = _found(text)
    if value is None:
        assert any(t == type_ for t, _ in found), found
    else:
        assert (type_, value) in found


NEGATIVE = [
    ("str.format field", 'fmt_password = "prefix_{0}".format(value)'),
    ("CloudFormation !Ref", "DbPassword: !Ref 'DbPasswordParam'"),
    ("assignment inside a string, then concatenation", '"host/:_password = "+new Buffer(x).toString("base64")'),
    ("PHP concatenation", "echo 'password = '.$cfg['db']['password'].\"\\n\";"),
    ("bare AWS SDK name, not an AWS secret", "secret_access_key = 'Qw3rTy12+AbCdEfGh'"),
    ("New Relic key with non-hex characters", "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8" + "NRAL"),
    ("URL password of three characters", "https://user:abc@api.example.com/"),
    ("NetworkCredential with a placeholder", 'new NetworkCredential("bob", "password")'),
    ("Segment-like token too short", "sgp_" + _rand(40, "ghijklmnopqrstuvwxyz")),
]


@pytest.mark.parametrize(("name", "text"), NEGATIVE, ids=[c[0] for c in NEGATIVE])
def test_secret_class_lookalike_negative(name: str, text: str) -> None:
    assert _found(text) == []
