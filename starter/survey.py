"""The satisfaction survey page customers reach from the link in their aftercare SMS."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from overdue.storage.models import Survey
from overdue.storage.repository import utcnow

router = APIRouter()

PAGE = """<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>服务评价 / Service survey</title></head>
<body style="font-family:sans-serif;max-width:34em;margin:2em auto">
<h1>服务评价 · Service survey</h1>{body}</body></html>"""

FORM = """<p>您的贷款事项已处理完毕。请评价我们的服务。<br>
Your loan matter is settled. Please rate our service.</p>
{error}<form method="post">
<fieldset><legend>总体满意度 · Overall satisfaction (1-5)</legend>
{ratings}</fieldset>
<fieldset><legend>您是否受到公平、礼貌的对待？· Were you treated fairly and politely?</legend>
<label><input type="radio" name="treated_fairly" value="yes" required> 是 · Yes</label>
<label><input type="radio" name="treated_fairly" value="no"> 否 · No</label></fieldset>
<p><label>意见 · Comments<br>
<textarea name="comment" rows="4" cols="40" maxlength="1000"></textarea></label></p>
<button type="submit">提交 · Submit</button></form>"""


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(body=body), status_code=status,
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _form(error: str = "") -> str:
    ratings = "".join(f'<label><input type="radio" name="rating" value="{n}" required> {n}</label> '
                      for n in range(1, 6))
    return FORM.format(ratings=ratings,
                       error=f'<p role="alert"><strong>{html.escape(error)}</strong></p>'
                       if error else "")


async def _survey(request: Request, token: str) -> Survey | None:
    if not token.isalnum() or len(token) > 64:
        return None
    async with _sessions(request)() as session:
        return (await session.execute(select(Survey).where(Survey.token == token))
                ).scalar_one_or_none()


@router.get("/survey/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, token: str) -> HTMLResponse:
    survey = await _survey(request, token)
    if survey is None:
        return _page("<p>链接无效 · This link is not valid.</p>", 404)
    if survey.answered_at is not None:
        return _page("<p>您已提交，谢谢！· You have already answered. Thank you!</p>")
    return _page(_form())


@router.post("/survey/{token}", response_class=HTMLResponse)
async def survey_answer(request: Request, token: str) -> HTMLResponse:
    raw = await request.body()
    if len(raw) > 16_384:
        return _page(_form("提交内容过长 · The answer is too long."), 413)
    fields = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=10)
    rating = fields.get("rating", [""])[0]
    treated_fairly = fields.get("treated_fairly", [""])[0]
    comment = fields.get("comment", [""])[0]
    if await _survey(request, token) is None:
        return _page("<p>链接无效 · This link is not valid.</p>", 404)
    if rating not in {"1", "2", "3", "4", "5"} or treated_fairly not in {"yes", "no"}:
        return _page(_form("请选择满意度和公平性 · Please choose a rating and a yes/no answer."),
                     422)
    if len(comment) > 1000:
        return _page(_form("意见最多1000字 · Comments are limited to 1000 characters."), 422)
    async with _sessions(request)() as session:
        survey = (await session.execute(select(Survey).where(Survey.token == token))
                  ).scalar_one()
        if survey.answered_at is None:
            survey.rating = int(rating)
            survey.treated_fairly = treated_fairly == "yes"
            survey.comment = comment.strip() or None
            survey.answered_at = utcnow()
            await session.commit()
    return _page("<p>感谢您的反馈！· Thank you for your feedback!</p>")
