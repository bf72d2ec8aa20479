"""File the generator's synthetic cast as enterprises, so generated traffic can go through the real API.

Each platform, e-commerce enterprise, payment and logistics company and declaring agent of
:mod:`cbec.sim.parties`, and each export supervised site of :mod:`cbec.sim.exports`, is filed in its role
with an API key, and so is each sender of the return traffic of :mod:`cbec.sim.returns` (the return hub that
declares consolidated master bills, the sites that tally returned parcels); the cross-district return site is
filed in the return-site registry.  Each e-commerce enterprise grants every agent the right to declare its
lists (import CEB621/623/625, export CEB603/605, returns and summaries), as a real one entrusts its broker;
every party that sends signed messages (agents, logistics companies for departures, sites for arrivals and
tallies) gets an RSA signing key whose certificate is filed, and the keys are written to a folder the
generators read (``$CBEC_SIM_SIGNING_DIR``), so what they sign passes the service's signature check.  For
demos, tests and benchmarks only: the keys are self-signed and sit unencrypted on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine

from cbec.messages.signature import make_test_identity
from cbec.rights import Role
from cbec.sim.chunk import ENV_SIGNING_DIR
from cbec.sim.exports import CUSTOMS as EXPORT_CUSTOMS
from cbec.sim.exports import OPERATORS as EXPORT_SITES
from cbec.sim.parties import AGENTS, ENTERPRISES, LOGISTICS, PAYMENT, PLATFORMS
from cbec.sim.returns import RETURN_SITES, return_parties
from cbec.store import enterprises
from cbec.store import export_returns as return_sites

LIST_MESSAGES = (
    "CEB621Message",
    "CEB623Message",
    "CEB625Message",
    "CEB603Message",
    "CEB605Message",
    "CEB213Message",
    "CEB701Message",
)
OFFICER = "demo-officer"
ADMIN = "demo-admin"


@dataclass(frozen=True, slots=True)
class Cast:
    keys: dict[str, str]
    """API key of each filed code (and of the officer and administrator accounts)."""
    signing_dir: Path

    def key_for_sender(self, cop_code: str) -> str:
        return self.keys[cop_code]


def file_cast(engine: Engine, signing_dir: Path, *, district: str = "2900") -> Cast:
    """File the cast (idempotent per database: a code already filed keeps its filing, gets a new key)."""
    signing_dir.mkdir(parents=True, exist_ok=True)
    keys: dict[str, str] = {}
    returns = return_parties([c for c, _port in EXPORT_CUSTOMS])
    return_agents = tuple(p for p, role in returns if role == "agent")
    return_operators = tuple(p for p, role in returns if role == "operator")
    groups = (
        (PLATFORMS, Role.PLATFORM),
        (ENTERPRISES, Role.ECOMMERCE),
        (PAYMENT, Role.PAYMENT),
        (LOGISTICS, Role.LOGISTICS),
        (AGENTS, Role.AGENT),
        (EXPORT_SITES, Role.OPERATOR),
        (return_agents, Role.AGENT),
        (return_operators, Role.OPERATOR),
    )
    with engine.begin() as conn:
        for parties, role in groups:
            for party in parties:
                if enterprises.get_enterprise(conn, party.code) is None:
                    enterprises.register_enterprise(conn, code=party.code, name=party.name, roles=[role])
                keys[party.code] = enterprises.issue_api_key(conn, party.code, label="demo").key
        for ebc in ENTERPRISES:
            for agent in AGENTS:
                if not any(
                    g.grantee == agent.code and g.revoked_at is None
                    for g in enterprises.list_grants(conn, ebc.code)
                ):
                    enterprises.add_grant(
                        conn,
                        owner=ebc.code,
                        grantee=agent.code,
                        role=Role.ECOMMERCE,
                        message_types=LIST_MESSAGES,
                    )
        signers = (*AGENTS, *LOGISTICS, *EXPORT_SITES, *return_agents, *return_operators)
        for agent in signers:  # the senders of signed messages
            key_file, cert_file = (
                signing_dir / f"{agent.code}.key.pem",
                signing_dir / f"{agent.code}.cert.pem",
            )
            if not cert_file.exists():
                ident = make_test_identity(agent.name, key_name=agent.code)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(
                        ident.key.private_bytes(
                            serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption(),
                        )
                    )
                cert_file.write_bytes(ident.certificate.public_bytes(serialization.Encoding.PEM))
            pem = cert_file.read_bytes()
            if not enterprises.list_certificates(conn, agent.code):
                enterprises.add_certificate(conn, agent.code, pem, key_name=agent.code)
        for site in RETURN_SITES:  # the cross-district return site (independent return area, data open)
            if not any(
                r["customs_code"] == site["customs_code"] and r["operator_code"] == site["operator_code"]
                for r in return_sites.sites(conn)
            ):
                return_sites.file_site(
                    conn,
                    return_sites.Site(
                        customs_code=site["customs_code"],
                        operator_code=site["operator_code"],
                        name=site["name"],
                        valid_from=date.fromisoformat(site["valid_from"]),
                    ),
                    by=ADMIN,
                )
        for account, role in ((OFFICER, Role.OFFICER), (ADMIN, Role.ADMIN)):
            if enterprises.get_enterprise(conn, account) is None:
                enterprises.register_enterprise(
                    conn,
                    code=account,
                    name="演示关员 demo officer" if role is Role.OFFICER else "演示管理员 demo administrator",
                    roles=[role],
                    district=district if role is Role.OFFICER else None,
                )
            keys[account] = enterprises.issue_api_key(conn, account, label="demo").key
    return Cast(keys=keys, signing_dir=signing_dir)


def use_signing_dir(cast: Cast) -> None:
    """Make the generator (this process and the workers it spawns) sign lists with the filed keys."""
    os.environ[ENV_SIGNING_DIR] = str(cast.signing_dir)
