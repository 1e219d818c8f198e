"""HTTPS by default: phones open the camera only on a secure page.

Without a configured certificate a self-signed one is generated once into the data dir,
valid for localhost, this host's name and addresses, and the public URL's host.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.clock import utcnow
from service.config import Config

CERT_FILE, KEY_FILE = "tls/cert.pem", "tls/key.pem"


def _local_names(public_url: str) -> tuple[list[str], list[str]]:
    names = {"localhost", socket.gethostname()}
    addresses = {"127.0.0.1", "::1"}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            addresses.add(str(info[4][0]))
    except OSError:
        pass
    host = urlsplit(public_url).hostname
    if host:
        try:
            addresses.add(str(ipaddress.ip_address(host)))
        except ValueError:
            names.add(host)
    return sorted(names), sorted(addresses)


def generate_self_signed(cert_path: Path, key_path: Path, public_url: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names, addresses = _local_names(public_url)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hadir (self-signed)")])
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in names]
        + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    )
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_ssl_context(config: Config) -> tuple[ssl.SSLContext, Path]:
    """The TLS context to serve with, and the certificate file it uses."""
    if config.server.tls_cert:
        cert, key = Path(config.server.tls_cert), Path(config.server.tls_key)
    else:
        cert, key = config.data_dir / CERT_FILE, config.data_dir / KEY_FILE
        if not (cert.exists() and key.exists()):
            generate_self_signed(cert, key, config.public_url)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
