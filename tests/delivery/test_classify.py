"""Human or machine, on user agents recorded from real opens and clicks (mail clients, proxies, scanners)."""

from __future__ import annotations

import datetime as dt

import pytest

from delivery import classify

SENT = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
LATER = SENT + dt.timedelta(hours=2)

# Recorded in the wild (tracking logs, vendor documentation).
GMAIL_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 GmailApp/6.0.231112"
)
APPLE_MAIL_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.1"
CHROME_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Safari/605.1.15"
)
GOOGLE_IMAGE_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
APPLE_MPP = "Mozilla/5.0"
BARRACUDA = "Barracuda Sentinel (EE)"
PROOFPOINT = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"
MIMECAST = "Mimecast Security Scanner"
PYTHON_REQUESTS = "python-requests/2.31.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BING_PREVIEW = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b "
    "Chrome/120.0.0.0 Safari/537.36"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.71 Safari/537.36"
)


def _open(ua: str, *, ip: str | None = "198.51.100.7", at: dt.datetime = LATER) -> classify.Verdict:
    return classify.classify_open(user_agent=ua, ip=ip, at=at, sent_at=SENT)


def _click(
    ua: str = CHROME_DESKTOP,
    *,
    method: str = "GET",
    at: dt.datetime = LATER,
    opened_before: bool = True,
    burst_links: int = 1,
    link_count: int = 4,
) -> classify.Verdict:
    return classify.classify_click(
        user_agent=ua,
        method=method,
        at=at,
        sent_at=SENT,
        opened_before=opened_before,
        burst_links=burst_links,
        link_count=link_count,
    )


@pytest.mark.parametrize("ua", [GMAIL_IPHONE, APPLE_MAIL_IOS, OUTLOOK_DESKTOP, THUNDERBIRD, CHROME_DESKTOP, SAFARI_MAC])
def test_opens_from_mail_clients_and_browsers_are_human(ua: str) -> None:
    assert _open(ua) == classify.HUMAN


def test_apple_mpp_bare_user_agent_is_a_machine_open() -> None:
    assert _open(APPLE_MPP, ip="104.28.40.1").rule == "apple-mpp"


def test_an_open_from_apples_network_is_apple_mpp_whatever_the_agent() -> None:
    assert _open(APPLE_MAIL_IOS, ip="17.58.63.2").rule == "apple-mpp"


@pytest.mark.parametrize("ua", [GOOGLE_IMAGE_PROXY, YAHOO_PROXY])
def test_an_image_proxy_seconds_after_the_send_is_a_prefetch(ua: str) -> None:
    assert _open(ua, at=SENT + dt.timedelta(seconds=8)).rule == "image-proxy"


@pytest.mark.parametrize("ua", [GOOGLE_IMAGE_PROXY, YAHOO_PROXY])
def test_an_image_proxy_hours_after_the_send_is_a_person_opening_in_webmail(ua: str) -> None:
    assert _open(ua) == classify.HUMAN


@pytest.mark.parametrize("ua", [BARRACUDA, PROOFPOINT, MIMECAST, PYTHON_REQUESTS, GOOGLEBOT, BING_PREVIEW, HEADLESS])
def test_bot_and_security_scanner_agents_are_machine_opens(ua: str) -> None:
    assert _open(ua).rule == "bot-ua"


@pytest.mark.parametrize("ua", [BARRACUDA, PROOFPOINT, MIMECAST, PYTHON_REQUESTS, GOOGLEBOT, BING_PREVIEW, HEADLESS])
def test_bot_and_security_scanner_agents_are_machine_clicks(ua: str) -> None:
    assert _click(ua).rule == "bot-ua"


def test_an_open_without_a_user_agent_is_a_machine() -> None:
    assert _open("").rule == "bot-ua"


def test_a_provider_event_without_an_agent_is_not_judged_by_it() -> None:
    verdict = classify.classify_open(user_agent="", ip=None, at=LATER, sent_at=SENT, method="")

    assert verdict == classify.HUMAN


@pytest.mark.parametrize("ua", [GMAIL_IPHONE, CHROME_DESKTOP, SAFARI_MAC, OUTLOOK_DESKTOP])
def test_a_click_from_a_person_after_the_open_is_human(ua: str) -> None:
    assert _click(ua) == classify.HUMAN


def test_a_head_request_is_a_link_checker() -> None:
    assert _click(method="HEAD").rule == "head-request"


def test_every_link_of_the_message_within_seconds_is_a_scanner_burst() -> None:
    assert _click(burst_links=2, link_count=2).rule == "scanner-burst"


def test_three_distinct_links_within_seconds_is_a_burst_in_a_long_message() -> None:
    assert _click(burst_links=3, link_count=12).rule == "scanner-burst"


def test_two_links_of_a_long_message_is_still_a_person() -> None:
    assert _click(burst_links=2, link_count=12) == classify.HUMAN


def test_a_click_before_any_open_right_after_the_send_is_a_scanner() -> None:
    verdict = _click(GMAIL_IPHONE, at=SENT + dt.timedelta(seconds=30), opened_before=False)

    assert verdict.rule == "click-before-open"


def test_a_click_without_an_open_hours_later_is_a_person_with_images_off() -> None:
    assert _click(GMAIL_IPHONE, opened_before=False) == classify.HUMAN


def test_every_rule_has_a_description() -> None:
    rules = {"apple-mpp", "image-proxy", "bot-ua", "head-request", "scanner-burst", "click-before-open"}

    assert set(classify.RULES) == rules
