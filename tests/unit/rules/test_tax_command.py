"""``cbec tax`` on a Typer app of its own: exit codes, the numbers shown, and bad input without tracebacks."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cbec.commands.tax import tax

app = typer.Typer(pretty_exceptions_enable=False)
app.command()(tax)


@app.callback()
def _group() -> None:
    """A group, so the command is invoked by name as in the real CLI."""


runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["tax", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_admissible_basket_exits_0_with_the_numbers() -> None:
    code, out, _ = invoke("--item", "1901101010:100:1", "--date", "2024-05-01", "--used-quota", "1000")
    assert code == 0
    assert "9.10" in out  # 100 × 13 % × 70 %
    assert "ADMISSIBLE" in out and "可以购买" in out and "NOT ADMISSIBLE" not in out
    assert "24,900.00" in out  # 26,000 − 1,000 used − 100 now
    assert "未超过单次交易限值" in out and "within the single-transaction limit" in out


def test_several_items_freight_and_cosmetics() -> None:
    code, out, _ = invoke(
        "--item",
        "3304990029:100:1:0.005",
        "--item",
        "0401200000:100:1",
        "--freight",
        "0",
        "--date",
        "2024-05-01",
    )
    assert code == 0
    assert "23.06" in out and "6.30" in out and "29.36" in out


def test_over_the_single_limit_exits_2_with_the_code() -> None:
    code, out, _ = invoke(
        "--item", "9102210090:3000:1", "--item", "1901101010:3000:1", "--date", "2024-05-01"
    )
    assert code == 2
    assert "NOT ADMISSIBLE" in out and "不可购买" in out
    assert "-621005" in out
    assert "超过单笔限额" in out and "single-transaction limit" in out


def test_single_expensive_item_is_taxed_in_full() -> None:
    code, out, _ = invoke("--item", "9102210090:12000:1", "--date", "2024-05-01")
    assert code == 0
    assert "1,320.00" in out and "3,330.00" in out and "2,164.50" in out and "6,814.50" in out


def test_over_the_annual_quota_exits_2() -> None:
    code, out, _ = invoke("--item", "1901101010:2000:1", "--date", "2024-05-01", "--used-quota", "25000")
    assert code == 2
    assert "-621018" in out and "年度限额" in out


def test_json_output() -> None:
    code, out, _ = invoke("--item", "1901101010:100:2", "--freight", "10", "--date", "2024-05-01", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["admissible"] is True
    assert data["dutiable_value"] == "210.00"
    assert data["tax_total"] == "19.11"  # 210 × 9.1 %
    assert data["lines"][0]["hs10"] == "1901101010"
    assert data["quota_remaining"] == "25790.00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--item", "1234567890:100:1"], "unknown HS code 1234567890"),
        (["--item", "1901101010:abc:1"], "'abc' is not a number"),
        (["--item", "1901101010:100"], "expected HS10:PRICE:QTY"),
        (["--item", "19011010:100:1"], "must be 10 digits"),
        (["--item", "1901101010:100:0"], "greater than 0"),
        (["--item", "1901101010:-5:1"], "0 or more"),
        (["--item", "1901101010:100:1", "--freight", "ten"], "--freight"),
        (["--item", "1901101010:100:1", "--used-quota", "1e999999"], "used quota: 1E+999999 is too large"),
        (["--item", "1901101010:100:1", "--date", "2024-13-01"], "YYYY-MM-DD"),
        (["--item", "1901101010:100:1", "--date", "2015-06-01"], "no value in force on 2015-06-01"),
        (["--item", "1901101010:100:1", "--tariff", "/nonexistent/tariff.csv"], "cannot read file"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args: list[str], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_missing_item_is_a_usage_error() -> None:
    result = runner.invoke(app, ["tax"])
    assert result.exit_code == 2
    assert "--item" in result.output
    assert "Traceback" not in result.output
