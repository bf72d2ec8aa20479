"""``cbec enterprise`` via the CLI: filing, keys, grants, certificates; bad input exits 2, no traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from cbec.cli import app
from cbec.rights import Principal, authorize_send
from cbec.store import connect
from cbec.store import enterprises as repo

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cbec.db'}"


def cbec(db: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["enterprise", *args, "--database", db])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _pem(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "杭州通关代理")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "agent.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_file_key_grant_cert_list_revoke(db: str, tmp_path: Path) -> None:
    code, out, _ = cbec(
        db, "add", "3301960101", "--name", "杭州美妆", "--role", "ebc", "--also", "91330100716105852F"
    )
    assert code == 0 and "3301960101" in out and "电商企业" in out
    code, out, _ = cbec(db, "add", "3301960401", "--name", "杭州通关代理", "--role", "申报企业", "--json")
    assert code == 0 and json.loads(out)["roles"] == ["agent"]
    assert (
        cbec(db, "add", "officer-2900", "--name", "关员 0421", "--role", "officer", "--district", "2900")[0]
        == 0
    )

    code, out, err = cbec(db, "key", "3301960401", "--label", "list gateway", "--expires", "2099-01-01")
    assert code == 0 and "shown once" in err and "只显示这一次" in err
    api_key = out.strip()
    assert api_key.startswith("cbec_")

    code, out, _ = cbec(
        db,
        "grant",
        "91330100716105852F",
        "3301960401",
        "--role",
        "ebc",
        "--message",
        "CEB621",
        "--message",
        "623",
    )
    assert code == 0 and "CEB621Message, CEB623Message" in out and "#1" in out

    code, out, _ = cbec(db, "cert", "3301960401", str(_pem(tmp_path)), "--key-name", "0001", "--json")
    assert code == 0 and json.loads(out)["serial"] == "4242" and json.loads(out)["algorithm"] == "rsa"

    # the key resolves to the agent with its grant: it may declare the enterprise's lists
    engine = connect(db)
    with engine.connect() as conn:
        p = repo.resolve_api_key(conn, api_key)
        assert isinstance(p, Principal)
        head = {"agentCode": "3301960401", "ebcCode": "3301960101"}
        assert authorize_send(p, "CEB621Message", [head], at=datetime.now(UTC)).allowed
    engine.dispose()

    code, out, _ = cbec(db, "list", "--json")
    assert [e["code"] for e in json.loads(out)] == ["3301960101", "3301960401", "OFFICER-2900"]
    code, out, _ = cbec(db, "list")
    assert code == 0 and "杭州美妆" in out and "2900" in out
    code, out, _ = cbec(db, "list", "3301960401", "--json")
    detail = json.loads(out)
    assert [len(detail[k]) for k in ("api_keys", "grants", "certificates")] == [1, 1, 1]
    assert api_key not in out  # listings never show the secret
    code, out, _ = cbec(db, "list", "3301960401")
    assert code == 0 and "grants 授权: 1" in out

    assert cbec(db, "revoke", "key", api_key)[0] == 0  # the whole key or just its prefix
    assert cbec(db, "revoke", "grant", "1")[0] == 0
    assert cbec(db, "revoke", "cert", "1")[0] == 0
    code, _, err = cbec(db, "revoke", "grant", "1")
    assert code == 2 and "已撤销" in err and "revoked already" in err
    engine = connect(db)
    with engine.connect() as conn:
        assert repo.resolve_api_key(conn, api_key).status == 401  # type: ignore[union-attr]
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "zh", "en"),
    [
        (["add", "91330100716105852G", "--name", "x", "--role", "ebc"], "校验码错误", "check character"),
        (["add", "3301960101", "--name", "x", "--role", "broker"], "未知角色", "unknown role"),
        (["add", "officer-1", "--name", "x", "--role", "officer"], "关区代码", "district"),
        (["key", "4403960002"], "未备案", "no enterprise"),
        (["key", "3301960101", "--expires", "next week"], "--expires", "--expires"),
        (["grant", "3301960101", "3301960401", "--role", "ebp"], "未备案为电商平台", "not filed as"),
        (
            ["grant", "3301960101", "3301960401", "--role", "ebc", "--message", "CEB999"],
            "未知的报文类型",
            "unknown",
        ),
        (["revoke", "grant", "abc"], "须为数字", "number"),
        (["revoke", "key", "0000000000"], "没有可撤销", "no key"),
        (["cert", "3301960101", "/nonexistent.pem"], "无法读取", "cannot read"),
        (["list", "4403960002"], "未备案", "no enterprise"),
    ],
)
def test_bad_input_exits_2_with_both_languages(db: str, args: list[str], zh: str, en: str) -> None:
    assert cbec(db, "add", "3301960101", "--name", "杭州美妆", "--role", "ebc")[0] == 0
    assert cbec(db, "add", "3301960401", "--name", "杭州通关代理", "--role", "agent")[0] == 0
    code, out, err = cbec(db, *args)
    assert code == 2, out + err
    assert zh in err and en in err and "Traceback" not in err + out


def test_not_a_certificate(db: str, tmp_path: Path) -> None:
    assert cbec(db, "add", "3301960101", "--name", "杭州美妆", "--role", "ebc")[0] == 0
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    code, _, err = cbec(db, "cert", "3301960101", str(junk))
    assert code == 2 and "无法读取证书" in err and "cannot read the certificate" in err
