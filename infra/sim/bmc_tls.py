"""TLS for the simulated BMCs: a per-site CA and a server certificate for the emulator's
loopback address, so clients verify certificates exactly as they would on a real site
(with the site's CA bundle) instead of turning verification off."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.fsutil import atomic_write

_VALID_DAYS = 3650


def ensure_site_tls(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) in directory; made once per site, kept after."""
    ca_pem, cert_pem, key_pem = (directory / n for n in ("ca.pem", "server.pem", "server.key"))
    if not (ca_pem.is_file() and cert_pem.is_file() and key_pem.is_file()) or not _covers(
        cert_pem, host
    ):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _server_certificate(server_key, ca_key, ca_cert, host)
        _write(key_pem, _key_bytes(server_key), 0o600)
        _write(cert_pem, server_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(ca_pem, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return ca_pem, cert_pem, key_pem


def _covers(cert_pem: Path, host: str) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ipaddress.ip_address(host) in names.get_values_for_type(x509.IPAddress)


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=_VALID_DAYS)
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "supercluster simulated site CA")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    return _validity(builder).sign(key, hashes.SHA256())


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    host: str,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    return _validity(builder).sign(ca_key, hashes.SHA256())


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    # A fresh O_EXCL|O_NOFOLLOW temp file, then a rename: never through a planted file or link.
    atomic_write(path, data, mode)
