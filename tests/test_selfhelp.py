"""Self-help pages (FAQ, planning, calculator) and the calculator's JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from domain.calculator import repayment_scenarios
from domain.money import format_amount
from domain.policy import BankContacts
from starter.selfhelp import choose_language, create_router, router

TODAY = date(2026, 2, 14)
BANK = BankContacts(name="长江商业银行", phone="95555", pay_url="https://bank.example/pay",
                    dispute_url="https://bank.example/dispute",
                    calculator_url="https://bank.example/help/calculator",
                    faq_url="https://bank.example/help/faq",
                    planning_url="https://bank.example/help/planning",
                    unsubscribe_url="https://bank.example/unsubscribe")


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    async with _client(app) as http:
        yield http


@pytest.fixture
async def fixed_client() -> AsyncIterator[httpx.AsyncClient]:
    """The router with the policy's bank contacts and a fixed clock."""
    app = FastAPI()
    app.include_router(create_router(BANK, clock=lambda: TODAY))
    async with _client(app) as http:
        yield http


PAGES = {
    "/help/faq": {
        "zh-Hans": ["常见问题", "罚息", "征信", "异议", "延长贷款期限", "降低每月还款金额",
                    "分期偿还", "回复“TD”", "验证码", "96110"],
        "zh-Hant": ["常見問題", "罰息", "徵信", "異議", "延長貸款期限", "降低每月還款金額",
                    "分期償還", "回覆「TD」", "驗證碼", "96110"],
        "en": ["Frequently asked questions", "penalty interest", "credit record", "dispute",
               "extending the loan term", "lowering the monthly payment", "in instalments",
               "reply “STOP”", "verification code", "96110"],
    },
    "/help/planning": {
        "zh-Hans": ["财务规划建议", "收支预算", "优先债务", "应急资金", "尽早联系银行", "12348"],
        "zh-Hant": ["財務規劃建議", "收支預算", "優先債務", "應急資金", "儘早聯繫銀行", "12348"],
        "en": ["Financial planning advice", "budget", "priority debts", "emergency fund",
               "Contact the bank early", "12348"],
    },
    "/help/calculator": {
        "zh-Hans": ["还款计算器", "逾期金额（元）", "合同年利率（%，选填）", "计算"],
        "zh-Hant": ["還款計算器", "逾期金額（元）", "合同年利率（%，選填）", "計算"],
        "en": ["Repayment calculator", "Overdue amount (CNY)",
               "Annual contract rate (%, optional)", "Calculate"],
    },
}


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
@pytest.mark.parametrize("path", list(PAGES))
async def test_each_page_in_each_language(client: httpx.AsyncClient, path: str,
                                          lang: str) -> None:
    response = await client.get(path, params={"lang": lang})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == lang
    html = response.text
    assert f'<html lang="{lang}">' in html
    for word in PAGES[path][lang]:
        assert word in html, f"{path} [{lang}] lacks {word!r}"
    # the switcher links every language, marking the current one
    for other in ("zh-Hans", "zh-Hant", "en"):
        assert f'hreflang="{other}"' in html
    assert html.count('aria-current="true"') == 1
    assert f'hreflang="{lang}" aria-current="true"' in html
    # the other languages' distinctive words are absent
    for other, words in PAGES[path].items():
        if other != lang:
            assert words[0] not in html


async def test_default_language_is_simplified_chinese(client: httpx.AsyncClient) -> None:
    response = await client.get("/help/faq")
    assert response.headers["content-language"] == "zh-Hans"
    assert "常见问题" in response.text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-TW,zh;q=0.9,en;q=0.8", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.5,zh-CN;q=0.4", "en"),
        ("de,zh-CN;q=0.3", "zh-Hans"),
        ("en;q=0.2,zh-Hant;q=0.8", "zh-Hant"),
        ("fr", "zh-Hans"),
        ("en;q=0", "zh-Hans"),
        ("", "zh-Hans"),
        ("en;q=abc, zh-Hant;q=0.1", "zh-Hant"),
    ],
)
async def test_accept_language(client: httpx.AsyncClient, header: str, expected: str) -> None:
    response = await client.get("/help/planning", headers={"Accept-Language": header})
    assert response.headers["content-language"] == expected
    assert response.headers["vary"] == "Accept-Language"


async def test_lang_parameter_beats_accept_language(client: httpx.AsyncClient) -> None:
    response = await client.get("/help/faq?lang=en", headers={"Accept-Language": "zh-TW"})
    assert response.headers["content-language"] == "en"
    # an unknown lang falls back to the header
    response = await client.get("/help/faq?lang=xx", headers={"Accept-Language": "zh-TW"})
    assert response.headers["content-language"] == "zh-Hant"


def test_choose_language_is_case_insensitive() -> None:
    assert choose_language("ZH-HANT", None) == "zh-Hant"
    assert choose_language(None, "EN-us") == "en"


