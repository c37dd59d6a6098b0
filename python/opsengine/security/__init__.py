"""Security management: findings with a lifecycle (``findings.py``), the vulnerability audit
against OSV advisories (``osv.py``), and the service that scans (``service.py``):
``engine.security``."""
