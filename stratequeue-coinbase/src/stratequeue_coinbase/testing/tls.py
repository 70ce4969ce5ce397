"""What the fake Coinbase makes at start: a self-signed certificate for 127.0.0.1 (the official
SDK only speaks https) and a CDP test key (EC P-256 or Ed25519) whose public half checks every
request token."""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

__all__ = ["Certificate", "TestKey", "make_certificate", "make_key"]

KEY_NAME = "organizations/test-org/apiKeys/test-key"


@dataclass(frozen=True)
class Certificate:
    directory: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate() -> Certificate:
    """A certificate for 127.0.0.1 and localhost, valid for a day, in a fresh directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-coinbase")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="fake-coinbase-"))
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return Certificate(directory, cert_file, key_file)


@dataclass(frozen=True)
class TestKey:
    name: str
    pem: str = field(repr=False)
    public: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey = field(repr=False)

    @property
    def algorithm(self) -> str:
        return "ES256" if isinstance(self.public, ec.EllipticCurvePublicKey) else "EdDSA"


def make_key(kind: str = "ec", name: str = KEY_NAME) -> TestKey:
    """A CDP-style key: ``ec`` (ES256, the SEC1 "EC PRIVATE KEY" PEM the portal gives) or
    ``ed25519``."""
    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if kind == "ec":
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    elif kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        raise ValueError(f"key kind {kind!r}: use 'ec' or 'ed25519'")
    return TestKey(name, pem.decode(), private.public_key())
