"""Certificates for the TLS tests, made with python3-cryptography: a CA, a
server certificate for 127.0.0.1 signed by it, a second one (for
refresh_certs), an expired one, and client certificates (valid, expired,
and one from another CA)."""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, cert, key):
    with open(path + ".crt", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(path + ".key", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))


def _ca(cn):
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(ca, cn, server, days_from, days_to, serial):
    ca_cert, ca_key = ca
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(now + datetime.timedelta(days=days_from))
         .not_valid_after(now + datetime.timedelta(days=days_to)))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return b.sign(ca_key, hashes.SHA256()), key


def make(directory):
    """Write every certificate and key into directory; returns it."""
    os.makedirs(directory, exist_ok=True)
    ca = _ca("mcd test CA")
    other = _ca("another CA")
    _write(os.path.join(directory, "ca"), *ca)
    _write(os.path.join(directory, "other-ca"), *other)
    _write(os.path.join(directory, "server"), *_leaf(ca, "127.0.0.1", True, -1, 30, 1001))
    _write(os.path.join(directory, "server2"), *_leaf(ca, "127.0.0.1", True, -1, 30, 1002))
    _write(os.path.join(directory, "expired"), *_leaf(ca, "127.0.0.1", True, -30, -1, 1003))
    _write(os.path.join(directory, "client"), *_leaf(ca, "client", False, -1, 30, 2001))
    _write(os.path.join(directory, "client-expired"), *_leaf(ca, "client", False, -30, -1, 2002))
    _write(os.path.join(directory, "client-other"), *_leaf(other, "client", False, -1, 30, 2003))
    return directory