async def test_bank_contacts_when_given(fixed_client: httpx.AsyncClient,
                                        client: httpx.AsyncClient) -> None:
    html = (await fixed_client.get("/help/faq", params={"lang": "zh-Hans"})).text
    assert "长江商业银行客服热线 95555" in html
    assert 'href="https://bank.example/dispute"' in html
    assert 'href="https://bank.example/unsubscribe"' in html
    generic = (await client.get("/help/faq", params={"lang": "zh-Hans"})).text
    assert "95555" not in generic
    assert "银行卡背面" in generic


CALC_INPUT = {"amount": "1000", "oldest_due": "2026-01-15", "annual_rate_percent": "4.35",
              "today": "2026-02-14"}


def _expected_amounts() -> list[str]:
    scenarios = repayment_scenarios(arrears=Decimal("1000.00"), oldest_due=date(2026, 1, 15),
                                    today=TODAY, annual_rate=Decimal("0.0435"),
                                    uplift=Decimal("0.50"))
    amounts = [p.total for p in (scenarios.today, *scenarios.later)]
    amounts += [p.penalty for p in (scenarios.today, *scenarios.later)]
    for option in scenarios.plans:
        amounts.append(option.total)
        for row in option.rows:
            amounts += [row.principal_part, row.penalty, row.total]
    return [format_amount(a, "CNY") for a in amounts]


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
async def test_calculator_renders_the_scenarios(client: httpx.AsyncClient, lang: str) -> None:
    response = await client.get("/help/calculator", params={**CALC_INPUT, "lang": lang})
    assert response.status_code == 200
    html = response.text
    for figure in _expected_amounts():  # cross-check: the domain's own figures
        assert figure in html
    # the hand-checked figures of tests/domain/test_calculator.py
    for figure in ("¥1,005.44", "¥1,006.71", "¥1,010.88", "¥1,013.60", "¥1,016.32",
                   "¥1,024.47", "¥333.34", "¥166.65"):
        assert figure in html
    assert "2026-08-13" in html  # the sixth instalment, 180 days after today
    assert 'value="1000"' in html  # the form keeps what was typed
    assert response.headers["cache-control"] == "no-store"
    assert {"zh-Hans": "分3期", "zh-Hant": "分3期", "en": "3 instalments"}[lang] in html


async def test_calculator_default_rate_is_stated(fixed_client: httpx.AsyncClient) -> None:
    response = await fixed_client.get("/help/calculator", params={
        "amount": "1000", "oldest_due": "2026-01-15", "lang": "en"})
    assert response.status_code == 200
    assert "4.35% is assumed" in response.text
    assert "¥1,005.44" in response.text  # same as entering 4.35 (fixed clock: 2026-02-14)


async def test_calculator_uplift_and_day_basis_from_query(fixed_client: httpx.AsyncClient
                                                          ) -> None:
    response = await fixed_client.get("/help/calculator", params={
        "amount": "1000", "oldest_due": "2026-01-15", "annual_rate_percent": "4.35",
        "uplift": "0", "day_basis": "365", "lang": "en"})
    # 1000 x 0.0435 x 30 / 365 = 3.5753... -> 3.58
    assert "¥3.58" in response.text
    assert 'name="uplift" value="0"' in response.text  # kept for the next submission


async def test_empty_calculator_shows_only_the_form(client: httpx.AsyncClient) -> None:
    html = (await client.get("/help/calculator", params={"lang": "en"})).text
    assert "<form" in html
    assert 'role="alert"' not in html
    assert "<table" not in html


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"amount": "abc", "oldest_due": "2026-01-15"}, "amount", "must be an amount"),
        ({"amount": "", "oldest_due": "2026-01-15"}, "amount", "is required"),
        ({"amount": "10.001", "oldest_due": "2026-01-15"}, "amount", "two decimal places"),
        ({"amount": "0", "oldest_due": "2026-01-15"}, "amount", "more than 0"),
        ({"amount": "9" * 20, "oldest_due": "2026-01-15"}, "amount", "at most"),
        ({"amount": "100", "oldest_due": "2026-02-30"}, "oldest_due", "YYYY-MM-DD"),
        ({"amount": "100", "oldest_due": "15/01/2026"}, "oldest_due", "YYYY-MM-DD"),
        ({"amount": "100", "oldest_due": "2026-03-01"}, "oldest_due", "not be after today"),
        ({"amount": "100", "oldest_due": "2026-01-15", "annual_rate_percent": "abc"},
         "annual_rate_percent", "in percent"),
        ({"amount": "100", "oldest_due": "2026-01-15", "annual_rate_percent": "150"},
         "annual_rate_percent", "between 0 and 100"),
        ({"amount": "100", "oldest_due": "2026-01-15", "uplift": "2"}, "uplift", "0.50"),
        ({"amount": "100", "oldest_due": "2026-01-15", "day_basis": "100"}, "day_basis",
         "360 or 365"),
        ({"amount": "1" * 100, "oldest_due": "2026-01-15"}, "amount", "too long"),
    ],
)
async def test_bad_calculator_input_re_renders_the_form(
    fixed_client: httpx.AsyncClient, params: dict[str, str], field: str, message: str
) -> None:
    response = await fixed_client.get("/help/calculator", params={**params, "lang": "en"})
    assert response.status_code == 200
    html = response.text
    assert 'role="alert"' in html
    assert message in html
    assert f'href="#{field}"' in html
    assert "<form" in html
    assert "<table" not in html


