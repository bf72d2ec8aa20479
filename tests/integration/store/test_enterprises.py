"""Enterprise filing in the store: register, keys, grants, certificates, resolving a key to a principal.

Runs on SQLite and, with CBEC_TEST_POSTGRES_URL, on PostgreSQL (fixtures in conftest.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, select

from cbec.rights import Decision, FilingError, Principal, Role, authorize_read, authorize_send
from cbec.rights.identity import CodeKind
from cbec.rights.roles import TRADE_ROLES
from cbec.store import enterprises as repo
from cbec.store import schema

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
PLATFORM = "3301960001"
PLATFORM_USCC = "91330100716105852F"
AGENT = "3301960401"
EBC = "3301960101"


def _file_cast(engine: Engine) -> None:
    with engine.begin() as conn:
        repo.register_enterprise(
            conn, code=PLATFORM, other_codes=[PLATFORM_USCC], name="杭州云购", roles=["ebp", "ebc"], at=NOW
        )
        repo.register_enterprise(conn, code=AGENT, name="杭州通关代理", roles=[Role.AGENT], at=NOW)
        repo.register_enterprise(conn, code=EBC, name="杭州美妆", roles=[Role.ECOMMERCE], at=NOW)
        repo.register_enterprise(
            conn, code="officer-2900", name="关员 0421", roles=["officer"], district="2900"
        )
        repo.register_enterprise(conn, code="root", name="平台管理员", roles=["admin"])


def _certificate(serial: int, days: int = 365) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "杭州云购 签名证书")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_register_and_read_back(engine: Engine) -> None:
    _file_cast(engine)
    with engine.connect() as conn:
        e = repo.get_enterprise(conn, PLATFORM_USCC.lower())  # found by any of its codes
        assert e is not None and repo.get_enterprise(conn, PLATFORM) == e
        assert (e.primary_code, e.codes, e.roles) == (
            PLATFORM,
            (PLATFORM, PLATFORM_USCC),
            {Role.PLATFORM, Role.ECOMMERCE},
        )
        assert e.created_at == NOW and e.district is None
        officer = repo.get_enterprise(conn, "OFFICER-2900")
        assert officer is not None and officer.district == "2900" and officer.roles == {Role.OFFICER}
        assert [x.primary_code for x in repo.list_enterprises(conn)] == [
            PLATFORM,
            AGENT,
            EBC,
            "OFFICER-2900",
            "ROOT",
        ]
        assert repo.get_enterprise(conn, "9999999999") is None
        kinds = dict(conn.execute(select(schema.enterprise_code.c.code, schema.enterprise_code.c.kind)).all())
        assert kinds[PLATFORM] == "customs" and kinds[PLATFORM_USCC] == "uscc" and kinds["ROOT"] == "account"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"code": PLATFORM, "roles": ["ebp"]}, "already filed"),
        ({"code": "4403960002", "other_codes": [PLATFORM_USCC], "roles": ["ebp"]}, "already filed"),
        ({"code": "91330100716105852G", "roles": ["ebp"]}, "check character"),
        ({"code": "12345", "roles": ["ebp"]}, "10-character"),
        ({"code": "4403960002", "roles": []}, "at least one role"),
        ({"code": "o-5", "other_codes": ["o5"], "roles": ["officer"], "district": "5300"}, "one account"),
        ({"code": "officer-1", "roles": ["officer"]}, "district"),
        ({"code": "4403960002", "roles": ["ebp"], "name": ""}, "name"),
        ({"code": "4403960002", "roles": ["ebp", "admin"]}, "cannot also"),
    ],
)
def test_filing_refusals_change_nothing(engine: Engine, kwargs: dict[str, object], message: str) -> None:
    _file_cast(engine)
    args: dict[str, object] = {"name": "深圳海淘"} | kwargs
    with engine.begin() as conn, pytest.raises(FilingError, match=message) as exc:
        repo.register_enterprise(conn, **args)  # type: ignore[arg-type]
    assert exc.value.zh and exc.value.en
    with engine.connect() as conn:
        assert len(repo.list_enterprises(conn)) == 5


def test_api_key_life(engine: Engine) -> None:
    _file_cast(engine)
    with engine.begin() as conn:
        issued = repo.issue_api_key(
            conn, PLATFORM, label="order gateway", expires_at=NOW + timedelta(days=30), at=NOW
        )
        other = repo.issue_api_key(conn, AGENT, at=NOW)
    assert issued.key.startswith(f"cbec_{issued.info.prefix}_") and issued.info.enterprise == PLATFORM
    with engine.connect() as conn:
        stored = conn.execute(
            select(schema.enterprise_api_key.c.key_hash, schema.enterprise_api_key.c.prefix)
        ).all()
        assert all(issued.key not in h and issued.key != p for h, p in stored)  # the secret is not stored
        p = repo.resolve_api_key(conn, issued.key, at=NOW + timedelta(days=1))
        assert isinstance(p, Principal)
        assert p.codes == {PLATFORM, PLATFORM_USCC} and p.roles == {Role.PLATFORM, Role.ECOMMERCE}
        assert p.credential == issued.info.prefix and p.name == "杭州云购"

        def status(key: str, at: datetime) -> tuple[int, str]:
            d = repo.resolve_api_key(conn, key, at=at)
            assert isinstance(d, Decision)
            return d.status, d.code

        assert status(issued.key, NOW + timedelta(days=30)) == (401, "key-expired")
        assert status(issued.key[:-1] + ("x" if issued.key[-1] != "x" else "y"), NOW) == (401, "key-unknown")
        assert status("cbec_0000000000_" + "A" * 43, NOW) == (401, "key-unknown")
        assert status("let me in", NOW) == (401, "key-malformed")
        assert [k.prefix for k in repo.list_api_keys(conn, PLATFORM_USCC)] == [issued.info.prefix]
    with engine.begin() as conn:
        assert repo.revoke_api_key(conn, issued.info.prefix, at=NOW + timedelta(hours=1))
        assert not repo.revoke_api_key(conn, issued.info.prefix)
        assert not repo.revoke_api_key(conn, "0000000000")
    with engine.connect() as conn:
        assert status(issued.key, NOW + timedelta(hours=2)) == (401, "key-revoked")
        assert isinstance(repo.resolve_api_key(conn, other.key, at=NOW), Principal)
        assert repo.list_api_keys(conn, PLATFORM)[0].revoked_at == NOW + timedelta(hours=1)
    with engine.begin() as conn, pytest.raises(FilingError, match="future"):
        repo.issue_api_key(conn, PLATFORM, expires_at=NOW - timedelta(days=1), at=NOW)
    with engine.begin() as conn, pytest.raises(FilingError, match="no enterprise"):
        repo.issue_api_key(conn, "4403960002")


def test_grants_reach_the_principal_and_the_rights(engine: Engine) -> None:
    _file_cast(engine)
    with engine.begin() as conn:
        g = repo.add_grant(
            conn,
            owner=EBC,
            grantee=AGENT,
            role="ebc",
            message_types=["621", "CEB623", "CEB625Message"],
            expires_at=NOW + timedelta(days=90),
            at=NOW,
        )
        repo.add_grant(conn, owner=PLATFORM_USCC, grantee=AGENT, role=Role.ECOMMERCE, at=NOW)
        key = repo.issue_api_key(conn, AGENT, at=NOW).key
    assert g.message_types == ("CEB621Message", "CEB623Message", "CEB625Message")
    assert (g.owner, g.grantee, g.role) == (EBC, AGENT, Role.ECOMMERCE)
    list_head = {"agentCode": AGENT, "ebcCode": EBC, "ebpCode": PLATFORM, "logisticsCode": "3301960301"}
    via_uscc = list_head | {"ebcCode": PLATFORM_USCC}
    with engine.connect() as conn:
        p = repo.resolve_api_key(conn, key, at=NOW)
        assert isinstance(p, Principal)
        assert {(gr.owner, gr.role) for gr in p.grants} == {(EBC, Role.ECOMMERCE), (PLATFORM, Role.ECOMMERCE)}
        # the platform's grant covers both its codes
        assert authorize_send(p, "CEB621Message", [list_head, via_uscc], at=NOW).allowed
        assert authorize_read(p, "CEB622Message", {"ebcCode": PLATFORM}, at=NOW).allowed
        assert len(repo.list_grants(conn, EBC)) == 1 and len(repo.list_grants(conn, AGENT)) == 2
    later = NOW + timedelta(days=91)
    with engine.connect() as conn:
        p = repo.resolve_api_key(conn, key, at=later)
        assert isinstance(p, Principal)
        d = authorize_send(p, "CEB621Message", [list_head], at=later)
        assert (d.status, d.code, d.field, d.document) == (403, "grant-expired", "ebcCode", 0)
    with engine.begin() as conn:
        assert repo.revoke_grant(conn, g.id, at=NOW + timedelta(days=1))
        assert not repo.revoke_grant(conn, g.id)
    with engine.connect() as conn:
        p = repo.principal_for(conn, AGENT)
        assert p is not None and p.credential is None
        d = authorize_send(p, "CEB623Message", [list_head], at=NOW + timedelta(days=2))
        assert (d.status, d.code) == (403, "grant-revoked")
        assert repo.list_grants(conn, AGENT)[0].revoked_at == NOW + timedelta(days=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"owner": AGENT, "grantee": EBC, "role": "ebc"}, "not filed as e-commerce enterprise"),
        ({"owner": EBC, "grantee": EBC, "role": "ebc"}, "itself"),
        ({"owner": EBC, "grantee": "officer-2900", "role": "ebc"}, "between enterprises"),
        ({"owner": EBC, "grantee": "4403960002", "role": "ebc"}, "no enterprise"),
        (
            {"owner": EBC, "grantee": AGENT, "role": "ebc", "message_types": ["CEB999"]},
            "unknown message type",
        ),
        ({"owner": EBC, "grantee": AGENT, "role": "ebc", "expires_at": NOW - timedelta(days=1)}, "expiry"),
        ({"owner": EBC, "grantee": AGENT, "role": "ebc", "expires_at": datetime(2027, 1, 1)}, "time zone"),
    ],
)
def test_grant_refusals(engine: Engine, kwargs: dict[str, object], message: str) -> None:
    _file_cast(engine)
    with engine.begin() as conn, pytest.raises(FilingError, match=message):
        repo.add_grant(conn, at=NOW, **kwargs)  # type: ignore[arg-type]
    with engine.connect() as conn:
        assert repo.list_grants(conn, EBC) == []


def test_certificates(engine: Engine) -> None:
    _file_cast(engine)
    pem = _certificate(39207)
    with engine.begin() as conn:
        rec = repo.add_certificate(conn, PLATFORM_USCC, pem, key_name="0001", at=NOW)
        second = repo.add_certificate(conn, PLATFORM, _certificate(2**150 + 7), at=NOW)
        repo.add_certificate(conn, AGENT, _certificate(39207), key_name="0002", at=NOW)
    assert rec.enterprise == PLATFORM and rec.info.algorithm == "rsa" and rec.info.serial == "39207"
    assert second.info.serial == str(2**150 + 7)  # beyond 64 bits: stored as decimal text
    with engine.connect() as conn:
        mine = repo.list_certificates(conn, PLATFORM)
        assert [c.id for c in mine] == [rec.id, second.id]
        assert mine[0].info == rec.info and mine[0].key_name == "0001"
        assert {c.enterprise for c in repo.find_certificates(conn, serial="39207")} == {PLATFORM, AGENT}
        assert [c.id for c in repo.find_certificates(conn, serial="39207", owner=PLATFORM_USCC)] == [rec.id]
        assert [c.enterprise for c in repo.find_certificates(conn, key_name="0002")] == [AGENT]
        assert repo.find_certificates(conn, serial="39207", owner="4403960002") == []
    with engine.begin() as conn:
        with pytest.raises(FilingError, match="already registered"):
            repo.add_certificate(conn, AGENT, pem)
        with pytest.raises(FilingError, match="cannot read"):
            repo.add_certificate(conn, AGENT, "not a certificate")
    with engine.begin() as conn:
        assert repo.revoke_certificate(conn, rec.id, at=NOW)
        assert not repo.revoke_certificate(conn, rec.id)
    with engine.connect() as conn:
        assert [c.id for c in repo.list_certificates(conn, PLATFORM, include_revoked=False)] == [second.id]
        assert repo.find_certificates(conn, serial="39207", owner=PLATFORM)[0].revoked_at == NOW


def test_schema_values_match_the_domain() -> None:
    assert set(schema.ENTERPRISE_ROLES) == {r.value for r in Role}
    assert set(schema.GRANT_ROLES) == {r.value for r in TRADE_ROLES}
    assert set(schema.ENTERPRISE_CODE_KINDS) == {k.value for k in CodeKind}
    assert set(schema.CERTIFICATE_ALGORITHMS) == {"rsa", "sm2"}
