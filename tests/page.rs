//! The what-if page (#17) in a real browser: Debian's chromium driven by Playwright from the
//! pinned venv, the server on 127.0.0.1. A denial the service answered is in the queue; picking
//! it shows the decision; moving the income slider flips it (the badge says so); a recourse option
//! loads into the form and the probability shown is `/explain`'s for that customer; choosing the
//! approved applicants as the reference shows `/explain`'s reasons against them. No console
//! error, no failed request; html5lib parses the page strictly; screenshots at 1280×800 and phone
//! width are kept in target/page-screenshots. `/docs` (Swagger UI) in the same browser: every
//! operation listed, "Try it out" answered. Without Python, Playwright or chromium it fails.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common::{self, python};
use serve_support::{Fixture, Server, post_json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BROWSE_PY: &str = r##"
import json, sys, urllib.request
import html5lib
from playwright.sync_api import sync_playwright
base, shots = sys.argv[1], sys.argv[2]
html = urllib.request.urlopen(base + "/").read()
html5lib.HTMLParser(strict=True).parse(html)
sizes = {p: len(urllib.request.urlopen(base + p).read()) for p in ["/", "/page.css", "/page.js"]}
args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]
errors, failed, out = [], [], {"sizes": sizes}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="es-CL")
    page.set_default_timeout(20000)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(base + "/")
    page.locator("#queue-1").click()
    page.wait_for_function("document.querySelector('#decision') && document.querySelector('#options li')")
    out["decision_before"] = page.inner_text("#decision")
    # Keyboard first (the slider is operable without a mouse), then larger moves.
    page.focus("#f-income-range")
    page.keyboard.press("ArrowRight")
    lo = float(page.get_attribute("#f-income-range", "min"))
    hi = float(page.get_attribute("#f-income-range", "max"))
    start = float(page.input_value("#f-income-range"))
    flipped = None
    for k in range(1, 41):
        value = start + (hi - start) * k / 40
        with page.expect_response(lambda r: r.url.endswith("/explain")):
            page.eval_on_selector("#f-income-range", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", value)
        page.wait_for_timeout(50)
        if "flip" in (page.get_attribute("#flip", "class") or ""):
            flipped = {"income": float(page.input_value("#f-income"
            )), "badge": page.inner_text("#flip"), "decision": page.inner_text("#decision")}
            break
    out["flipped"] = flipped
    page.screenshot(path=shots + "/desktop-flipped.png", full_page=True)
    with page.expect_response(lambda r: r.url.endswith("/explain")):
        page.click("#load-option-1")
    page.wait_for_timeout(300)
    out["option_text"] = page.inner_text("#options li")
    out["shown"] = float(page.get_attribute("#probability", "data-value"))
    out["shown_text"] = page.inner_text("#probability")
    out["decision_after"] = page.inner_text("#decision")
    customer = page.evaluate("readForm()")
    req = urllib.request.Request(base + "/explain", data=json.dumps({"customer": customer}).encode(),
                                 headers={"Content-Type": "application/json"})
    out["explain"] = json.load(urllib.request.urlopen(req))["probability"]
    page.screenshot(path=shots + "/desktop-option.png", full_page=True)
    page.click("#lang-en")
    page.wait_for_function("document.querySelector('#decision') && /APPROVED|DENIED/.test(document.querySelector('#decision').innerText)")
    out["english"] = page.inner_text("#result-section")
    # Back to the denial, then its reasons against the approved applicants' sample.
    with page.expect_response(lambda r: r.url.endswith("/explain")):
        page.click("#reset")
    page.wait_for_function("/DENIED/.test(document.querySelector('#decision').innerText)")
    out["references"] = page.eval_on_selector_all("#reference option", "os => os.map(o => [o.value, o.innerText])")
    out["reference_default"] = page.input_value("#reference")
    with page.expect_request(lambda r: r.url.endswith("/explain") and r.post_data and '"approved"' in r.post_data) as asked:
        page.select_option("#reference", "approved")
    out["reference_sent"] = json.loads(asked.value.post_data)["reference"]
    page.wait_for_function("[...document.querySelectorAll('#reasons li')].some(li => /approved applicants/.test(li.innerText))")
    page.wait_for_timeout(300)
    out["reasons_shown"] = page.eval_on_selector_all("#reasons li", "ls => ls.map(l => l.innerText)")
    customer = page.evaluate("readForm()")
    body = {"customer": customer, "lang": "en", "reference": "approved"}
    req = urllib.request.Request(base + "/explain", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    out["reasons_api"] = [r["text"] for r in json.load(urllib.request.urlopen(req))["reasons"]]
    page.screenshot(path=shots + "/desktop-approved-reference.png", full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="en-US")
    phone.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    phone.on("pageerror", lambda e: errors.append(str(e)))
    phone.goto(base + "/")
    phone.wait_for_function("document.querySelector('#options li')")
    out["phone_overflow"] = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    phone.screenshot(path=shots + "/phone.png", full_page=True)
    browser.close()
out["errors"], out["failed"] = errors, failed
print(json.dumps(out))
"##;

/// A denial that a higher income alone can turn into an approval.
fn flippable(server: &Server) -> Value {
    for income in [350_000, 450_000, 550_000, 650_000, 250_000] {
        let mut c = common::seed_customer();
        c["income"] = income.into();
        let low = post_json(server, "/predict", &json!({"customer": c})).json();
        let mut rich = c.clone();
        rich["income"] = 3_000_000.into();
        let high = post_json(server, "/predict", &json!({"customer": rich})).json();
        if low["approved"] == false && high["approved"] == true {
            return c;
        }
    }
    panic!("no seed variant is denied at a low income and approved at a high one");
}

#[test]
fn the_what_if_page_flips_a_denial_and_loads_a_recourse_option() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &[]);
    let customer = flippable(&server);
    // Answered by the service (not the page): it enters the review queue.
    let answer = post_json(&server, "/explain", &json!({"customer": customer})).json();
    assert_eq!(answer["approved"], false);
    let queue = serve_support::get(&server, "/review").json();
    assert_eq!(queue["items"][0]["customer"]["income"].as_f64(), customer["income"].as_f64(), "{queue}");
    assert_eq!(queue["items"][0]["endpoint"], "/explain");

    let shots = common::root().join("target/page-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let got = browse(BROWSE_PY, &server, &shots);
    assert_eq!(got["errors"], json!([]), "console errors: {got}");
    assert_eq!(got["failed"], json!([]), "failed requests: {got}");
    assert!(got["decision_before"].as_str().unwrap().starts_with("RECHAZADO"), "{got}");
    let flipped = &got["flipped"];
    assert!(flipped.is_object(), "the income slider never flipped the decision: {got}");
    assert!(flipped["badge"].as_str().unwrap().contains("La decisión cambia"), "{got}");
    assert!(flipped["decision"].as_str().unwrap().starts_with("APROBADO"), "{got}");
    assert!(got["decision_after"].as_str().unwrap().starts_with("APROBADO"), "{got}");
    assert_eq!(got["shown"], got["explain"], "the page shows /explain's probability: {got}");
    assert!(got["english"].as_str().unwrap().contains("Approval probability"), "{got}");
    // The reference choice: the model's three, path by default; choosing `approved` sends it and
    // shows exactly the reasons /explain gives against that sample.
    let references: Vec<&str> =
        got["references"].as_array().unwrap().iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(references, ["path", "approved", "cutoff"], "{got}");
    assert_eq!(got["reference_default"], "path", "{got}");
    assert_eq!(got["reference_sent"], "approved", "{got}");
    assert!(!got["reasons_api"].as_array().unwrap().is_empty(), "the denial has reasons: {got}");
    assert_eq!(got["reasons_shown"], got["reasons_api"], "{got}");
    assert!(got["phone_overflow"].as_i64().unwrap() <= 0, "no sideways scrolling at phone width: {got}");
    let total: u64 = got["sizes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert!(total < 200 * 1024, "first load {total} bytes");
    println!("page: {total} bytes; screenshots in {}", shots.display());
}

const DOCS_PY: &str = r##"
import json, sys, urllib.request
from playwright.sync_api import sync_playwright
base, shots = sys.argv[1], sys.argv[2]
doc = json.load(urllib.request.urlopen(base + "/openapi.json"))
expected = sorted(f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops)
args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]
errors, failed, requested, out = [], [], [], {"expected": expected}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(30000)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on("request", lambda r: requested.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(base + "/docs")
    # /docs forbids eval (its CSP is script-src 'self'), and wait_for_function's predicate is an
    # eval in the page: poll from outside instead (evaluate goes through the DevTools protocol).
    for _ in range(300):
        if page.evaluate("document.querySelectorAll('.opblock').length") >= len(expected):
            break
        page.wait_for_timeout(100)
    out["listed"] = sorted(page.eval_on_selector_all(".opblock", """blocks => blocks.map(b =>
        b.querySelector('.opblock-summary-method').innerText.trim() + ' ' +
        b.querySelector('.opblock-summary-path').getAttribute('data-path'))"""))
    out["title"] = page.inner_text(".info .title")
    op = page.locator("#operations-default-predict")
    op.locator(".opblock-summary").first.click()
    op.locator(".try-out__btn").click()
    with page.expect_response(lambda r: r.url.startswith(base + "/predict") and r.request.method == "POST") as answer:
        op.locator(".execute").click()
    response = answer.value
    out["try_status"] = response.status
    out["try_request"] = json.loads(response.request.post_data)
    out["try_answer"] = response.json()
    shown = "#operations-default-predict .live-responses-table tbody .response-col_status"
    page.wait_for_selector(shown)
    out["shown_status"] = page.inner_text(shown).strip()
    page.locator(shown).scroll_into_view_if_needed()
    page.screenshot(path=shots + "/docs-try-predict.png", full_page=False)
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock")
    page.screenshot(path=shots + "/docs.png", full_page=True)
    browser.close()
out["errors"], out["failed"] = errors, failed
out["other_origins"] = [u for u in requested if not (u.startswith(base + "/") or u.startswith("data:"))]
print(json.dumps(out))
"##;

/// Runs a Playwright script (bounded in time) with the server's base URL and the screenshot
/// directory; its last output line is JSON.
fn browse(script: &str, server: &Server, shots: &std::path::Path) -> Value {
    let started = Instant::now();
    let mut child = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args([server.base.as_str(), shots.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the browser took more than 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let browsed = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&browsed.stdout);
    assert!(browsed.status.success(), "{text}\n{}", String::from_utf8_lossy(&browsed.stderr));
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap()
}

/// `/docs`: Swagger UI from the binary lists every operation of `/openapi.json`, loads with no
/// failed request, no console error and nothing from another origin, and "Try it out" on
/// `/predict` gets the answer `/predict` gives that body directly. Its files carry their types
/// and caching headers.
#[test]
fn the_api_docs_list_every_operation_and_try_it_out_works() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &[]);
    for (path, kind, cache) in [
        ("/docs", "text/html; charset=utf-8", "no-cache"),
        ("/docs/docs.js", "text/javascript; charset=utf-8", "no-cache"),
        (
            "/docs/swagger-ui-bundle.js?v=5.35.0",
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        ("/docs/swagger-ui.css?v=5.35.0", "text/css; charset=utf-8", "public, max-age=31536000, immutable"),
    ] {
        let reply = serve_support::get(&server, path);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(kind), "{path}");
        assert_eq!(reply.header("cache-control"), Some(cache), "{path}");
        assert!(reply.header("etag").is_some(), "{path}");
    }
    let shots = common::root().join("target/page-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let got = browse(DOCS_PY, &server, &shots);
    assert_eq!(got["errors"], json!([]), "console errors: {got}");
    assert_eq!(got["failed"], json!([]), "failed requests: {got}");
    assert_eq!(got["other_origins"], json!([]), "{got}");
    assert_eq!(got["listed"], got["expected"], "every operation listed: {got}");
    assert!(got["expected"].as_array().unwrap().len() >= 11, "{got}");
    assert!(got["title"].as_str().unwrap().starts_with("credrisk"), "{got}");
    assert_eq!(got["try_status"], 200, "{got}");
    assert_eq!(got["shown_status"], "200", "{got}");
    // The body Swagger UI built from the document's example, sent directly, answers the same.
    let direct = post_json(&server, "/predict", &got["try_request"]).json();
    assert_eq!(got["try_answer"]["probability"], direct["probability"], "{got}");
    assert_eq!(got["try_answer"]["approved"], direct["approved"], "{got}");
    assert!(got["try_answer"]["probability"].as_f64().is_some(), "{got}");
    println!("docs: screenshots in {}", shots.display());
}