async def test_bad_input_message_in_chinese(fixed_client: httpx.AsyncClient) -> None:
    html = (await fixed_client.get("/help/calculator", params={
        "amount": "abc", "oldest_due": "2026-01-15", "lang": "zh-Hans"})).text
    assert "请输入金额数字" in html
    assert 'aria-invalid="true"' in html


XSS = '"><script>alert(1)</script>'


async def test_xss_in_amount_is_escaped(client: httpx.AsyncClient) -> None:
    response = await client.get("/help/calculator", params={
        "amount": XSS, "oldest_due": "2026-01-15", "lang": "en", "uplift": XSS})
    assert response.status_code == 200
    html = response.text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'value="&quot;&gt;&lt;script&gt;' in html
    # the language switcher carries the inputs URL-encoded
    assert "%3Cscript%3E" in html
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_xss_in_lang_and_other_pages(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        html = (await client.get(path, params={"lang": XSS})).text
        assert "<script>" not in html


# --- JSON -------------------------------------------------------------------------------------

async def test_json_scenarios(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/calculator", params={
        "amount": "1000", "oldest_due": "2026-01-15", "annual_rate": "0.0435",
        "today": "2026-02-14"})
    assert response.status_code == 200
    body = response.json()
    assert body["inputs"] == {"amount": "1000.00", "oldest_due": "2026-01-15",
                              "annual_rate": "0.0435", "uplift": "0.50", "day_basis": 360,
                              "today": "2026-02-14", "currency": "CNY",
                              "instalment_interval_days": 30}
    assert body["today"] == {"label": "today", "pay_on": "2026-02-14", "days_overdue": 30,
                             "arrears": "1000.00", "penalty": "5.44", "total": "1005.44"}
    assert [(p["label"], p["penalty"], p["total"]) for p in body["later"]] == [
        ("in_7_days", "6.71", "1006.71"), ("in_30_days", "10.88", "1010.88")]
    assert [(p["instalments"], p["total"]) for p in body["plans"]] == [
        (2, "1013.60"), (3, "1016.32"), (6, "1024.47")]
    assert body["plans"][1]["rows"][2] == {"number": 3, "pay_on": "2026-05-15",
                                           "principal_part": "333.34", "penalty": "1.81",
                                           "total": "335.15"}


async def test_json_today_defaults_to_the_clock(fixed_client: httpx.AsyncClient) -> None:
    body = (await fixed_client.get("/v1/calculator", params={
        "amount": "1000.00", "oldest_due": "2026-01-15", "annual_rate": "0.0435"})).json()
    assert body["inputs"]["today"] == "2026-02-14"
    assert body["today"]["total"] == "1005.44"


async def test_json_today_defaults_to_shanghai_date(client: httpx.AsyncClient) -> None:
    from starter.selfhelp import shanghai_today

    before = shanghai_today()
    body = (await client.get("/v1/calculator", params={
        "amount": "1", "oldest_due": "2000-01-01", "annual_rate": "0"})).json()
    assert body["inputs"]["today"] in {before.isoformat(), shanghai_today().isoformat()}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"oldest_due": "2026-01-15", "annual_rate": "0.0435"}, "amount"),
        ({"amount": "1e3", "oldest_due": "2026-01-15", "annual_rate": "0.0435"}, "amount"),
        ({"amount": "-5", "oldest_due": "2026-01-15", "annual_rate": "0.0435"}, "amount"),
        ({"amount": "100", "annual_rate": "0.0435"}, "oldest_due"),
        ({"amount": "100", "oldest_due": "yesterday", "annual_rate": "0.0435"}, "oldest_due"),
        ({"amount": "100", "oldest_due": "2026-01-15"}, "annual_rate"),
        ({"amount": "100", "oldest_due": "2026-01-15", "annual_rate": "4.35"}, "annual_rate"),
        ({"amount": "100", "oldest_due": "2026-01-15", "annual_rate": "0.0435",
          "today": "2026-13-01"}, "today"),
        ({"amount": "100", "oldest_due": "2026-01-15", "annual_rate": "0.0435",
          "today": "2026-01-01"}, "oldest_due"),
        ({"amount": "100", "oldest_due": "2026-01-15", "annual_rate": "0.0435",
          "uplift": "x"}, "uplift"),
        ({"amount": "100", "oldest_due": "2026-01-15", "annual_rate": "0.0435",
          "day_basis": "365.5"}, "day_basis"),
        ({"amount": "100", "oldest_due": "9999-12-01", "annual_rate": "0.0435",
          "today": "9999-12-31"}, "today"),
    ],
)
async def test_json_bad_input_is_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], parameter: str
) -> None:
    response = await client.get("/v1/calculator", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["parameter"] == parameter
    assert body["message"].startswith(f"{parameter}: ")
    assert body["error"] == "invalid_parameter"


async def test_json_never_echoes_the_input(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/calculator", params={
        "amount": XSS, "oldest_due": "2026-01-15", "annual_rate": "0.0435"})
    assert response.status_code == 422
    assert "script" not in response.text
