"""Public self-help pages sent with the reminders: FAQ, financial planning, repayment calculator.

The bank's process sends "还款计划计算器、常见疑问解答以及财务规划建议" with its early
reminders; the SMS and e-mail templates link here (``bank.faq_url`` etc. in the policy).

* ``GET /help/faq``, ``GET /help/planning``, ``GET /help/calculator``: plain, accessible
  HTML in Simplified Chinese, Traditional Chinese and English, chosen by
  ``?lang=zh-Hans|zh-Hant|en``, else by ``Accept-Language``, else Simplified Chinese.
  Every page has a language switcher.
* ``GET /v1/calculator``: the calculator's scenarios as JSON (amounts as strings, two
  places); bad input is a 422 naming the parameter.

The pages are public: they never show or ask for personal data, and every value a visitor
typed is escaped before it is written back. The calculator is ``domain.calculator``; the
penalty uplift (0.50) and day basis (360) default to what ``policy/default.toml`` and
``domain.policy.PenaltyPolicy`` hold, and can be set with ``?uplift=`` and ``?day_basis=``.
"today" is the current date in Asia/Shanghai unless ``?today=YYYY-MM-DD`` is given.

Mount it with ``app.include_router(router)`` (generic contact wording) or
``app.include_router(create_router(policy.bank))`` to name the bank, its hotline and links.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from domain.calculator import (
    DAY_BASES,
    DEFAULT_DAY_BASIS,
    INSTALMENT_INTERVAL_DAYS,
    CalculatorError,
    InstalmentOption,
    PayOnDate,
    Scenarios,
    repayment_scenarios,
)
from domain.money import format_amount, to_money
from domain.policy import BankContacts
from domain.templates import pick_locale

LANGS = ("zh-Hans", "zh-Hant", "en")
DEFAULT_LANG = "zh-Hans"
BANK_ZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_UPLIFT = Decimal("0.50")
"""Mirrors ``[penalty] uplift`` in ``policy/default.toml`` (and ``PenaltyPolicy``'s default)."""
DEFAULT_ANNUAL_RATE = Decimal("0.0435")
"""Assumed on the HTML form when the visitor leaves the contract rate empty (4.35%, the
former PBoC one-year benchmark lending rate); the JSON API requires the rate."""
MAX_AMOUNT = Decimal("9999999999999.99")
"""The largest amount the case tables hold (NUMERIC(15, 2))."""
MAX_ANNUAL_RATE = Decimal("1")
MAX_UPLIFT = Decimal("1")
"""``PenaltyPolicy`` allows 0 to 1 (PBoC: +30% to +50%)."""
MAX_INPUT_CHARS = 64
CURRENCY = "CNY"

_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_QUALITY = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)", re.ASCII)


def shanghai_today() -> date:
    return datetime.now(BANK_ZONE).date()


# --- language -----------------------------------------------------------------------------

def _supported(tag: str) -> str | None:
    tag = tag.strip().replace("_", "-").lower()
    if tag == "zh" or tag.startswith(("zh-", "en-")) or tag == "en":
        return pick_locale(tag)
    return None


