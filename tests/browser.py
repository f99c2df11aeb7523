"""Helpers for the browser tests: a page that records console errors, an accessibility check with the
vendored axe-core (no download at test time), logging in, and horizontal-scroll measurement."""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = {"serious", "critical"}


class WatchedPage:
    """A Playwright page whose console errors and uncaught exceptions are collected."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda msg: self.errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def assert_no_console_errors(self) -> None:
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)


def new_watched_page(browser, *, width: int = 1280, height: int = 900) -> WatchedPage:
    # bypass_csp: axe-core is injected as a script tag; the pages' own Content-Security-Policy allows none.
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    return WatchedPage(context.new_page())


def assert_accessible(page, *, context: str = "") -> None:
    """axe-core's WCAG 2.x A/AA rules on the current page: no serious or critical violation."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    report = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(n["html"][:200] for n in v["nodes"][:5])
        for v in blocking
    )
    assert not blocking, f"accessibility violations on {context or page.url}:\n{report}"


def log_in(page, base_url: str, username: str, password: str = "demo") -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
                         " - window.innerWidth")
