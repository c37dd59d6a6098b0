"""The demo fleet's real network services on 127.0.0.1, checked by the engine's probes.

* :class:`ShopEndpoint`: HTTP ``/health`` answering 200, or 503 while the outage lasts.
* :class:`TlsEndpoint`: HTTPS with a self-signed certificate valid for a few days only,
  made with the ``cryptography`` package; the probe trusts it as its CA and reports
  the near expiry (``probe_cert_expiring``).
"""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from pathlib import Path


class _Quiet(http.server.BaseHTTPRequestHandler):
    endpoint: ShopEndpoint | TlsEndpoint

    def do_GET(self) -> None:
        status, body = self.endpoint.answer()
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # the engine logs, not the demo's server
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(endpoint: ShopEndpoint | TlsEndpoint) -> tuple[_Server, threading.Thread]:
    handler = type("Handler", (_Quiet,), {"endpoint": endpoint})
    server = _Server(("127.0.0.1", 0), handler)
    return server, threading.Thread(target=server.serve_forever, name="demo-endpoint", daemon=True)


class ShopEndpoint:
    """The shop's health endpoint; ``down`` makes it answer 503 (the outage)."""

    def __init__(self) -> None:
        self.down = False
        self.server, self.thread = _serve(self)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def answer(self) -> tuple[int, str]:
        return (503, "upstream unavailable\n") if self.down else (200, "ok\n")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed_cert(folder: Path, *, days: int, name: str = "localhost") -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, valid from an hour ago for ``days``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "demo-tls.crt", folder / "demo-tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class TlsEndpoint:
    """HTTPS on 127.0.0.1 with a certificate that expires in ``days`` days."""

    def __init__(self, folder: Path, *, days: int = 5) -> None:
        self.cert, key = self_signed_cert(folder, days=days)
        self.server, self.thread = _serve(self)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/"

    def answer(self) -> tuple[int, str]:
        return 200, "payments ok\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
