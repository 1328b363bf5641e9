"""Checkout with the keyboard only, in a real browser (headless Chromium driven by Playwright)
against ``musicconnect serve`` with the billing sandbox on (as with ``--demo``): a new fan signs
in, Tabs to the artist page's Join button, presses Enter, Tabs to the sandbox checkout page's pay
button, presses Space, lands on /checkout/return and sees the membership; then opens the
membership page and cancels (the focus then rests on "Resume membership") and resumes, all with Tab, Enter and Space (no mouse, no
``.click()``). Every element reached shows a visible focus ring (``:focus-visible`` with an
outline), and axe-core finds no serious or critical violation on the sandbox's checkout page."""
from __future__ import annotations

import re

import httpx

from web_helpers import PASSWORD, Console

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e);
  const label = e.labels && e.labels.length ? e.labels[0].innerText.trim() : "";
  return {tag: e.tagName.toLowerCase(), text: (e.innerText || e.value || "").trim(), label,
          aria: e.getAttribute("aria-label") || "", visible: e.matches(":focus-visible"),
          outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0};
}"""


def tab_to(page, name: str, *, limit: int = 60) -> dict:
    """Press Tab until the focused element's text, label or aria-label is ``name``; the focus
    must be visible there (``:focus-visible`` and an outline at least 2 px wide)."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        info = page.evaluate(FOCUSED)
        if info is None:
            continue
        seen.append(info["text"] or info["label"] or info["aria"])
        if name in (info["text"], info["label"], info["aria"]):
            assert info["visible"] and info["outline"] not in ("none", "") and info["outlineWidth"] >= 2, info
            return info
    raise AssertionError(f"Tab never reached {name!r}; focus went through {seen}")


def _audit(page) -> list[dict]:
    from test_web_a11y_browser import AXE

    page.add_script_tag(content=AXE.read_text())
    return page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                                         resultTypes: ["violations"]});
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => ({id: v.id, help: v.help}));
    }""")


def _fan_subs(base: str, email: str) -> list[dict]:
    with httpx.Client(base_url=base, timeout=30) as c:
        token = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
        return c.get("/api/v1/billing/subscriptions", headers={"Authorization": f"Bearer {token}"}).json()


def test_a_fan_joins_pays_and_cancels_with_the_keyboard_only(browser, shots, proc_env):
    from helpers import free_port, register, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**proc_env, "MC_PLUGINS": "web,billing", "MC_BASE_URL": base, "MC_BILLING_SANDBOX": "true"}
    proc = serve_process(env, port)
    try:
        wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=30) as c:
            artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
            tiers = {t["key"]: t for t in c.get(f"/api/v1/artists/{artist['user']['artist']['id']}/tiers").json()}
            register(c, "robin@example.com", display_name="Robin")

        page = browser.new_page()
        console = Console(page)
        # sign in: Tab to each field, type, Enter submits
        page.goto(f"{base}/signin?next=/artists/nova-lane")
        page.get_by_role("heading", name="Sign in").wait_for()
        tab_to(page, "Email")
        page.keyboard.type("robin@example.com")
        tab_to(page, "Password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Nova Lane", level=1).wait_for()
        page.get_by_role("button", name="Join Supporter").wait_for()

        # the artist page: Tab to Join Supporter, Enter opens the sandbox's checkout
        tab_to(page, "Join Supporter")
        shots(page, "01-join-focused")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/api/v1/billing/sandbox/checkout/.*"))
        page.get_by_role("button", name="Pay with the sandbox test card").wait_for()
        assert page.evaluate("document.documentElement.lang") == "en"
        violations = _audit(page)
        assert violations == [], violations
        tab_to(page, "Pay with the sandbox test card")
        shots(page, "02-sandbox-pay-focused")
        page.keyboard.press("Space")
        page.wait_for_url(re.compile(r".*/checkout/return\?artist=nova-lane.*"))
        held = page.locator("#membership-held")
        held.wait_for(timeout=30_000)
        assert "You are now a Supporter member of Nova Lane" in held.inner_text()
        shots(page, "03-return")
        [sub] = _fan_subs(base, "robin@example.com")
        assert (sub["tier_id"], sub["status"], sub["cancel_at_period_end"]) == (tiers["supporter"]["id"], "active", False)

        # the membership page from the return page's link, then cancel with Space
        tab_to(page, "Manage membership")
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Membership", level=1).wait_for()
        page.locator(".subscription .renewal", has_text="Renews on").wait_for()
        tab_to(page, "Cancel at period end")
        shots(page, "04-cancel-focused")
        page.keyboard.press("Space")
        page.locator(".subscription .renewal", has_text="runs until").wait_for()
        [sub] = _fan_subs(base, "robin@example.com")
        assert sub["cancel_at_period_end"] is True
        # the focus stays where the fan was: on the button that undoes it; Enter resumes
        page.get_by_role("button", name="Resume membership").wait_for()
        focused = page.evaluate(FOCUSED)
        assert focused and focused["text"] == "Resume membership" and focused["visible"], focused
        page.keyboard.press("Enter")
        page.locator(".subscription .renewal", has_text="Renews on").wait_for()
        [sub] = _fan_subs(base, "robin@example.com")
        assert sub["cancel_at_period_end"] is False
        assert page.evaluate(FOCUSED)["text"] == "Cancel at period end"
        shots(page, "05-resumed")
        assert console.unexpected("/favicon.ico") == [], console.unexpected("/favicon.ico")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except Exception:
            proc.kill()
