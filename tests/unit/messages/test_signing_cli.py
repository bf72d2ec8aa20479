"""``cbec keygen`` → ``cbec sign`` → ``cbec verify`` for both algorithms, and the refusals' exit status."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cbec.cli import app

runner = CliRunner()


@pytest.mark.parametrize("algorithm", ["sm2-sm3", "rsa-sha1"])
def test_keygen_sign_verify(tmp_path: Path, load_sample: Callable[[str], bytes], algorithm: str) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = runner.invoke(
        app,
        [
            "keygen",
            "--algorithm",
            algorithm,
            "--subject",
            "CN=申报企业,O=cbec",
            "--key-out",
            str(key),
            "--cert-out",
            str(cert),
        ],
    )
    assert made.exit_code == 0, made.output
    assert key.stat().st_mode & 0o077 == 0, "the private key is readable by its owner only"
    message = tmp_path / "CEB621Message.xml"
    message.write_bytes(load_sample("CEB621"))
    signed = tmp_path / "signed.xml"
    done = runner.invoke(
        app, ["sign", "--key", str(key), "--cert", str(cert), "-o", str(signed), str(message)]
    )
    assert done.exit_code == 0, done.output
    ok = runner.invoke(app, ["verify", "--cert", str(cert), "--json", str(signed)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["algorithm"] == algorithm

    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"<ceb:orderNo>", b"<ceb:orderNo>X", 1))
    refused = runner.invoke(app, ["verify", "--cert", str(cert), str(tampered)])
    assert refused.exit_code == 2
    assert "1004" in refused.output and "-621028" in refused.output
    late = runner.invoke(app, ["verify", "--cert", str(cert), "--at", "2099-01-01T00:00:00", str(signed)])
    assert late.exit_code == 2 and "1002" in late.output


def test_bad_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["sign", "--key", str(tmp_path / "nope.pem"), "--cert", "x", str(tmp_path / "m")]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    bad = runner.invoke(app, ["keygen", "--subject", "x", "--algorithm", "dsa"])
    assert bad.exit_code == 2
