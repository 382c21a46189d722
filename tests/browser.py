"""Headless Chromium for tests: render a page, let its scripts run, and return the DOM."""
import shutil
import subprocess

import pytest

BROWSERS = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')


def chromium_or_skip() -> str:
    """The Chromium executable, or skip the test saying how to get it."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip('no headless browser: install Debian\'s chromium package '
                '(apt-get install chromium; .ci/run does when it is quick)')


def dump_dom(url: str, budget_ms: int = 5000, timeout: float = 120) -> str:
    """The DOM of ``url`` after its scripts ran (``--dump-dom``; the virtual time budget lets
    load events and timers finish before the dump)."""
    browser = chromium_or_skip()
    proc = subprocess.run(
        [browser, '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
         '--disable-extensions', f'--virtual-time-budget={budget_ms}', '--dump-dom', url],
        capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or '<html' not in proc.stdout:
        raise AssertionError(f'chromium exited {proc.returncode}: {proc.stderr[-2000:]}')
    return proc.stdout
