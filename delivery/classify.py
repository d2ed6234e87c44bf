"""Is this open or click a person? The rules, in the order they apply (docs/tracking.md).

Each rule has a short code stored on the event (`TrackingEvent.rule`), so a report can say why an event was
counted as a machine. Events are never dropped: a machine open or click is kept, only left out of the human
figures and of `Delivery.opened_at` / `clicked_at`.

Opens:
  apple-mpp      Apple Mail Privacy Protection: Apple's proxy fetches every image when the message arrives, with
                 the bare user agent "Mozilla/5.0", from Apple's network (17.0.0.0/8).
  image-proxy    A mail provider's image proxy (Gmail's GoogleImageProxy, Yahoo's YahooMailProxy ...) within
                 TRACKING_PROXY_SECONDS of the send: a prefetch on arrival. Later, the proxy is fetching because
                 a person opened the message, and the open is human.
  bot-ua         A known bot, crawler or security scanner user agent (crawlerdetect's maintained list, plus the
                 mail-security scanners below), or none at all. Mail clients crawlerdetect lists (Outlook desktop
                 fetches images as "Microsoft Office/16.0 ...") are people.
Clicks:
  head-request   A HEAD request: link checkers ask whether the link works, browsers never send one for a click.
  bot-ua         As for opens.
  scanner-burst  Several distinct links of the message (every one, or at least TRACKING_BURST_LINKS) clicked
                 within TRACKING_BURST_SECONDS: a security gateway following every link. Every click of the burst
                 is marked, including the ones stored before the burst showed itself.
  click-before-open  A click with no open recorded before it, within TRACKING_SCANNER_SECONDS of the send: a
                 scanner at delivery time. Only for an email that carried the open pixel (an HTML part and open
                 tracking on): a plain-text email never records an open. A click later with no open is a person whose client blocks images
                 (and it sets opened_at too: a click implies an open).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock

from crawlerdetect import CrawlerDetect
from django.conf import settings

APPLE_MPP = "apple-mpp"
IMAGE_PROXY = "image-proxy"
BOT_UA = "bot-ua"
HEAD_REQUEST = "head-request"
SCANNER_BURST = "scanner-burst"
CLICK_BEFORE_OPEN = "click-before-open"
RULES = {
    APPLE_MPP: "Apple Mail Privacy Protection prefetch",
    IMAGE_PROXY: "Image proxy prefetch right after the send",
    BOT_UA: "Bot, crawler or security-scanner user agent",
    HEAD_REQUEST: "HEAD request (link checker)",
    SCANNER_BURST: "Every link clicked within seconds (link scanner)",
    CLICK_BEFORE_OPEN: "Click before any open, right after the send (link scanner)",
}

# Apple's own network: Mail Privacy Protection's proxies fetch from it.
APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
_PROXY_UA = re.compile(r"GoogleImageProxy|ggpht\.com|YahooMailProxy|Yahoo! Slurp|OutlookImageProxy", re.IGNORECASE)
# Mail-security gateways and link checkers crawlerdetect does not know (all seen in real click logs).
_SCANNER_UA = re.compile(
    r"Proofpoint|urldefense|Mimecast|Barracuda|SafeLinks|Trend ?Micro|Symantec|Forcepoint|IronPort|FireEye|"
    r"Sophos|Zscaler|Cisco|Bitdefender|Kaspersky|Fortinet|Check ?Point|Cloudmark|Vade|HeadlessChrome|"
    r"PhantomJS|python|curl|wget|Go-http-client|okhttp|Java/|libwww|Apache-HttpClient|node-fetch|axios",
    re.IGNORECASE,
)
# Mail clients crawlerdetect's list would call bots: people reading mail.
_MAIL_CLIENT_UA = re.compile(r"Microsoft Outlook|Thunderbird|Airmail|Spark/|Mailbird|eM Client", re.IGNORECASE)

_detector = CrawlerDetect()
_detector_lock = Lock()  # CrawlerDetect keeps the last match on the instance


@dataclass(frozen=True)
class Verdict:
    human: bool
    rule: str = ""


HUMAN = Verdict(human=True)


@lru_cache(maxsize=4096)
def is_bot_user_agent(user_agent: str) -> bool:
    """A known bot, crawler or scanner, or no user agent at all. Cached: a campaign's clicks repeat few agents."""
    ua = user_agent.strip()
    if not ua:
        return True
    if _MAIL_CLIENT_UA.search(ua):
        return False
    if _SCANNER_UA.search(ua):
        return True
    with _detector_lock:
        return bool(_detector.isCrawler(ua))


@lru_cache(maxsize=4096)
def _apple(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in APPLE_NETWORKS)


def _seconds_after(at: dt.datetime, sent_at: dt.datetime | None) -> float | None:
    return None if sent_at is None else (at - sent_at).total_seconds()


def classify_open(
    *, user_agent: str, ip: str | None, at: dt.datetime, sent_at: dt.datetime | None, method: str = "GET"
) -> Verdict:
    """A provider's webhook may carry no user agent at all (Resend's opens): no agent rule applies then, and
    `user_agent=""` with `method=""` says so."""
    ua = user_agent.strip()
    if method.upper() == "HEAD":
        return Verdict(human=False, rule=HEAD_REQUEST)
    if ua == "Mozilla/5.0" or _apple(ip):
        return Verdict(human=False, rule=APPLE_MPP)
    if not ua and not method:
        return HUMAN
    if _PROXY_UA.search(ua):
        after = _seconds_after(at, sent_at)
        if after is not None and after <= float(settings.TRACKING_PROXY_SECONDS):
            return Verdict(human=False, rule=IMAGE_PROXY)
        return HUMAN
    if is_bot_user_agent(ua):
        return Verdict(human=False, rule=BOT_UA)
    return HUMAN


def classify_click(
    *,
    user_agent: str,
    method: str,
    at: dt.datetime,
    sent_at: dt.datetime | None,
    opened_before: bool,
    burst_links: int,
    link_count: int,
    can_open: bool = True,
) -> Verdict:
    """`burst_links`: distinct links of this delivery clicked within TRACKING_BURST_SECONDS up to this click
    (this one included); `opened_before`: any open (human or not) recorded at or before `at`; `can_open`: the
    email carried the open pixel (a plain-text email, or a send without open tracking, never records an open, so
    a click before the open says nothing about a scanner)."""
    if method.upper() == "HEAD":
        return Verdict(human=False, rule=HEAD_REQUEST)
    if (user_agent.strip() or method) and is_bot_user_agent(user_agent):
        return Verdict(human=False, rule=BOT_UA)
    if is_burst(burst_links=burst_links, link_count=link_count):
        return Verdict(human=False, rule=SCANNER_BURST)
    after = _seconds_after(at, sent_at)
    if can_open and not opened_before and after is not None and after <= float(settings.TRACKING_SCANNER_SECONDS):
        return Verdict(human=False, rule=CLICK_BEFORE_OPEN)
    return HUMAN


def is_burst(*, burst_links: int, link_count: int) -> bool:
    """Two or more distinct links within the burst window, and every link of the message or at least
    TRACKING_BURST_LINKS of them: a person reads and clicks one link, maybe two, not all of them at once."""
    if burst_links < 2:
        return False
    return burst_links >= min(max(link_count, 2), int(settings.TRACKING_BURST_LINKS))
