"""The evaluation report page: its structure, and that it loads in a real headless browser."""

import base64
import io
import os
import re
import shutil
import wave
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lstm_music.evaluate.run import main as evaluate_main

GENERATED = 2


class Page(HTMLParser):
    """Every tag of the page with its attributes, and the text of its table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.outside_cells = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))
        self.outside_cells += tag == "td" and dict(attrs).get("class") == "outside"

    def sources(self, tag: str) -> list[str]:
        return [attrs["src"] for name, attrs in self.tags if name == tag]


@pytest.fixture(scope="module")
def report(tiny_run: Path, tiny_data: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report")
    flags = ["--checkpoint", str(tiny_run), "--data", str(tiny_data), "--workers", "1"]
    flags += ["--cache-dir", str(out / "cache")]
    page, numbers = out / "report.html", out / "report.json"
    assert evaluate_main([*flags, "--generate", str(GENERATED), "--length", "40", "--html", str(page),
                          "--json", str(numbers)]) == 0  # fmt: skip
    import json

    return page, json.loads(numbers.read_text())


def test_the_page_holds_the_tables_pictures_and_audio(report: tuple[Path, dict]) -> None:
    page_path, numbers = report
    text = page_path.read_text()
    page = Page()
    page.feed(text)
    assert "Held-out pieces against the n-gram baseline" in text and "Generated against real music" in text
    images, audio = page.sources("img"), page.sources("audio")
    pieces = GENERATED + min(2, numbers["held_out_pieces"])  # the generated pieces and two real held-out ones
    assert len(images) == pieces + 1  # a piano roll per piece, and the histograms
    assert len(audio) == pieces
    assert all(src.startswith("data:image/png;base64,") for src in images)  # self-contained: nothing to fetch
    for src in audio:
        data = base64.b64decode(src.split(",", 1)[1])
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
            assert 0 < w.getnframes() <= 30 * 22050
    assert not re.search(r'(src|href)="(?!data:)', text)  # no external file or address anywhere
    rows = numbers["music"]["per_piece"]  # every generated value outside the real range is marked, no other
    expected = sum(
        sum(not row["real_p10"] <= v <= row["real_p90"] for v in row["generated"]) + (not row["median_inside"])
        for row in rows.values()
        if "real_p10" in row
    )
    assert page.outside_cells == expected
    for stream, scores in numbers["held_out"]["model"].items():
        assert f"<td>{stream}</td><td>{scores['accuracy']:.2f}</td>" in text


def chromium() -> tuple[str, str] | None:
    """Paths of Chromium and its driver (Debian packages `chromium`, `chromium-driver`), if installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.mark.skipif(chromium() is None, reason="Chromium and chromedriver are not installed (.ci/run installs them "
                    "with apt-get where it runs as root)")  # fmt: skip
def test_the_page_loads_in_a_headless_browser_with_no_errors(report: tuple[Path, dict]) -> None:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for drivers online
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        driver.get(report[0].as_uri())
        WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
        images = driver.execute_script(
            "return [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )
        pieces = GENERATED + min(2, report[1]["held_out_pieces"])
        assert len(images) == pieces + 1 and all(done and w > 0 and h > 0 for done, w, h in images), images
        settled = "return [...document.querySelectorAll('audio')].every(a => a.readyState >= 1 || a.error)"
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(settled))  # loaded its metadata, or failed
        audio = driver.execute_script(
            "return [...document.querySelectorAll('audio')].map(a => [a.duration, a.error && a.error.code])"
        )
        assert len(audio) == pieces and all(duration > 0 and error is None for duration, error in audio), audio
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


def test_a_bad_soundfont_stops_the_report_before_scoring(tiny_run: Path, tiny_data: Path, tmp_path: Path, capsys):
    page = tmp_path / "r.html"
    flags = ["--checkpoint", str(tiny_run), "--data", str(tiny_data), "--html", str(page)]
    assert evaluate_main([*flags, "--soundfont", str(tmp_path / "none.sf2")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --soundfont {tmp_path / 'none.sf2'}: does not exist"
    assert not page.exists()
