"""Checks a `credrisk report` HTML file with independent tools, for tests/report.rs.

html5lib parses it strictly (any parse error raises); the JSON twin is read from the parsed
tree; headless Chromium (Playwright, Debian's /usr/bin/chromium) loads it with every non-file
request blocked and records failed requests, blocked requests and console errors, then keeps a
full-page screenshot. The shown text of a few cells is returned so the test can compare it with
the twin. Prints one JSON object.

usage: report_check.py REPORT.html SCREENSHOT.png
"""
import json
import pathlib
import sys

import html5lib
from playwright.sync_api import sync_playwright

path, shot = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
raw = path.read_bytes()
tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(raw)
script = tree.find(".//script[@id='report-data']")
twin = json.loads(script.text)
sections = [s.get("id") for s in tree.iter("section")]
svgs = sum(1 for el in tree.iter() if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "svg")
external = [
    el.get(attr)
    for el in tree.iter()
    for attr in ("src", "href")
    if el.get(attr) and not el.get(attr).startswith("#") and not el.get(attr).startswith("data:")
]

args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]
errors, failed, blocked = [], [], []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    shown = {
        "title": page.title(),
        "facts": page.eval_on_selector_all("#summary dl.facts dd", "els => els.map(e => e.innerText)"),
        "deciles": page.eval_on_selector_all("#ks-deciles tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))"),
        "reasons": page.eval_on_selector_all("#walkthrough-reasons tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))"),
        "overflow": page.evaluate("document.documentElement.scrollWidth - window.innerWidth"),
        "height": page.evaluate("document.documentElement.scrollHeight"),
    }
    page.screenshot(path=shot, full_page=True)
    browser.close()
print(json.dumps({"twin": twin, "sections": sections, "svgs": svgs, "external": external,
                  "errors": errors, "failed": failed, "blocked": blocked, "shown": shown,
                  "bytes": len(raw)}))
