"""The cast of a synthetic day: platforms, e-commerce enterprises, payment and logistics companies, agents.

Codes are 10-character customs registration codes in the shape real ones have (4-digit district + 1 type +
5 serial); names are invented.  DXP ids follow the DXPENT + 10 digits pattern (regime reference §2.1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Party:
    code: str
    name: str

    @property
    def dxp_id(self) -> str:
        digits = "".join(ch for ch in self.code if ch.isdigit())[-10:].rjust(10, "0")
        return f"DXPENT{digits}"


PLATFORMS = (
    Party("3301960001", "杭州云购跨境电子商务有限公司"),
    Party("4403960002", "深圳海淘优选科技有限公司"),
    Party("3101960003", "上海全球购网络科技有限公司"),
    Party("4601960004", "海南自贸港环球购电子商务有限公司"),
)
ENTERPRISES = (
    Party("3301960101", "杭州美妆国际贸易有限公司"),
    Party("4403960102", "深圳母婴优品进出口有限公司"),
    Party("3101960103", "上海腕表精品贸易有限公司"),
    Party("4601960104", "海口数码严选商贸有限公司"),
    Party("3301960105", "宁波保税仓储电商有限公司"),
)
PAYMENT = (
    Party("3101960201", "示例支付科技有限公司"),
    Party("4403960202", "样本第三方支付有限公司"),
    Party("1101960203", "演示银行股份有限公司"),
)
LOGISTICS = (
    Party("3301960301", "示例国际快递有限公司"),
    Party("4403960302", "样例跨境物流有限公司"),
    Party("1101960303", "演示邮政速递物流有限公司"),
)
AGENTS = (
    Party("3301960401", "杭州通关代理报关有限公司"),
    Party("4403960402", "深圳前海报关服务有限公司"),
)
# 1210 bonded zones: (customs code, port code, zone enterprise code, zone name, ledger emsNo)
BONDED_ZONES = (
    ("2924", "2924", "3301960501", "杭州综合保税区", "T2924W000001"),
    ("5349", "5349", "4403960502", "深圳前海综合保税区", "T5349W000002"),
)
# 9610 direct-purchase ports: (customs code, port code)
DIRECT_PORTS = (("2900", "2900"), ("5300", "5300"), ("2233", "2233"))
