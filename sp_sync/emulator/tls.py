"""Certificates for the emulator: a private CA, a server cert for 127.0.0.1/localhost and an
app client certificate (PEM with key + cert) registered with the emulated Entra app.

RSA key generation is the slow part of startup, so material is reused when it already exists
in the state dir and cached per process.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertMaterial:
    directory: Path
    ca_bundle: Path  # CA certificate (PEM) clients must trust
    server_cert: Path
    server_key: Path
    client_pem: Path  # app certificate: private key + certificate in one PEM
    client_cert_pem: bytes
    client_key_pem: bytes
    thumbprint_sha1: str  # hex, upper case (as the Azure portal shows it)
    x5t: str  # base64url(sha1(DER)) as msal puts it into the assertion header
    x5t_s256: str  # base64url(sha256(DER))


_cache: dict[Path, CertMaterial] = {}
_lock = threading.Lock()


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(subject: str, issuer: str, key: rsa.RSAPrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
    )


def _generate(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_cert = (
        _builder("sp-sync emulator CA", "sp-sync emulator CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    srv_key = _key()
    srv_cert = (
        _builder("127.0.0.1", "sp-sync emulator CA", srv_key)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    app_key = _key()
    app_cert = _builder("sp-sync app", "sp-sync app", app_key).sign(app_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    files = {
        "ca.pem": ca_cert.public_bytes(pem),
        "server.pem": srv_cert.public_bytes(pem),
        "server.key": _pem_key(srv_key),
        "app.pem": _pem_key(app_key) + app_cert.public_bytes(pem),
    }
    for name, data in files.items():
        tmp = directory / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(directory / name)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ensure_certs(directory: str | Path) -> CertMaterial:
    """Return cert material in ``directory``, generating it once if missing."""
    path = Path(directory).resolve()
    with _lock:
        if path in _cache:
            return _cache[path]
        names = ("ca.pem", "server.pem", "server.key", "app.pem")
        if not all((path / n).is_file() for n in names):
            _generate(path)
        app_pem = (path / "app.pem").read_bytes()
        cert = x509.load_pem_x509_certificate(app_pem)
        key = serialization.load_pem_private_key(app_pem, password=None)
        der = cert.public_bytes(serialization.Encoding.DER)
        material = CertMaterial(
            directory=path,
            ca_bundle=path / "ca.pem",
            server_cert=path / "server.pem",
            server_key=path / "server.key",
            client_pem=path / "app.pem",
            client_cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            client_key_pem=_pem_key(key),  # type: ignore[arg-type]
            thumbprint_sha1=hashlib.sha1(der).hexdigest().upper(),
            x5t=_b64url(hashlib.sha1(der).digest()),
            x5t_s256=_b64url(hashlib.sha256(der).digest()),
        )
        _cache[path] = material
        return material
