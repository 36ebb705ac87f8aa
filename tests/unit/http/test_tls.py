"""The servers' TLS built from the settings: https URLs, a context per side, and a
certificate that does not load refused at start in one line."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from app.errors import CannotStart
from app.http.tls import WebTls, web_tls
from app.settings import Settings


def files(tmp_path: Path, ca: trustme.CA, key_of: trustme.LeafCert | None = None) -> Settings:
    """Settings naming a certificate from ``ca`` and a key (``key_of``'s, when given)."""
    cert = ca.issue_cert("127.0.0.1")
    (tmp_path / "cert.pem").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    (tmp_path / "key.pem").write_bytes((key_of or cert).private_key_pem.bytes())
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    return Settings(web_tls_certfile=tmp_path / "cert.pem", web_tls_keyfile=tmp_path / "key.pem",
                    web_tls_cafile=tmp_path / "ca.pem")  # fmt: skip


def test_plaintext_by_default() -> None:
    tls = web_tls(Settings())
    assert not tls.on and tls.server is None and tls.client is True
    assert tls.url("w-0", 6066) == "http://w-0:6066"


def test_a_certificate_gives_https_a_server_context_and_a_client_trusting_the_ca(
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    tls = web_tls(files(tmp_path, ca))
    assert tls.url("w-0", 6066) == "https://w-0:6066"
    assert isinstance(tls.server, ssl.SSLContext)
    assert tls.server.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.generation == 1 and not tls.reload()  # nothing changed
    client = tls.client
    assert isinstance(client, ssl.SSLContext) and client.verify_mode == ssl.CERT_REQUIRED
    assert client.check_hostname
    assert len(client.get_ca_certs()) == 1  # WEB_TLS_CAFILE's, instead of the system's
    key, chain = tls.pair
    assert key.startswith(b"-----BEGIN") and chain.startswith(b"-----BEGIN CERTIFICATE")


def test_a_renewed_certificate_is_loaded_into_the_same_context_and_a_bad_one_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = trustme.CA()
    tls = web_tls(files(tmp_path, ca))
    server, first = tls.server, tls.pair
    # A Secret volume swaps a symlink to a new directory: the paths stay, the files change.
    renewed = tmp_path / "renewed"
    renewed.mkdir()
    files(renewed, ca)
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).unlink()
        (tmp_path / name).symlink_to(renewed / name)
    assert tls.reload() and tls.server is server and tls.generation == 2
    assert tls.pair != first and tls.pair[1] == (renewed / "cert.pem").read_bytes()
    assert not tls.reload()
    # A key of another certificate: refused, the renewed pair kept.
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    files(wrong, ca, key_of=ca.issue_cert("other"))
    (tmp_path / "key.pem").unlink()
    (tmp_path / "key.pem").symlink_to(wrong / "key.pem")
    assert not tls.reload() and tls.generation == 2
    assert "do not load" in caplog.text and "still serving" in caplog.text


def test_a_key_that_is_not_the_certificates_stops_the_start_in_one_line(tmp_path: Path) -> None:
    ca = trustme.CA()
    settings = files(tmp_path, ca, key_of=ca.issue_cert("other"))
    with pytest.raises(CannotStart, match="STREAMREC_WEB_TLS_CERTFILE / KEYFILE / CAFILE do not"):
        web_tls(settings)
    assert WebTls(None, None, None).scheme == "http"
