"""The course website: its GitHub Pages workflow, and every page of the site that
`python tools/build_site.py` builds, opened in a real browser (Debian's chromium,
through chromium-driver and Selenium) that reaches nothing but 127.0.0.1.

Each page loads with no console error and fetches nothing from outside, shows its
notebook's title as its H1 and every image, and every link from it to the site
resolves, #fragment included; the home page links every page, the lesson pages link
the previous and the next step and Colab, and the training pages (DNN1 to DNN8) show a
training log. A screenshot of each page is left in site/_screenshots/.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
SHOTS = SITE / "_screenshots"
WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"
LESSON = re.compile(r"^(DNN|CODE)(\d+)_\w+\.ipynb$")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WIDTH = 1280


def _h1(markdown: str) -> str:
    """The first '# ' line of some markdown, as a browser shows it."""
    line = next(ln for ln in markdown.splitlines() if ln.startswith("# "))
    return re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", line[2:]).strip()


def _notebook_title(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return _h1(
        "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    )


def _repository() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'(?m)^Repository\s*=\s*"https://github\.com/([^"]+)"', text)[1]


LESSONS = sorted(
    (p for p in (ROOT / "notebooks").glob("*.ipynb") if LESSON.match(p.name)),
    key=lambda p: (int(LESSON.match(p.name)[2]), p.name),
)
# Each page, by its address from the site's root: (its H1, its notebook or None).
PAGES = {"index.html": (_h1((ROOT / "README.md").read_text(encoding="utf-8")), None)}
PAGES.update({f"notebooks/{p.stem}.html": (_notebook_title(p), p) for p in LESSONS})
if (ROOT / "docs/concepts.md").exists():
    PAGES["docs/concepts.html"] = (
        _h1((ROOT / "docs/concepts.md").read_text("utf-8")),
        None,
    )


# The workflow ------------------------------------------------------------------------


def test_the_pages_workflow_builds_with_the_documented_command_and_publishes_site():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(flow, dict) and flow.get("name")
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "main" in on["push"]["branches"] and "workflow_dispatch" in on
    assert flow["permissions"] == {
        "contents": "read",
        "pages": "write",
        "id-token": "write",
    }
    assert set(flow["jobs"]) == {"build", "deploy"}
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    for job in (build, deploy):
        assert job["runs-on"] and isinstance(job["steps"], list) and job["steps"]
        for step in job["steps"]:
            assert set(step) <= {"name", "id", "uses", "with", "run", "env", "if"}, step
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]
    # The README's command, and nothing else: install the docs requirements, build.
    runs = [s["run"] for s in build["steps"] if "run" in s]
    assert runs == [
        "python -m pip install -r requirements-docs.txt",
        "python tools/build_site.py",
    ]
    uses = [s["uses"].split("@")[0] for s in build["steps"] if "uses" in s]
    assert uses == [
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-pages-artifact",
    ]
    assert build["steps"][-1]["with"] == {"path": "site"}
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    step_id = deploy["steps"][0]["id"]
    assert deploy["environment"]["url"] == f"${{{{ steps.{step_id}.outputs.page_url }}}}"
    # What the workflow names is there, and the README and .gitignore know the site.
    assert (ROOT / "requirements-docs.txt").is_file() and (
        ROOT / "tools/build_site.py"
    ).is_file()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -r requirements-docs.txt && python tools/build_site.py" in readme
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(
            ["git", "check-ignore", "--no-index", "site/index.html", "docs/site/conf.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert ignored == ["site/index.html"], "site/ is built, docs/site/ is committed"


# The site in a browser ---------------------------------------------------------------


def _need_the_tools():
    for module in ("sphinx", "myst_nb", "sphinx_book_theme", "selenium"):
        pytest.importorskip(module, reason="pip install -r requirements-docs.txt first")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no chromium: apt-get install -y chromium chromium-driver, as root")


def _build(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "tools/build_site.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(directory: Path):
    """``directory`` served on 127.0.0.1 alone; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server():
    """The site, built by the README's command into site/, and served."""
    _need_the_tools()
    _build()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with _serve(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _need_the_tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={WIDTH},900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        # No network: every host but 127.0.0.1 fails to resolve, so a page that needs
        # anything from the internet (a CDN's script, a font, a remote image) shows it.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


# What a reader sees of the page.
_SEEN = """
const visible = el => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden';
const text = el => { const c = el.cloneNode(true);
    c.querySelectorAll('.headerlink').forEach(a => a.remove());
    return c.textContent.trim(); };
const main = document.querySelector('main article') || document.querySelector('main');
return {
  h1: [...main.querySelectorAll('h1')].filter(visible).map(text),
  title: document.title,
  images: [...document.images].map(i => ({src: i.currentSrc || i.src,
      ok: i.complete && i.naturalWidth > 0})),
  links: [...document.querySelectorAll('a[href]')].map(a => ({
      href: a.href, raw: a.getAttribute('href'), cls: a.className,
      main: main.contains(a), img: a.querySelector('img') !== null})),
  logs: [...main.querySelectorAll('.cell_output .output')].filter(
      el => visible(el) && el.innerText.includes('val_accuracy')).length,
  outputs: [...main.querySelectorAll('.cell_output')].filter(visible).length,
  tables: [...main.querySelectorAll('table')].filter(visible).length,
  math: main.querySelectorAll('mjx-container').length,
  requests: performance.getEntriesByType('resource').map(e => e.name),
  height: document.documentElement.scrollHeight,
};
"""


def _open(browser, url: str, screenshot: Path | None = None) -> tuple[dict, list[str]]:
    """Load ``url``; what the page shows, and its problems common to every page: console
    errors, anything fetched from outside, an image not loaded, a link that does not
    resolve."""
    base = url[: url.index("/", len("http://")) + 1]
    browser.get_log("browser")  # what an earlier page left
    browser.get(url)
    seen = browser.execute_script(_SEEN)
    if screenshot:
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": min(seen["height"], 16000)}
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    logged = browser.get_log("browser")
    problems = [f"console: {e['message']}" for e in logged if e["level"] == "SEVERE"]
    problems += [
        f"fetched from outside: {r}" for r in seen["requests"] if not r.startswith(base)
    ]
    problems += [f"image not loaded: {i['src']}" for i in seen["images"] if not i["ok"]]
    for link in seen["links"]:
        target, fragment = urldefrag(link["href"])
        if target.startswith(base):
            status, html = _fetch(target)
            if status != 200:
                problems.append(f"link {link['raw']} -> HTTP {status}")
            elif fragment and f'id="{fragment}"' not in html:
                problems.append(f"link {link['raw']}: no #{fragment} in {target}")
    return seen, problems


@functools.cache
def _fetch(url: str) -> tuple[int, str]:
    """HTTP status and text of a page of the site."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.slow
@pytest.mark.parametrize("page", list(PAGES), ids=lambda p: Path(p).stem)
def test_the_page_in_a_browser(page, server, browser):
    title, notebook = PAGES[page]
    seen, problems = _open(browser, urljoin(server, page), SHOTS / f"{Path(page).stem}.png")
    if seen["h1"] != [title]:
        problems.append(f"H1 {seen['h1']}, not [{title!r}]")
    if not seen["title"].startswith(title):
        problems.append(f"<title> {seen['title']!r}")

    pages = list(PAGES)
    linked = {urldefrag(link["href"])[0] for link in seen["links"] if link["main"]}
    if page == "index.html":
        # The course map links every lesson and the concepts page; results follow.
        problems += [
            f"no link to {p}" for p in pages[1:] if urljoin(server, p) not in linked
        ]
        if seen["tables"] < 2:
            problems.append("the course map and the results: not two tables")
    elif notebook is None:  # the concepts page: where each notebook teaches what
        if not any(urljoin(server, p) in linked for p in pages[1:-1]):
            problems.append("no link to a lesson")
    else:
        i = pages.index(page)
        nav = {link["cls"]: link["href"] for link in seen["links"]}
        expected = {"left-prev": urljoin(server, pages[i - 1])}
        if i + 1 < len(pages):
            expected["right-next"] = urljoin(server, pages[i + 1])
        for cls, want in expected.items():
            if nav.get(cls) != want:
                problems.append(f"{cls} -> {nav.get(cls)}, not {want}")
        colab = (
            f"https://colab.research.google.com/github/{_repository()}/blob/main/"
            f"notebooks/{notebook.name}"
        )
        if not [ln for ln in seen["links"] if ln["raw"] == colab and ln["img"]]:
            problems.append(f"no Colab badge linking {colab}")
        if not seen["outputs"]:
            problems.append("no cell output shown")
        if notebook.name.startswith("DNN") and not seen["logs"]:
            problems.append("no training log (val_accuracy) shown in an output")
    assert not problems, f"{page}:\n" + "\n".join(problems)


@pytest.mark.slow
def test_math_renders_with_no_network(browser, tmp_path):
    """A lesson with math gets MathJax from the site itself (no lesson has math yet)."""
    _need_the_tools()
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(ROOT / "docs" / "site", tmp_path / "docs" / "site")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "README.md").write_text("# A course\n\n## The course map\n\nDNN1.\n")
    cell = {"cell_type": "markdown", "metadata": {}, "id": "math"}
    cell["source"] = (
        "# DNN1: softmax\n\n$p_i = e^{z_i} / \\sum_j e^{z_j}$ and\n\n$$L = -\\log p_y$$\n"
    )
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "notebooks" / "DNN1_softmax.ipynb").write_text(json.dumps(notebook))
    _build("--root", str(tmp_path), "--out", str(tmp_path / "site"))
    with _serve(tmp_path / "site") as url:
        seen, problems = _open(browser, urljoin(url, "notebooks/DNN1_softmax.html"))
        for _ in range(100):  # MathJax typesets once the page has loaded
            math = browser.execute_script(_LATER)
            if math["typeset"] >= 2 and math["fonts"]:
                break
            time.sleep(0.1)
        logged = browser.get_log("browser")
    assert seen["h1"] == ["DNN1: softmax"], seen["h1"]
    assert math["typeset"] == 2, math
    assert all(r.startswith(url) for r in math["requests"]), math["requests"]
    assert any("/_static/mathjax/" in r for r in math["requests"]), math["requests"]
    problems += [f"console: {e['message']}" for e in logged if e["level"] == "SEVERE"]
    assert not problems, problems


_LATER = """
const requests = performance.getEntriesByType('resource').map(e => e.name);
return {typeset: document.querySelectorAll('mjx-container').length, requests,
        fonts: document.fonts.status === 'loaded' && requests.some(r => r.endsWith('.woff'))};
"""
