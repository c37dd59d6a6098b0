"""Version policies: ``openssl >= 3.0.13`` (a Debian package) or ``python:requests >= 2.32``.

``VersionPolicy.parse(text)`` reads ``[deb:|python:]NAME OP VERSION`` with OP one of
``>= > <= < == = !=``; the version must be valid for the ecosystem (dpkg rules for
``deb``, PEP 440 for ``python``). ``policy.allows(installed)`` compares with
:mod:`opsengine.config_mgmt.versions`. Any bad part is a :class:`PolicyError` quoting
the whole expression.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from opsengine.config_mgmt.inventory import normalize_python_name
from opsengine.config_mgmt.models import ConfigMgmtError
from opsengine.config_mgmt.versions import VersionError, compare, validate

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
        "==": operator.eq, "=": operator.eq, "!=": operator.ne}  # fmt: skip
_EXPR = re.compile(
    r"^\s*(?:(?P<eco>[a-z]+):)?(?P<name>[A-Za-z0-9][A-Za-z0-9+._-]*)\s*"
    r"(?P<op>>=|<=|==|!=|>|<|=)\s*(?P<version>[^\s<>=!]\S*)\s*$"
)
_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


class PolicyError(ConfigMgmtError):
    """An invalid policy expression; the message quotes it."""


@dataclass(frozen=True)
class VersionPolicy:
    expression: str
    ecosystem: str  # deb | python
    package: str  # as matched against the inventory (PEP 503 name for python)
    op: str
    version: str

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        if not isinstance(text, str):
            raise PolicyError(f"policy {text!r}: expected text like 'openssl >= 3.0.13'")
        m = _EXPR.match(text)
        if not m:
            raise PolicyError(
                f"policy {text!r}: expected [deb:|python:]NAME OP VERSION, "
                f"OP one of {' '.join(_OPS)} (e.g. 'openssl >= 3.0.13')"
            )
        eco = m["eco"] or "deb"
        if eco not in ("deb", "python"):
            raise PolicyError(f"policy {text!r}: unknown ecosystem {eco!r} (deb or python)")
        name = m["name"]
        if eco == "deb" and not _DEB_NAME.match(name):
            raise PolicyError(f"policy {text!r}: {name!r} is not a Debian package name")
        try:
            version = validate(eco, m["version"])
        except VersionError as e:
            raise PolicyError(f"policy {text!r}: {e}") from None
        package = normalize_python_name(name) if eco == "python" else name
        return cls(text.strip(), eco, package, m["op"], version)

    def allows(self, installed: str) -> bool:
        """Whether ``installed`` satisfies the policy (a version that cannot be read does not)."""
        try:
            return _OPS[self.op](compare(self.ecosystem, installed, self.version), 0)
        except VersionError:
            return False

    @property
    def kind(self) -> str:
        return self.ecosystem  # inventory kind: deb | python
