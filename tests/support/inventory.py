"""Software the inventory reads: dpkg status stanzas and Python dist-info folders."""

from __future__ import annotations

from pathlib import Path


def dpkg_stanza(name: str, version: str, *, arch="amd64", status="install ok installed") -> str:
    return (
        f"Package: {name}\nStatus: {status}\nPriority: optional\nArchitecture: {arch}\n"
        f"Version: {version}\nDescription: {name}\n a long description\n .\n more of it\n"
    )


def write_status(path: Path, *packages: str) -> Path:
    path.write_text("\n".join(packages))
    return path


def write_dist(site: Path, name: str, version: str) -> None:
    for old in site.glob(f"{name.replace('-', '_')}-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