def choose_language(lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` if it names a supported language, else the best of Accept-Language."""
    if lang:
        for supported in LANGS:
            if lang.strip().lower() == supported.lower():
                return supported
    if accept_language:
        ranked: list[tuple[float, int, str]] = []
        for index, item in enumerate(accept_language.split(",")[:20]):
            tag, *params = item.split(";")
            quality = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    value = value.strip()
                    quality = float(value) if _QUALITY.fullmatch(value) else -1.0
            picked = _supported(tag)
            if picked is not None and quality > 0:
                ranked.append((-quality, index, picked))
        if ranked:
            return min(ranked)[2]
    return DEFAULT_LANG


LANGUAGE_NAMES = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}

UI: dict[str, dict[str, str]] = {
    "skip": {"zh-Hans": "跳到正文", "zh-Hant": "跳到正文", "en": "Skip to content"},
    "languages": {"zh-Hans": "语言", "zh-Hant": "語言", "en": "Language"},
    "pages": {"zh-Hans": "自助服务", "zh-Hant": "自助服務", "en": "Self-help"},
    "faq": {"zh-Hans": "常见问题", "zh-Hant": "常見問題", "en": "Frequently asked questions"},
    "planning": {"zh-Hans": "财务规划建议", "zh-Hant": "財務規劃建議",
                 "en": "Financial planning advice"},
    "calculator": {"zh-Hans": "还款计算器", "zh-Hant": "還款計算器",
                   "en": "Repayment calculator"},
    "self_help": {"zh-Hans": "贷款逾期自助服务", "zh-Hant": "貸款逾期自助服務",
                  "en": "Overdue loan self-help"},
    "footer": {
        "zh-Hans": "本页面不会要求您填写姓名、证件号码、银行卡号、密码或验证码。"
                   "计算结果仅供参考，实际金额以我行账单为准。",
        "zh-Hant": "本頁面不會要求您填寫姓名、證件號碼、銀行卡號、密碼或驗證碼。"
                   "計算結果僅供參考，實際金額以我行賬單為準。",
        "en": "This page never asks for your name, ID number, card number, password or "
              "verification code. Calculations are estimates; the bank's statement prevails.",
    },
}


def _t(key: str, lang: str) -> str:
    return UI[key][lang]


# --- contacts (public bank details, never customer data) -----------------------------------

@dataclass(frozen=True)
class _Contacts:
    hotline: str
    pay_where: str
    dispute_where: str
    optout_where: str
    bank_name: str


def _link(url: str) -> str:
    return f'<a href="{escape(url)}">{escape(url)}</a>'


def _contacts(bank: BankContacts | None, lang: str) -> _Contacts:
    if bank is None:
        return _Contacts(
            hotline={
                "zh-Hans": "我行官方客服热线（见我行官方网站、银行卡背面或借款合同）",
                "zh-Hant": "我行官方客服熱線（見我行官方網站、銀行卡背面或借款合同）",
                "en": "our official customer-service hotline (on our official website, "
                      "the back of your bank card or your loan contract)",
            }[lang],
            pay_where={
                "zh-Hans": "手机银行、网上银行或任一网点",
                "zh-Hant": "手機銀行、網上銀行或任一網點",
                "en": "mobile banking, online banking or any branch",
            }[lang],
            dispute_where={
                "zh-Hans": "客服热线或任一网点", "zh-Hant": "客服熱線或任一網點",
                "en": "our customer-service hotline or any branch",
            }[lang],
            optout_where="",
            bank_name=_t("self_help", lang),
        )
    name, phone = escape(bank.name), escape(bank.phone)
    return _Contacts(
        hotline={
            "zh-Hans": f"{name}客服热线 {phone}", "zh-Hant": f"{name}客服熱線 {phone}",
            "en": f"{name} customer service on {phone}",
        }[lang],
        pay_where={
            "zh-Hans": f"手机银行、网上银行（{_link(bank.pay_url)}）或任一网点",
            "zh-Hant": f"手機銀行、網上銀行（{_link(bank.pay_url)}）或任一網點",
            "en": f"mobile banking, online banking ({_link(bank.pay_url)}) or any branch",
        }[lang],
        dispute_where={
            "zh-Hans": f"{_link(bank.dispute_url)}、客服热线或任一网点",
            "zh-Hant": f"{_link(bank.dispute_url)}、客服熱線或任一網點",
            "en": f"{_link(bank.dispute_url)}, our customer-service hotline or any branch",
        }[lang],
        optout_where={
            "zh-Hans": f"（或访问 {_link(bank.unsubscribe_url)}）",
            "zh-Hant": f"（或訪問 {_link(bank.unsubscribe_url)}）",
            "en": f" (or visit {_link(bank.unsubscribe_url)})",
        }[lang],
        bank_name=name,
    )


# --- page frame -----------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
line-height:1.6;max-width:46rem;margin:0 auto;padding:1rem;color:#1a1a1a;background:#fff}
a{color:#0645ad}a:focus,input:focus,button:focus{outline:3px solid #f0a500;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:.25rem 0}
[aria-current]{font-weight:bold}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
caption{text-align:left;font-weight:bold;padding:.25rem 0}
th,td{border:1px solid #767676;padding:.35rem .5rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
label{display:block;margin-top:.75rem;font-weight:bold}
input{font-size:1rem;padding:.4rem;border:1px solid #555;max-width:100%}
button{font-size:1rem;padding:.5rem 1.25rem;margin-top:1rem}
.error{color:#b00020;font-weight:bold}
.alert{border:2px solid #b00020;padding:.5rem 1rem;margin:1rem 0}
.hint{color:#444;font-size:.95rem}
"""

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept-Language",
}


def _query_link(params: Mapping[str, str]) -> str:
    return escape("?" + urlencode(params))


def _page(*, lang: str, page: str, contacts: _Contacts, body: str,
          keep: Mapping[str, str] | None = None, no_store: bool = False) -> HTMLResponse:
    kept = {k: v for k, v in (keep or {}).items() if k != "lang"}
    switcher = "".join(
        f'<li><a href="{_query_link({**kept, "lang": code})}" lang="{code}" hreflang="{code}"'
        + (' aria-current="true"' if code == lang else "")
        + f">{LANGUAGE_NAMES[code]}</a></li>"
        for code in LANGS)
    pages = "".join(
        f'<li><a href="{name}?lang={lang}"'
        + (' aria-current="page"' if name == page else "")
        + f">{_t(name, lang)}</a></li>"
        for name in ("faq", "calculator", "planning"))
    title = _t(page, lang)
    html = f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · {contacts.bank_name}</title>
<style>{_STYLE}</style>
</head>
<body>
<a class="skip" href="#main">{_t("skip", lang)}</a>
<header>
<p>{contacts.bank_name}</p>
<nav aria-label="{_t("languages", lang)}"><ul>{switcher}</ul></nav>
<nav aria-label="{_t("pages", lang)}"><ul>{pages}</ul></nav>
</header>
<main id="main">
<h1>{title}</h1>
{body}
</main>
<footer><p class="hint">{_t("footer", lang)}</p></footer>
</body>
</html>
"""
    headers = {**_SECURITY_HEADERS, "Content-Language": lang}
    if no_store:
        headers["Cache-Control"] = "no-store"
    return HTMLResponse(html, headers=headers)


# --- FAQ --------------------------------------------------------------------------------------

FAQ: dict[str, list[tuple[str, list[str]]]] = {
    "zh-Hans": [
        ("我为什么会收到这条消息？", [
            "您在我行的贷款有一期或多期还款未在约定的还款日足额还清。我行按照借款合同和监管要求，"
            "只向借款人本人发送还款提醒，告知逾期金额、应还日期和可能产生的影响。",
            "如果您已经还款，款项入账可能有延迟，请忽略该提醒；如对金额有疑问，请联系{hotline}。",
        ]),
        ("什么是逾期？什么是罚息？", [
            "逾期是指没有按合同约定的日期足额偿还贷款本金或利息。应还日当天未还清的款项，即为逾期款项。",
            "罚息是逾期期间按日计收的利息，利率为合同利率上浮一定比例（例如上浮50%）："
            "逾期金额 × 合同年利率 ×（1 + 上浮比例）× 逾期天数 ÷ 360。越早还款，罚息越少。"
            '您可以用<a href="calculator?lang=zh-Hans">还款计算器</a>估算。',
        ]),
        ("逾期会影响我的征信记录吗？", [
            "会。逾期记录会按规定报送金融信用信息基础数据库（征信系统），"
            "可能影响您今后申请贷款、信用卡等业务。不良记录自逾期结清之日起保留5年。",
            "尽快还清逾期款项，可以避免逾期天数和不良记录继续增加。",
        ]),
        ("如何还款？", [
            "您可以通过{pay_where}还款。还款会先冲抵最早一期的逾期款项。",
            "请只向您本人贷款的还款账户还款，切勿转账到任何个人账户或所谓的“安全账户”。",
        ]),
        ("我对欠款有异议，怎么办？", [
            "如果您认为金额有误、已经还款，或这笔贷款不是您本人办理的，"
            "请通过{dispute_where}提出异议，说明理由并附上凭证。",
            "异议处理期间我行暂停催收，处理结果会通知您。",
        ]),
        ("我暂时还不上，怎么办？", [
            "请尽早联系{hotline}。越早沟通，可以选择的方案越多。",
            "我们会根据您的收入和支出情况与您协商还款方案，例如：延长贷款期限、降低每月还款金额、"
            "将逾期款项分期偿还。每个方案都会列明具体的还款时间表，供您选择。",
            "如果因疾病、失业、灾害等特殊情况暂时无法还款，请告诉我们，"
            "我行会安排专门的客户服务代表与您联系。",
        ]),
        ("如何退订短信或邮件提醒？", [
            "短信：回复“TD”即可退订。邮件：点击邮件末尾的退订链接{optout_where}。",
            "退订后我行不再通过该渠道向您发送提醒，但您的还款义务不变，罚息仍按日计收。",
        ]),
        ("这条消息是真的吗？如何防范诈骗？", [
            "我行绝不会通过短信、电话或邮件向您索要密码、短信验证码或完整的银行卡信息，"
            "也不会要求您转账到“安全账户”或任何个人账户。",
            "不要点击来历不明的链接，也不要拨打可疑消息中留下的电话。"
            "请通过我行官方网站、官方手机银行或银行卡背面的客服热线核实。",
            "如果怀疑遇到诈骗，请拨打110报警，或拨打96110反诈专线咨询。",
        ]),
    ],
    "zh-Hant": [
        ("我為什麼會收到這條消息？", [
            "您在我行的貸款有一期或多期還款未在約定的還款日足額還清。我行按照借款合同和監管要求，"
            "只向借款人本人發送還款提醒，告知逾期金額、應還日期和可能產生的影響。",
            "如果您已經還款，款項入賬可能有延遲，請忽略該提醒；如對金額有疑問，請聯繫{hotline}。",
        ]),
        ("什麼是逾期？什麼是罰息？", [
            "逾期是指沒有按合同約定的日期足額償還貸款本金或利息。應還日當天未還清的款項，即為逾期款項。",
            "罰息是逾期期間按日計收的利息，利率為合同利率上浮一定比例（例如上浮50%）："
            "逾期金額 × 合同年利率 ×（1 + 上浮比例）× 逾期天數 ÷ 360。越早還款，罰息越少。"
            '您可以用<a href="calculator?lang=zh-Hant">還款計算器</a>估算。',
        ]),
        ("逾期會影響我的徵信記錄嗎？", [
            "會。逾期記錄會按規定報送金融信用信息基礎數據庫（徵信系統），"
            "可能影響您今後申請貸款、信用卡等業務。不良記錄自逾期結清之日起保留5年。",
            "儘快還清逾期款項，可以避免逾期天數和不良記錄繼續增加。",
        ]),
        ("如何還款？", [
            "您可以通過{pay_where}還款。還款會先沖抵最早一期的逾期款項。",
            "請只向您本人貸款的還款賬戶還款，切勿轉賬到任何個人賬戶或所謂的「安全賬戶」。",
        ]),
        ("我對欠款有異議，怎麼辦？", [
            "如果您認為金額有誤、已經還款，或這筆貸款不是您本人辦理的，"
            "請通過{dispute_where}提出異議，說明理由並附上憑證。",
            "異議處理期間我行暫停催收，處理結果會通知您。",
        ]),
        ("我暫時還不上，怎麼辦？", [
            "請儘早聯繫{hotline}。越早溝通，可以選擇的方案越多。",
            "我們會根據您的收入和支出情況與您協商還款方案，例如：延長貸款期限、降低每月還款金額、"
            "將逾期款項分期償還。每個方案都會列明具體的還款時間表，供您選擇。",
            "如果因疾病、失業、災害等特殊情況暫時無法還款，請告訴我們，"
            "我行會安排專門的客戶服務代表與您聯繫。",
        ]),
        ("如何退訂短信或郵件提醒？", [
            "短信：回覆「TD」即可退訂。郵件：點擊郵件末尾的退訂鏈接{optout_where}。",
            "退訂後我行不再通過該渠道向您發送提醒，但您的還款義務不變，罰息仍按日計收。",
        ]),
        ("這條消息是真的嗎？如何防範詐騙？", [
            "我行絕不會通過短信、電話或郵件向您索要密碼、短信驗證碼或完整的銀行卡信息，"
            "也不會要求您轉賬到「安全賬戶」或任何個人賬戶。",
            "不要點擊來歷不明的鏈接，也不要撥打可疑消息中留下的電話。"
            "請通過我行官方網站、官方手機銀行或銀行卡背面的客服熱線核實。",
            "如果懷疑遇到詐騙，請撥打110報警，或撥打96110反詐專線諮詢。",
        ]),
    ],
    "en": [
        ("Why did I get this message?", [
            "One or more repayments on your loan with us were not paid in full on the due date. "
            "As the loan contract and the regulations require, we remind the borrower, and only "
            "the borrower, of the overdue amount, the due date and what it can lead to.",
            "If you have already paid, the payment may still be on its way: please ignore the "
            "reminder. If you have questions about the amount, contact {hotline}.",
        ]),
        ("What does overdue mean? What is penalty interest?", [
            "A repayment is overdue when the principal or interest was not paid in full by the "
            "date in your contract.",
            "Penalty interest accrues every day a repayment is overdue, at the contract rate "
            "plus an uplift (for example +50%): overdue amount × annual contract rate × "
            "(1 + uplift) × days overdue ÷ 360. The sooner you pay, the less you pay. "
            'Try the <a href="calculator?lang=en">repayment calculator</a>.',
        ]),
        ("How does it affect my credit record?", [
            "Overdue repayments are reported to the national credit reference database, and may "
            "affect future applications for loans and credit cards. A negative record is kept "
            "for 5 years from the day the arrears are settled.",
            "Paying the arrears soon stops the days overdue, and the record, from growing.",
        ]),
        ("How do I pay?", [
            "You can pay through {pay_where}. Payments clear the oldest overdue repayment first.",
            "Only pay into your own loan's repayment account. Never transfer money to a personal "
            "account or a so-called “safe account”.",
        ]),
        ("I disagree with what I am asked to pay. What can I do?", [
            "If you think the amount is wrong, you have already paid, or you never took out this "
            "loan, raise a dispute through {dispute_where}, with your reasons and any receipts.",
            "We pause collection while we review a dispute, and tell you the outcome.",
        ]),
        ("I can't pay right now. What should I do?", [
            "Contact {hotline} as early as you can: the sooner we talk, the more options "
            "there are.",
            "Based on your income and expenses we can agree a plan with you, for example: "
            "extending the loan term, lowering the monthly payment, or paying the arrears in "
            "instalments. Each option comes with its repayment timetable so you can choose.",
            "If illness, unemployment, a disaster or other special circumstances stop you "
            "paying for now, tell us: a dedicated customer-service representative will contact "
            "you.",
        ]),
        ("How do I stop SMS or e-mail reminders?", [
            "SMS: reply “STOP”. E-mail: use the unsubscribe link at the end of the e-mail"
            "{optout_where}.",
            "We then stop reminding you on that channel, but the repayments are still due and "
            "penalty interest still accrues every day.",
        ]),
        ("Is this message genuine? How do I avoid fraud?", [
            "We never ask for your password, SMS verification code or full card details by SMS, "
            "phone or e-mail, and never ask you to move money to a “safe account” or a personal "
            "account.",
            "Don't open links you are unsure of, and don't call numbers given in a suspicious "
            "message. Check through our official website, our official mobile banking app or "
            "the hotline on the back of your bank card.",
            "If you suspect fraud, call the police on 110, or the national anti-fraud line 96110.",
        ]),
    ],
}

PLANNING: dict[str, list[tuple[str, list[str]]]] = {
    "zh-Hans": [
        ("1. 做一份收支预算", [
            "列出每月的全部收入，以及房租或房贷、伙食、水电燃气、交通、医疗、子女教育等必要支出。"
            "收入减去必要支出，就是每月可以用来还款的金额。",
            "记录一个月的实际花销，找出可以暂时减少的非必要支出。",
        ]),
        ("2. 先还优先债务", [
            "优先偿还后果最严重的债务：住房（房贷、房租）、水电燃气、税费，以及有抵押或担保的贷款；"
            "其次是会产生罚息并报送征信的贷款和信用卡。",
            "不要借新的高息贷款（如来路不明的网络贷款）去还旧债，那只会让债务越滚越大。",
        ]),
        ("3. 建立应急资金", [
            "目标是存下3至6个月的必要生活开支，以应对失业、疾病等意外。"
            "可以从每月存一小笔开始，存入与日常消费分开的账户。",
        ]),
        ("4. 尽早联系银行", [
            "一旦预计还款有困难，请在逾期之前或刚逾期时就联系{hotline}。"
            "越早沟通，可选择的方案越多，例如延长贷款期限、降低每月还款金额、将逾期款项分期偿还。",
            '用<a href="calculator?lang=zh-Hans">还款计算器</a>'
            "比较现在还款、稍后还款和分期还款的差别。",
        ]),
        ("5. 寻求免费的正规咨询", [
            "您可以免费咨询我行网点的工作人员，也可以拨打12348公共法律服务热线了解法律援助，"
            "或拨打12378金融消费者投诉热线反映问题。",
            "警惕收费的“债务优化”“停息挂账代办”“征信修复”等中介：它们无法做到承诺的事，"
            "还可能骗取费用和个人信息。与银行协商不需要支付任何中介费。",
        ]),
        ("6. 保护好信用记录", [
            "开通自动扣款并在还款日前确认账户余额充足，设置手机还款提醒。",
            "按时还款是修复信用记录唯一有效的方法。",
        ]),
    ],
    "zh-Hant": [
        ("1. 做一份收支預算", [
            "列出每月的全部收入，以及房租或房貸、伙食、水電燃氣、交通、醫療、子女教育等必要支出。"
            "收入減去必要支出，就是每月可以用來還款的金額。",
            "記錄一個月的實際花銷，找出可以暫時減少的非必要支出。",
        ]),
        ("2. 先還優先債務", [
            "優先償還後果最嚴重的債務：住房（房貸、房租）、水電燃氣、稅費，以及有抵押或擔保的貸款；"
            "其次是會產生罰息並報送徵信的貸款和信用卡。",
            "不要借新的高息貸款（如來路不明的網絡貸款）去還舊債，那只會讓債務越滾越大。",
        ]),
        ("3. 建立應急資金", [
            "目標是存下3至6個月的必要生活開支，以應對失業、疾病等意外。"
            "可以從每月存一小筆開始，存入與日常消費分開的賬戶。",
        ]),
        ("4. 儘早聯繫銀行", [
            "一旦預計還款有困難，請在逾期之前或剛逾期時就聯繫{hotline}。"
            "越早溝通，可選擇的方案越多，例如延長貸款期限、降低每月還款金額、將逾期款項分期償還。",
            '用<a href="calculator?lang=zh-Hant">還款計算器</a>'
            "比較現在還款、稍後還款和分期還款的差別。",
        ]),
        ("5. 尋求免費的正規諮詢", [
            "您可以免費諮詢我行網點的工作人員，也可以撥打12348公共法律服務熱線了解法律援助，"
            "或撥打12378金融消費者投訴熱線反映問題。",
            "警惕收費的「債務優化」「停息掛賬代辦」「徵信修復」等中介：它們無法做到承諾的事，"
            "還可能騙取費用和個人信息。與銀行協商不需要支付任何中介費。",
        ]),
        ("6. 保護好信用記錄", [
            "開通自動扣款並在還款日前確認賬戶餘額充足，設置手機還款提醒。",
            "按時還款是修復信用記錄唯一有效的方法。",
        ]),
    ],
    "en": [
        ("1. Make a budget", [
            "List your monthly income and your essential spending: rent or mortgage, food, "
            "utilities, transport, medical costs, children's education. What is left is what you "
            "can put towards repayments each month.",
            "Track one month of actual spending to find the non-essential costs you can cut for "
            "now.",
        ]),
        ("2. Pay priority debts first", [
            "Pay first the debts with the most serious consequences: your home (mortgage, rent), "
            "utilities, taxes and secured or guaranteed loans; then loans and cards that charge "
            "penalty interest and are reported to the credit bureau.",
            "Don't take out new high-interest loans (such as unknown online lenders) to repay old "
            "ones: that only makes the debt grow.",
        ]),
        ("3. Build an emergency fund", [
            "Aim for 3 to 6 months of essential spending, for job loss or illness. Start with a "
            "small amount every month, kept in an account apart from day-to-day spending.",
        ]),
        ("4. Contact the bank early", [
            "As soon as you expect trouble paying, contact {hotline}, before or just after a "
            "payment is missed. The earlier we talk, the more options there are: extending the "
            "term, lowering the monthly payment, paying the arrears in instalments.",
            'Use the <a href="calculator?lang=en">repayment calculator</a> to compare paying '
            "now, later or in instalments.",
        ]),
        ("5. Get free, trustworthy advice", [
            "Ask the staff at any of our branches, free of charge; call 12348, the public legal "
            "service line, about legal aid; or call 12378, the financial consumer complaints "
            "line.",
            "Beware of paid “debt optimisation”, “interest freeze” or “credit repair” agents: "
            "they cannot do what they promise and may take your fees and personal data. "
            "Agreeing a plan with the bank never requires an agent or a fee.",
        ]),
        ("6. Protect your credit record", [
            "Set up automatic debit, check the balance before each due date, and set a reminder "
            "on your phone.",
            "Paying on time is the only thing that repairs a credit record.",
        ]),
    ],
}


def _sections(items: list[tuple[str, list[str]]], contacts: _Contacts) -> str:
    fill = {"hotline": contacts.hotline, "pay_where": contacts.pay_where,
            "dispute_where": contacts.dispute_where, "optout_where": contacts.optout_where}
    parts = []
    for index, (heading, paragraphs) in enumerate(items, start=1):
        body = "".join(f"<p>{p.format_map(fill)}</p>" for p in paragraphs)
        parts.append(f'<section aria-labelledby="s{index}"><h2 id="s{index}">{heading}</h2>'
                     f"{body}</section>")
    return "\n".join(parts)


# --- calculator input -----------------------------------------------------------------------

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"zh-Hans": "请填写此项。", "zh-Hant": "請填寫此項。", "en": "is required"},
    "too_long": {"zh-Hans": "输入过长。", "zh-Hant": "輸入過長。", "en": "is too long"},
    "amount_invalid": {
        "zh-Hans": "请输入金额数字，例如 1234.56。", "zh-Hant": "請輸入金額數字，例如 1234.56。",
        "en": "must be an amount such as 1234.56"},
    "amount_places": {
        "zh-Hans": "金额最多保留两位小数。", "zh-Hant": "金額最多保留兩位小數。",
        "en": "must have at most two decimal places"},
    "amount_range": {
        "zh-Hans": "金额须大于0且不超过9,999,999,999,999.99。",
        "zh-Hant": "金額須大於0且不超過9,999,999,999,999.99。",
        "en": "must be more than 0 and at most 9999999999999.99"},
    "date_invalid": {
        "zh-Hans": "请按“年-月-日”输入日期，例如 2026-01-15。",
        "zh-Hant": "請按「年-月-日」輸入日期，例如 2026-01-15。",
        "en": "must be a date as YYYY-MM-DD, e.g. 2026-01-15"},
    "date_future": {
        "zh-Hans": "应还日期不能晚于今天。", "zh-Hant": "應還日期不能晚於今天。",
        "en": "must not be after today"},
    "rate_percent_invalid": {
        "zh-Hans": "请输入年利率百分数，例如 4.35，范围0至100。",
        "zh-Hant": "請輸入年利率百分數，例如 4.35，範圍0至100。",
        "en": "must be an annual rate in percent between 0 and 100, e.g. 4.35"},
    "rate_fraction_invalid": {
        "zh-Hans": "年利率须为0至1之间的小数，例如 0.0435 表示 4.35%。",
        "zh-Hant": "年利率須為0至1之間的小數，例如 0.0435 表示 4.35%。",
        "en": "must be a fraction between 0 and 1, e.g. 0.0435 for 4.35%"},
    "uplift_invalid": {
        "zh-Hans": "上浮比例须为0至1之间的小数，例如 0.50。",
        "zh-Hant": "上浮比例須為0至1之間的小數，例如 0.50。",
        "en": "must be a fraction between 0 and 1, e.g. 0.50"},
    "day_basis_invalid": {
        "zh-Hans": "计息天数须为360或365。", "zh-Hant": "計息天數須為360或365。",
        "en": "must be 360 or 365"},
    "cannot_compute": {
        "zh-Hans": "无法按这些数据计算，请检查输入。",
        "zh-Hant": "無法按這些數據計算，請檢查輸入。",
        "en": "cannot be used for the calculation"},
}


@dataclass(frozen=True)
class Problem:
    parameter: str
    code: str
    detail: str = ""
    """The domain's own (English) wording, for ``cannot_compute``."""

    def message(self, lang: str) -> str:
        text = MESSAGES[self.code][lang]
        return f"{text} ({self.detail})" if self.detail and lang == "en" else text


@dataclass
class CalculatorInput:
    amount: Decimal | None = None
    oldest_due: date | None = None
    annual_rate: Decimal | None = None
    rate_assumed: bool = False
    uplift: Decimal = DEFAULT_UPLIFT
    day_basis: int = DEFAULT_DAY_BASIS
    today: date | None = None
    problems: list[Problem] = field(default_factory=list)


def _number(raw: str) -> Decimal | None:
    cleaned = raw.strip().replace(",", "").replace("，", "").replace(" ", "")
    cleaned = cleaned.removeprefix("¥").removeprefix("￥").removesuffix("%")
    return Decimal(cleaned) if _NUMBER.fullmatch(cleaned) else None


def _date(raw: str) -> date | None:
    text = raw.strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.year >= 1900 else None


def parse_calculator_input(params: Mapping[str, str | None], *, today: date,
                           rate_param: str, rate_in_percent: bool,
                           rate_required: bool) -> CalculatorInput:
    """Check every parameter; problems name the parameter and never echo its value."""
    result = CalculatorInput()
    problems = result.problems
    raw = {name: (value if value is not None else "") for name, value in params.items()}
    for name, value in raw.items():
        if len(value) > MAX_INPUT_CHARS:
            problems.append(Problem(name, "too_long"))
    too_long = {p.parameter for p in problems}

    def given(name: str) -> str | None:
        value = raw.get(name, "").strip()
        return value if value and name not in too_long else None

    if (text := given("amount")) is None:
        if "amount" not in too_long:
            problems.append(Problem("amount", "required"))
    elif (amount := _number(text)) is None:
        problems.append(Problem("amount", "amount_invalid"))
    elif not Decimal("0") < amount <= MAX_AMOUNT:
        problems.append(Problem("amount", "amount_range"))
    elif (cents := to_money(amount)) != amount:
        problems.append(Problem("amount", "amount_places"))
    else:
        result.amount = cents

    if (text := given("today")) is not None:
        if (parsed := _date(text)) is None:
            problems.append(Problem("today", "date_invalid"))
        else:
            today = parsed
    result.today = today

    if (text := given("oldest_due")) is None:
        if "oldest_due" not in too_long:
            problems.append(Problem("oldest_due", "required"))
    elif (due := _date(text)) is None:
        problems.append(Problem("oldest_due", "date_invalid"))
    elif due > today:
        problems.append(Problem("oldest_due", "date_future"))
    else:
        result.oldest_due = due

    rate_code = "rate_percent_invalid" if rate_in_percent else "rate_fraction_invalid"
    if (text := given(rate_param)) is None:
        if rate_param in too_long:
            pass
        elif rate_required:
            problems.append(Problem(rate_param, "required"))
        else:
            result.annual_rate, result.rate_assumed = DEFAULT_ANNUAL_RATE, True
    elif (rate := _number(text)) is None:
        problems.append(Problem(rate_param, rate_code))
    else:
        rate = rate / 100 if rate_in_percent else rate
        if rate > MAX_ANNUAL_RATE:
            problems.append(Problem(rate_param, rate_code))
        else:
            result.annual_rate = rate

    if (text := given("uplift")) is not None:
        uplift = _number(text)
        if uplift is None or uplift > MAX_UPLIFT:
            problems.append(Problem("uplift", "uplift_invalid"))
        else:
            result.uplift = uplift
    if (text := given("day_basis")) is not None:
        if text not in {str(basis) for basis in DAY_BASES}:
            problems.append(Problem("day_basis", "day_basis_invalid"))
        else:
            result.day_basis = int(text)
    return result


_DOMAIN_TO_PARAM = {"arrears": "amount", "overdue_principal": "amount",
                    "oldest_due": "oldest_due", "uplift": "uplift", "day_basis": "day_basis"}


def compute(data: CalculatorInput, rate_param: str) -> Scenarios | None:
    """The scenarios, or None with a problem added when the domain refuses the input."""
    if data.problems:
        return None
    assert data.amount is not None and data.oldest_due is not None  # no problems: all set
    assert data.annual_rate is not None and data.today is not None
    try:
        return repayment_scenarios(arrears=data.amount, oldest_due=data.oldest_due,
                                   today=data.today, annual_rate=data.annual_rate,
                                   uplift=data.uplift, day_basis=data.day_basis)
    except CalculatorError as exc:
        param = rate_param if exc.field == "annual_rate" else _DOMAIN_TO_PARAM.get(exc.field,
                                                                                   "today")
        data.problems.append(Problem(param, "cannot_compute", exc.message))
        return None


# --- calculator output ------------------------------------------------------------------------

CALC: dict[str, dict[str, str]] = {
    "intro": {
        "zh-Hans": "输入逾期金额和最早一期未还款的应还日期，看看今天还、稍后还或分期还各需多少钱。"
                   "本页面不需要也不会保存任何个人信息。",
        "zh-Hant": "輸入逾期金額和最早一期未還款的應還日期，看看今天還、稍後還或分期還各需多少錢。"
                   "本頁面不需要也不會保存任何個人信息。",
        "en": "Enter the overdue amount and the due date of the oldest unpaid repayment to see "
              "what paying today, later or in instalments costs. This page needs and keeps no "
              "personal information.",
    },
    "amount": {"zh-Hans": "逾期金额（元）", "zh-Hant": "逾期金額（元）",
               "en": "Overdue amount (CNY)"},
    "amount_hint": {"zh-Hans": "见提醒短信或账单，例如 1234.56",
                    "zh-Hant": "見提醒短信或賬單，例如 1234.56",
                    "en": "As in your reminder or statement, e.g. 1234.56"},
    "oldest_due": {"zh-Hans": "最早一期未还款的应还日期", "zh-Hant": "最早一期未還款的應還日期",
                   "en": "Due date of the oldest unpaid repayment"},
    "oldest_due_hint": {"zh-Hans": "格式：年-月-日，例如 2026-01-15",
                        "zh-Hant": "格式：年-月-日，例如 2026-01-15",
                        "en": "Format YYYY-MM-DD, e.g. 2026-01-15"},
    "rate": {"zh-Hans": "合同年利率（%，选填）", "zh-Hant": "合同年利率（%，選填）",
             "en": "Annual contract rate (%, optional)"},
    "rate_hint": {"zh-Hans": "见借款合同，例如 4.35；不填则按 4.35% 估算",
                  "zh-Hant": "見借款合同，例如 4.35；不填則按 4.35% 估算",
                  "en": "From your loan contract, e.g. 4.35; if left empty, 4.35% is assumed"},
    "submit": {"zh-Hans": "计算", "zh-Hant": "計算", "en": "Calculate"},
    "errors": {"zh-Hans": "请修改以下内容：", "zh-Hant": "請修改以下內容：",
               "en": "Please correct the following:"},
    "results": {"zh-Hans": "计算结果", "zh-Hant": "計算結果", "en": "Results"},
    "assumptions": {
        "zh-Hans": "截至 {today}：逾期金额 {amount}，自 {due} 起逾期。"
                   "罚息按合同年利率 {rate} 上浮 {uplift} 按日计算（一年按 {basis} 天）。",
        "zh-Hant": "截至 {today}：逾期金額 {amount}，自 {due} 起逾期。"
                   "罰息按合同年利率 {rate} 上浮 {uplift} 按日計算（一年按 {basis} 天）。",
        "en": "As of {today}: {amount} overdue since {due}. Penalty interest accrues daily at the "
              "contract rate of {rate} plus {uplift} ({basis}-day year).",
    },
    "rate_assumed": {
        "zh-Hans": "您没有填写合同年利率，以上按 4.35% 估算；填写合同利率可得到更准确的结果。",
        "zh-Hant": "您沒有填寫合同年利率，以上按 4.35% 估算；填寫合同利率可得到更準確的結果。",
        "en": "You did not enter your contract rate, so 4.35% is assumed; enter it for a more "
              "accurate result.",
    },
    "lump": {"zh-Hans": "一次还清逾期款项", "zh-Hant": "一次還清逾期款項",
             "en": "Paying the arrears in one go"},
    "when": {"zh-Hans": "还款时间", "zh-Hant": "還款時間", "en": "When"},
    "pay_on": {"zh-Hans": "还款日期", "zh-Hant": "還款日期", "en": "Pay on"},
    "days_overdue": {"zh-Hans": "逾期天数", "zh-Hant": "逾期天數", "en": "Days overdue"},
    "arrears": {"zh-Hans": "逾期金额", "zh-Hant": "逾期金額", "en": "Overdue amount"},
    "penalty": {"zh-Hans": "罚息", "zh-Hant": "罰息", "en": "Penalty interest"},
    "total": {"zh-Hans": "合计应还", "zh-Hant": "合計應還", "en": "Total to pay"},
    "today": {"zh-Hans": "今天", "zh-Hant": "今天", "en": "Today"},
    "in_days": {"zh-Hans": "{n}天后", "zh-Hant": "{n}天後", "en": "In {n} days"},
    "plans": {"zh-Hans": "分期偿还逾期款项", "zh-Hant": "分期償還逾期款項",
              "en": "Paying the arrears in instalments"},
    "plan_caption": {
        "zh-Hans": "分{m}期（每{interval}天一期），合计 {total}",
        "zh-Hant": "分{m}期（每{interval}天一期），合計 {total}",
        "en": "{m} instalments (one every {interval} days), total {total}",
    },
    "number": {"zh-Hans": "期次", "zh-Hant": "期次", "en": "No."},
    "part": {"zh-Hans": "本期还逾期款", "zh-Hant": "本期還逾期款", "en": "Part of the arrears"},
    "plans_note": {
        "zh-Hans": "分期方案须与我行协商同意后生效；每期罚息按上一期还款后仍未还清的金额计算。"
                   "如需办理，请联系我行客服。",
        "zh-Hant": "分期方案須與我行協商同意後生效；每期罰息按上一期還款後仍未還清的金額計算。"
                   "如需辦理，請聯繫我行客服。",
        "en": "An instalment plan applies only once agreed with the bank; each period's penalty "
              "is on what is still unpaid after the previous payment. Contact us to arrange one.",
    },
    "estimate": {
        "zh-Hans": "结果仅供参考：罚息按逾期金额（而非仅逾期本金）估算，可能略高于实际；"
                   "未计罚息的复利和尚未到期的还款。实际金额以我行账单为准。",
        "zh-Hant": "結果僅供參考：罰息按逾期金額（而非僅逾期本金）估算，可能略高於實際；"
                   "未計罰息的複利和尚未到期的還款。實際金額以我行賬單為準。",
        "en": "An estimate: penalty is worked out on the whole overdue amount, not only its "
              "principal, so it may be slightly high; it leaves out interest on penalty and "
              "repayments not yet due. The bank's statement prevails.",
    },
}


def _c(key: str, lang: str) -> str:
    return CALC[key][lang]


def _money(amount: Decimal) -> str:
    return escape(format_amount(amount, CURRENCY))


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def _time(day: date) -> str:
    return f'<time datetime="{day.isoformat()}">{day.isoformat()}</time>'


def _pay_row(pay: PayOnDate, today: date, lang: str) -> str:
    n = (pay.pay_on - today).days
    when = _c("today", lang) if n == 0 else _c("in_days", lang).format(n=n)
    return (f'<tr><th scope="row">{escape(when)}</th><td>{_time(pay.pay_on)}</td>'
            f'<td class="num">{pay.days_overdue}</td><td class="num">{_money(pay.arrears)}</td>'
            f'<td class="num">{_money(pay.penalty)}</td><td class="num">{_money(pay.total)}</td>'
            "</tr>")


def _plan_table(option: InstalmentOption, lang: str) -> str:
    caption = _c("plan_caption", lang).format(m=option.instalments,
                                              interval=INSTALMENT_INTERVAL_DAYS,
                                              total=_money(option.total))
    head = "".join(f'<th scope="col">{_c(k, lang)}</th>'
                   for k in ("number", "pay_on", "part", "penalty", "total"))
    rows = "".join(
        f'<tr><th scope="row">{row.number}</th><td>{_time(row.pay_on)}</td>'
        f'<td class="num">{_money(row.principal_part)}</td>'
        f'<td class="num">{_money(row.penalty)}</td><td class="num">{_money(row.total)}</td></tr>'
        for row in option.rows)
    return f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>" \
           f"<tbody>{rows}</tbody></table>"


def _results(data: CalculatorInput, scenarios: Scenarios, lang: str) -> str:
    assert data.today is not None and data.oldest_due is not None
    assert data.annual_rate is not None
    assumptions = _c("assumptions", lang).format(
        today=_time(data.today), amount=_money(scenarios.today.arrears),
        due=_time(data.oldest_due), rate=escape(_percent(data.annual_rate)),
        uplift=escape(_percent(data.uplift)), basis=data.day_basis)
    head = "".join(f'<th scope="col">{_c(k, lang)}</th>'
                   for k in ("when", "pay_on", "days_overdue", "arrears", "penalty", "total"))
    pays = "".join(_pay_row(pay, data.today, lang) for pay in (scenarios.today, *scenarios.later))
    plans = "".join(_plan_table(option, lang) for option in scenarios.plans)
    assumed = f'<p><strong>{_c("rate_assumed", lang)}</strong></p>' if data.rate_assumed else ""
    plans_part = (f'<h3>{_c("plans", lang)}</h3>{plans}<p class="hint">{_c("plans_note", lang)}'
                  "</p>") if scenarios.plans else ""
    return (f'<section aria-labelledby="results" aria-live="polite">'
            f'<h2 id="results">{_c("results", lang)}</h2><p>{assumptions}</p>{assumed}'
            f'<table><caption>{_c("lump", lang)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{pays}</tbody></table>"
            f'{plans_part}<p class="hint">{_c("estimate", lang)}</p></section>')


_FORM_FIELDS = (("amount", "amount", "text", "decimal"),
                ("oldest_due", "oldest_due", "date", ""),
                ("annual_rate_percent", "rate", "text", "decimal"))


def _form(values: Mapping[str, str], problems: list[Problem], lang: str,
          hidden: Mapping[str, str]) -> str:
    by_param = {p.parameter: p for p in problems}
    alert = ""
    if problems:
        items = "".join(f'<li><a href="#{escape(p.parameter)}">'
                        f"{escape(_field_label(p.parameter, lang))}</a>: "
                        f"{escape(p.message(lang))}</li>" for p in problems)
        alert = (f'<div class="alert" role="alert"><p class="error">{_c("errors", lang)}</p>'
                 f"<ul>{items}</ul></div>")
    fields = []
    for name, label_key, kind, inputmode in _FORM_FIELDS:
        problem = by_param.get(name)
        described = f"{name}-hint" + (f" {name}-error" if problem else "")
        error = (f'<p class="error" id="{name}-error">{escape(problem.message(lang))}</p>'
                 if problem else "")
        required = "" if name == "annual_rate_percent" else " required"
        mode = (f' inputmode="{inputmode}" maxlength="{MAX_INPUT_CHARS}"' if inputmode
                else "")
        invalid = ' aria-invalid="true"' if problem else ""
        fields.append(
            f'<label for="{name}">{_c(label_key, lang)}</label>'
            f'<p class="hint" id="{name}-hint">{_c(label_key + "_hint", lang)}</p>{error}'
            f'<input id="{name}" name="{name}" type="{kind}"{mode}{required}{invalid} '
            'autocomplete="off" '
            f'aria-describedby="{described}" value="{escape(values.get(name, ""))}">')
    hidden_inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                            for k, v in hidden.items())
    return (f'{alert}<form method="get" action="calculator" novalidate>{hidden_inputs}'
            f'{"".join(fields)}<button type="submit">{_c("submit", lang)}</button></form>')


def _field_label(param: str, lang: str) -> str:
    labels = {"amount": _c("amount", lang), "oldest_due": _c("oldest_due", lang),
              "annual_rate_percent": _c("rate", lang)}
    return labels.get(param, param)


# --- JSON -------------------------------------------------------------------------------------

def _pay_json(pay: PayOnDate) -> dict[str, Any]:
    return {"label": pay.label, "pay_on": pay.pay_on.isoformat(),
            "days_overdue": pay.days_overdue, "arrears": str(pay.arrears),
            "penalty": str(pay.penalty), "total": str(pay.total)}


def scenarios_json(scenarios: Scenarios) -> dict[str, Any]:
    return {
        "today": _pay_json(scenarios.today),
        "later": [_pay_json(pay) for pay in scenarios.later],
        "plans": [{
            "instalments": option.instalments,
            "total": str(option.total),
            "rows": [{"number": row.number, "pay_on": row.pay_on.isoformat(),
                      "principal_part": str(row.principal_part), "penalty": str(row.penalty),
                      "total": str(row.total)} for row in option.rows],
        } for option in scenarios.plans],
    }


# --- router -----------------------------------------------------------------------------------

def create_router(bank: BankContacts | None = None, *,
                  clock: Callable[[], date] = shanghai_today) -> APIRouter:
    """The self-help routes; ``bank`` names the bank, its hotline and links on the pages."""
    api = APIRouter(tags=["self-help"])

    def language(request: Request) -> str:
        return choose_language(request.query_params.get("lang"),
                               request.headers.get("accept-language"))

    @api.get("/help/faq", response_class=HTMLResponse)
    async def faq(request: Request) -> HTMLResponse:
        lang = language(request)
        contacts = _contacts(bank, lang)
        return _page(lang=lang, page="faq", contacts=contacts,
                     body=_sections(FAQ[lang], contacts))

    @api.get("/help/planning", response_class=HTMLResponse)
    async def planning(request: Request) -> HTMLResponse:
        lang = language(request)
        contacts = _contacts(bank, lang)
        return _page(lang=lang, page="planning", contacts=contacts,
                     body=_sections(PLANNING[lang], contacts))

    @api.get("/help/calculator", response_class=HTMLResponse)
    async def calculator_page(request: Request) -> HTMLResponse:
        lang = language(request)
        contacts = _contacts(bank, lang)
        names = ("amount", "oldest_due", "annual_rate_percent", "uplift", "day_basis", "today")
        values = {name: request.query_params[name] for name in names
                  if name in request.query_params}
        hidden = {"lang": lang, **{k: v for k, v in values.items()
                                   if k in ("uplift", "day_basis", "today")}}
        body = f'<p>{_c("intro", lang)}</p>'
        problems: list[Problem] = []
        results = ""
        if any(values.get(name, "").strip() for name in names):
            data = parse_calculator_input(values, today=clock(), rate_param="annual_rate_percent",
                                          rate_in_percent=True, rate_required=False)
            scenarios = compute(data, "annual_rate_percent")
            problems = data.problems
            if scenarios is not None:
                results = _results(data, scenarios, lang)
        body += _form(values, problems, lang, hidden) + results
        return _page(lang=lang, page="calculator", contacts=contacts, body=body,
                     keep=values, no_store=bool(values))

    @api.get("/v1/calculator", responses={422: {"description": "a parameter is invalid"}})
    async def calculator_api(
        amount: str | None = Query(None, description="overdue amount, e.g. 1234.56"),
        oldest_due: str | None = Query(None, description="oldest unpaid due date, YYYY-MM-DD"),
        annual_rate: str | None = Query(None, description="contract rate as a fraction, 0.0435"),
        today: str | None = Query(None, description="default: today in Asia/Shanghai"),
        uplift: str | None = Query(None, description="penalty uplift, default 0.50 (policy)"),
        day_basis: str | None = Query(None, description="360 (default) or 365"),
    ) -> JSONResponse:
        """Scenarios of paying the arrears today, later or in instalments (an estimate)."""
        params = {"amount": amount, "oldest_due": oldest_due, "annual_rate": annual_rate,
                  "today": today, "uplift": uplift, "day_basis": day_basis}
        data = parse_calculator_input(params, today=clock(), rate_param="annual_rate",
                                      rate_in_percent=False, rate_required=True)
        scenarios = compute(data, "annual_rate")
        if scenarios is None:
            problems = [{"parameter": p.parameter, "message": p.message("en")}
                        for p in data.problems]
            first = problems[0]
            return JSONResponse(status_code=422, content={
                "error": "invalid_parameter", "parameter": first["parameter"],
                "message": f"{first['parameter']}: {first['message']}", "problems": problems})
        assert data.today is not None and data.oldest_due is not None
        return JSONResponse({
            "inputs": {"amount": str(data.amount), "oldest_due": data.oldest_due.isoformat(),
                       "annual_rate": str(data.annual_rate), "uplift": str(data.uplift),
                       "day_basis": data.day_basis, "today": data.today.isoformat(),
                       "currency": CURRENCY,
                       "instalment_interval_days": INSTALMENT_INTERVAL_DAYS},
            **scenarios_json(scenarios),
            "note": "An estimate: penalty on the whole overdue amount, no interest on penalty; "
                    "the bank's statement prevails.",
        }, headers={"Cache-Control": "no-store"})

    return api


router = create_router()
"""Generic contact wording; ``create_router(policy.bank)`` names the bank."""
