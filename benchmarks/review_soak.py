"""Review soak: eight reviewers in Chromium submit decisions for several minutes while `eqn` commands write to the same
workspace; afterwards every decision a reviewer saw confirmed (the next text appeared) must be in the workspace.

A temporary workspace holds GoEmotions (from ../shared/data/goemotions) and the shipped goemotions-eqn model, whose
real test energies are reviewed. Eight reviewer accounts and one admin sign in through the sign-in form of a real
`streamlit run app.py` server; each reviewer's browser context presses Alt+A (accept as suggested) and waits for the
next text, over and over, all eight at once (Playwright's async API, one Chromium). Meanwhile a writer thread runs
`eqn` commands in separate processes against the same workspace: saving a threshold profile, exporting the review
log, reading the sign-in audit. Recorded: decisions confirmed, per-decision latency (key press to the next text shown,
in the browser), browser errors, `eqn` commands run and failed, and the check against the review records.

    python benchmarks/review_soak.py --minutes 4
Writes benchmarks/results/review_soak.{md,json}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from app_server import CHROMIUM_ARGS, PAGE_TIMEOUT_MS, AppServer, chromium_path  # noqa: E402

RUN, SPLIT = "goemotions-eqn", "test"
REVIEWERS = [f"reviewer{i}" for i in range(1, 9)]
PASSWORD_WORDS = "violet harbor kettle"  # each account: "<name> violet harbor kettle 58", strong enough for the policy


def password(name: str) -> str:
    return f"{name} {PASSWORD_WORDS} 58"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def prepare_workspace(root: Path, data: Path) -> None:
    from eqn_core.review.accounts import add_user
    from eqn_core.store.workspace import Workspace

    with Workspace(root) as workspace:  # loading GoEmotions stores the shipped model's dev/test energies
        workspace.add_goemotions(from_dir=data)
    for name in REVIEWERS:
        add_user(root / "users.json", name, password(name), role="reviewer")
    add_user(root / "users.json", "boss", password("boss"), role="admin")


IDLE_JS = """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
                     return !(s && /Running/i.test(s.innerText || '')); }"""
ROW_JS = """() => { const el = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
                    .find(e => /Row \\d+ · id/.test(e.innerText));
                    return el ? parseInt(el.innerText.split('Row ')[1]) : null; }"""


async def reviewer(browser, url: str, name: str, deadline: float, record: dict) -> None:
    context = await browser.new_context(viewport={"width": 1300, "height": 1100})
    page = await context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS * 2)
    page.on("pageerror", lambda error: record["errors"].append(f"{name}: page error: {error}"))
    await page.goto(url, wait_until="domcontentloaded")
    await page.get_by_label("User name").fill(name)
    await page.get_by_role("textbox", name="Password").fill(password(name))
    await page.keyboard.press("Enter")
    await page.get_by_text(f"Signed in as {name}").wait_for()
    await page.get_by_test_id("stSidebarNav").get_by_role("link", name="Review").click()
    await page.get_by_role("button", name="Submit").wait_for()
    await page.wait_for_function(IDLE_JS, polling=100)
    while time.monotonic() < deadline:
        row = await page.evaluate(ROW_JS)
        if row is None:
            record["errors"].append(f"{name}: no text shown (queue empty?)")
            break
        started = time.perf_counter()
        await page.keyboard.press("Alt+a")
        try:
            await page.wait_for_function(f"() => ({ROW_JS})() !== {row} && ({ROW_JS})() !== null", polling=50)
        except Exception as error:  # a timeout: the decision was not confirmed
            record["errors"].append(f"{name}: row {row} not confirmed: {type(error).__name__}")
            await page.reload()
            await page.get_by_role("button", name="Submit").wait_for()
            continue
        record["latencies"].append(time.perf_counter() - started)
        record["confirmed"].append((name, row))
        await page.wait_for_function(IDLE_JS, polling=100)
    await context.close()


def writer(root: Path, stop: threading.Event, record: dict) -> None:
    """`eqn` commands that write to (or read) the workspace the app holds, one after another until stopped."""
    exports = Path(tempfile.mkdtemp(prefix="eqn-soak-out-"))
    step = 0
    while not stop.is_set():
        step += 1
        commands = [["thresholds", "--run", RUN, "--save", f"soak-{step}", "--note", "soak"],
                    ["export", "--run", RUN, "--split", SPLIT, "--content", "review-log", "-o",
                     str(exports / f"log-{step}.csv")],
                    ["users", "audit", "--days", "1"]]
        for arguments in commands:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "eqn_core.cli", "-w", str(root), *arguments],
                                  capture_output=True, text=True, cwd=REPO, timeout=600)
            record["commands"].append({"command": arguments[0], "seconds": time.perf_counter() - started,
                                       "ok": done.returncode == 0, "error": done.stderr.strip()[-300:]})


async def drive(url: str, minutes: float, record: dict) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        deadline = time.monotonic() + minutes * 60
        await asyncio.gather(*(reviewer(browser, url, name, deadline, record) for name in REVIEWERS))
        await browser.close()


def check(root: Path, record: dict) -> dict:
    """Every confirmed decision has its submission in the workspace (accept as suggested stores one per text)."""
    from eqn_core.store.workspace import Workspace

    with Workspace(root, read_only=True) as workspace:
        submissions = workspace.submissions(run_id=RUN, split=SPLIT)
        reviews = workspace.reviews(run_id=RUN, split=SPLIT)
    stored = set(zip(submissions["reviewer"], submissions["row_idx"].astype(int)))
    missing = [item for item in record["confirmed"] if item not in stored]
    return {"submissions": len(submissions), "label_decisions": len(reviews), "confirmed_missing": missing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "goemotions"))
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    if chromium_path() is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    os.environ["EQN_SHIPPED_MODELS"] = "1"
    root = Path(tempfile.mkdtemp(prefix="eqn-soak-")) / "ws"
    prepare_workspace(root, Path(args.data))
    record = {"latencies": [], "confirmed": [], "errors": [], "commands": []}
    server = AppServer(root, root.parent / "server.log")
    server.start()
    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(root, stop, record), daemon=True)
    started = time.perf_counter()
    try:
        thread.start()
        asyncio.run(drive(server.url, args.minutes, record))
    finally:
        stop.set()
        thread.join(timeout=600)
        server.stop()
    wall = time.perf_counter() - started
    outcome = check(root, record)
    commands = record["commands"]
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
        "cpu_count": os.cpu_count(), "reviewers": len(REVIEWERS), "minutes": args.minutes, "wall_s": round(wall, 1),
        "decisions_confirmed": len(record["confirmed"]),
        "latency_s": {"median": round(percentile(record["latencies"], 50), 3),
                      "p95": round(percentile(record["latencies"], 95), 3),
                      "max": round(max(record["latencies"], default=float("nan")), 3)},
        "browser_errors": record["errors"],
        "eqn_commands": len(commands), "eqn_failures": [c for c in commands if not c["ok"]],
        "eqn_command_median_s": round(percentile([c["seconds"] for c in commands], 50), 2),
        **outcome,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "review_soak.json").write_text(json.dumps(result, indent=2, default=str))
    lines = [f"# Review soak ({result['when']}, {result['cpu_count']} CPUs)", "",
             f"- {len(REVIEWERS)} reviewers in Chromium for {args.minutes:g} min, `eqn` commands writing meanwhile",
             f"- decisions confirmed: {result['decisions_confirmed']}; browser errors: {len(record['errors'])}",
             f"- latency key press -> next text: median {result['latency_s']['median']} s, "
             f"p95 {result['latency_s']['p95']} s, max {result['latency_s']['max']} s",
             f"- eqn commands: {len(commands)} run, {len(result['eqn_failures'])} failed "
             f"(median {result['eqn_command_median_s']} s each)",
             f"- stored submissions: {outcome['submissions']}; confirmed decisions missing from the workspace: "
             f"{len(outcome['confirmed_missing'])}"]
    (out / "review_soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if not outcome["confirmed_missing"] else 1


if __name__ == "__main__":
    sys.exit(main())
