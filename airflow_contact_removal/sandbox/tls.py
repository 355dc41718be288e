"""A throwaway certificate authority and server certificate for the sandbox's loopback TLS.

Real vendors are HTTPS only, so the sandbox can serve TLS too: connection reuse and handshake cost
are then measured, not assumed. The CA is made fresh for each sandbox and trusted by nothing else;
point the hook's ``verify`` extra (or any client's CA bundle) at :attr:`TLSFiles.ca_path`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The names the server certificate is valid for: the sandbox's loopback addresses.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TLSFiles:
    """
    PEM files of a sandbox's TLS set-up.

    :param ca_path: the CA certificate: what clients verify against (``verify`` extra).
    :param cert_path: the server certificate followed by the CA certificate (the chain it serves).
    :param key_path: the server's private key (readable by the owner only).
    """

    ca_path: str
    cert_path: str
    key_path: str


def generate_tls_files(folder: str | Path | None = None) -> TLSFiles:
    """
    Make a CA and a server certificate for :data:`LOOPBACK_NAMES`, valid for 7 days, in ``folder``.

    :param folder: where to write ``ca.pem``, ``server.pem`` and ``server-key.pem``; a new temporary
        folder when ``None``.
    """
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="acr-sandbox-tls-"))
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=7)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "contact-removal sandbox CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost")] + [
        x509.IPAddress(ipaddress.ip_address(address)) for address in LOOPBACK_NAMES[1:]
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    files = TLSFiles(
        ca_path=str(folder / "ca.pem"),
        cert_path=str(folder / "server.pem"),
        key_path=str(folder / "server-key.pem"),
    )
    Path(files.ca_path).write_bytes(ca_cert.public_bytes(pem))
    Path(files.cert_path).write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_bytes = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(files.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)
    return files
