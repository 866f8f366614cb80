"""Headless Chromium driven by Selenium with Debian's chromedriver (never Selenium Manager downloads).

The driver's calls block, so tests run them through ``trio.to_thread`` while the gateway serves in the
test's own Trio loop. Waits are the driver's own deadline polls (``WebDriverWait``), bounded again by the
test's ``trio.fail_after``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check",
         "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication")


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``.

    Only a missing Chromium skips them; a missing chromedriver or selenium next to an installed Chromium is
    a broken setup and fails loudly when the driver starts.
    """
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (Debian: apt-get install chromium chromium-driver)"
    return None


class Browser:
    """One headless Chromium with its own throwaway profile."""

    def __init__(self, *, width: int = 1280, height: int = 900, extra_flags: tuple[str, ...] = ()) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="moltbot-chromium-")
        options = webdriver.ChromeOptions()
        for flag in (*FLAGS, *extra_flags):
            options.add_argument(flag)
        options.add_argument(f"--window-size={width},{height}")
        options.add_argument(f"--user-data-dir={self.profile}")
        options.binary_location = str(CHROMIUM)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # --- helpers (blocking: call them in a thread) ------------------------------------------------

    def wait(self, predicate: Any, timeout: float = 10, message: str = "") -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(predicate, message)

    def by_id(self, element_id: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def css(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text_of(self, element_id: str) -> str:
        return self.by_id(element_id).text

    def wait_text(self, element_id: str, expected: str, timeout: float = 10) -> str:
        """Wait until the element's text contains ``expected``; return the text."""
        self.wait(lambda _: expected in self.text_of(element_id), timeout,
                  f"#{element_id} never showed {expected!r}")
        return self.text_of(element_id)

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
