"""Configuration management and inventory: tracked configuration items with versions,
diffs, baselines, drift and an audit trail (``engine.config``), and the software and
hardware inventory with version policies (``engine.inventory``).

Version ordering for Debian (dpkg) and Python (PEP 440) is in :mod:`.versions`, for
any domain that compares package versions.
"""

from opsengine.config_mgmt.models import ConfigItem, ConfigMgmtError, ItemNotFound
from opsengine.config_mgmt.policies import PolicyError, VersionPolicy
from opsengine.config_mgmt.versions import VersionError, compare, compare_dpkg, compare_pep440

__all__ = [
    "ConfigItem",
    "ConfigMgmtError",
    "ItemNotFound",
    "PolicyError",
    "VersionError",
    "VersionPolicy",
    "compare",
    "compare_dpkg",
    "compare_pep440",
]
