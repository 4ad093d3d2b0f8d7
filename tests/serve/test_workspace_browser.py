"""The workspace in a real headless Chromium (Selenium driving Debian's chromium + chromedriver):
``relgraph ui`` on the demo database, every table and edge of the schema graph, a typo placed at its
column then fixed, ask's predictions and backtest, a short training run that finishes and whose
report opens, and the token rule (401 without). Skipped where no browser is installed.

``RELGRAPH_SCREENSHOTS=DIR`` keeps a screenshot of each view in DIR (docs/workspace-*.png came from it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))
from conftest import REPO, free_port  # noqa: E402
from demo_runs import CHURN, demo_db  # noqa: E402

from relgraph.database import connect  # noqa: E402
from relgraph.serve.workspace.schema_view import graph_edges  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("no chromium / chromedriver (apt install chromium chromium-driver)", allow_module_level=True)

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

HAS_ASK = importlib.util.find_spec("relgraph.runs.ask") is not None
TOKEN = "browser-token-" + "z" * 24
#: Seconds a short training run may take on a busy machine.
TRAIN_WAIT_S = 900


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(base url, one-time sign-in link, database file) of ``relgraph ui`` on a tiny demo database."""
    folder = tmp_path_factory.mktemp("ui")
    db_path = demo_db(folder)
    port = free_port()
    env = dict(os.environ, RELGRAPH_TOKEN=TOKEN, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    log = folder / "ui.log"
    process = subprocess.Popen([sys.executable, "-m", "relgraph.cli.main", "ui", f"sqlite:///{db_path}", "--runs",
                                str(folder / "runs"), "--port", str(port)], env=env, cwd=folder,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    link = None
    while time.monotonic() < deadline and link is None:
        if process.poll() is not None:
            pytest.fail(f"relgraph ui exited: {log.read_text()[-2000:]}")
        found = re.search(r"(http://\S+/login\?once=\S+)", log.read_text())
        try:
            if found and httpx.get(base + "/health", timeout=2).status_code == 200:
                link = found.group(1)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    if link is None:
        process.kill()
        pytest.fail("relgraph ui did not start")
    yield base, link, db_path
    process.terminate()
    process.wait(timeout=30)
    assert TOKEN not in log.read_text()  # the token itself is never printed


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def _shot(driver: webdriver.Chrome, name: str) -> None:
    folder = os.environ.get("RELGRAPH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"workspace-{name}.png"))


def _attribute(driver: webdriver.Chrome, element_id: str, name: str) -> str | None:
    """An element's attribute, None while htmx has it swapped out."""
    try:
        return driver.find_element(By.ID, element_id).get_attribute(name)
    except (NoSuchElementException, StaleElementReferenceException):
        return None


def _type(driver: webdriver.Chrome, text: str) -> None:
    box = driver.find_element(By.ID, "pql")
    box.clear()
    box.send_keys(text)


def test_workspace_in_a_browser(workspace: tuple[str, str, Path], browser: webdriver.Chrome) -> None:
    base, link, db_path = workspace
    schema = connect(f"sqlite:///{db_path}").schema
    wait = WebDriverWait(browser, 120)
    assert httpx.get(base + "/schema").status_code == 401  # no token, no page
    assert httpx.get(base + "/schema", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    # Schema: every table and foreign key of the database is drawn.
    browser.get(link)
    wait.until(EC.presence_of_element_located((By.ID, "schema-graph")))
    tables = {e.get_attribute("data-table") for e in browser.find_elements(By.CSS_SELECTOR, "g.table")}
    edges = {e.get_attribute("data-edge") for e in browser.find_elements(By.CSS_SELECTOR, "g.edge")}
    assert tables == set(schema.table_names)
    assert edges == {f"{child}.{column}->{parent}" for child, column, parent in graph_edges(schema)}
    assert "orders.customer_id->customers" in edges
    _shot(browser, "schema")

    # Query: a typo is placed at its column as it is typed; fixed, the task is valid and builds.
    browser.get(base + "/query")
    typo = CHURN.replace("customers.customer_id", "customers.custmer_id")
    _type(browser, typo)
    column = str(typo.index("custmer_id") + 1)
    wait.until(lambda d: _attribute(d, "query-error", "data-column") == column)  # checked as typed
    assert "did you mean customer_id" in browser.find_element(By.ID, "query-error").text
    _type(browser, CHURN)
    wait.until(EC.visibility_of_element_located((By.ID, "query-ok")))
    browser.find_element(By.ID, "build").click()
    wait.until(EC.visibility_of_element_located((By.ID, "splits")))
    _shot(browser, "query")

    # Runs: a short training run starts in the background (it trains while we ask) ...
    browser.get(f"{base}/runs?pql={httpx.QueryParams({'q': CHURN})['q']}")
    Select(browser.find_element(By.ID, "model")).select_by_visible_text("lightgbm")  # the quickest short run
    browser.find_element(By.ID, "train").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr.job")))

    # Answers: ask's predictions, its backtest beside the trivial baseline, one entity's evidence.
    browser.get(f"{base}/answers?pql={httpx.QueryParams({'q': CHURN})['q']}")
    browser.find_element(By.ID, "ask").click()
    if not HAS_ASK:  # before issue #24 lands: the view says so in the page
        assert "relgraph ask is not in this version" in wait.until(
            EC.visibility_of_element_located((By.CSS_SELECTOR, "#answer .error"))).text
    else:
        wait.until(EC.visibility_of_element_located((By.ID, "predictions")))
        assert len(browser.find_elements(By.CSS_SELECTOR, "#predictions tr")) > 1
        assert "trivial" in browser.find_element(By.ID, "backtest").text
        first_id = browser.find_element(By.CSS_SELECTOR, "#predictions tr:nth-child(2) td").text
        browser.find_element(By.ID, "entity-id").send_keys(first_id)
        browser.find_element(By.ID, "ask").click()
        wait.until(EC.visibility_of_element_located((By.ID, "evidence")))
        _shot(browser, "answers")

    # ... and finishes; its folder is listed and its report opens.
    browser.get(base + "/runs")
    WebDriverWait(browser, TRAIN_WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "tr.job.finished, tr.job.failed"))
    assert browser.find_elements(By.CSS_SELECTOR, "tr.job.finished"), browser.find_element(By.ID, "jobs").text
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#run-table tr[data-run]")))
    _shot(browser, "runs")
    report = browser.find_element(By.CSS_SELECTOR, "a.open-report").get_attribute("href")
    browser.get(report)
    assert "relgraph" in browser.page_source and "Label distribution over time" in browser.page_source
