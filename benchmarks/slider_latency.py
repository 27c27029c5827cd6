"""Slider latency: from a move of the Thresholds page's global threshold h to the updated figures.

On the GoEmotions test split (5,427 texts x 28 labels), four measurements:
  (a) library work per move: metrics.decide + per_label_report + label_changes (and the page's whole
      thresholds.threshold_report), median / p95 over --moves moves;
  (b) the full Streamlit rerun of app_pages/3_Thresholds.py under streamlit.testing AppTest (set the slider, run),
      median / p95 over --app-moves moves;
  (c) in a real headless Chromium (Debian chromium + Playwright), from the key press on the slider to the
      Macro F1 figure changing in the page (includes the slider's commit delay, the websocket round trip, the
      rerun and React's rendering), median over --browser-moves moves. Skipped without chromium/playwright;
  (d) several people at once: --contexts browser contexts (default 4, each its own Streamlit session on the same
      server) move the slider by keyboard at the same time, --presses timed presses each; per press, from the
      keydown to the page showing the Macro F1 the library computes for the new h; median and p95 per context and
      over all presses.

Energies: with --workspace (and optionally --run), a finished run's real test energies; the app parts then use
that workspace (close any app serving it first: DuckDB allows one writer). Without --workspace, a temporary
workspace holds GoEmotions and a run whose energies are a SYNTHETIC, seeded stand-in (the timings depend on the
array's shape, not its values); the report says so.

    python benchmarks/slider_latency.py                          # synthetic energies, temporary workspace
    python benchmarks/slider_latency.py --workspace benchmarks/out/ws-frozen --run RUN_ID
    # the shipped GoEmotions model: its energies are stored once GoEmotions is in the workspace
    python -m eqn_core.cli --workspace W fetch goemotions --from ../shared/data/goemotions
    python benchmarks/slider_latency.py --workspace W --run goemotions-eqn --contexts 4
Writes benchmarks/results/slider_latency.{md,json}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests"))  # app_server: the app served for a browser, shared with the browser tests
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from app_server import CHROMIUM_ARGS, AppServer, chromium_path  # noqa: E402
from eqn_core.io.datasets import load_goemotions
from eqn_core.method.metrics import decide, label_changes, per_label_report
from eqn_core.method.reports import threshold_report
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, tune_thresholds
from eqn_core.store.workspace import Workspace

SYNTHETIC_RUN = "synthetic-standin"
SPLIT = "test"
START_H = DEFAULT_THRESHOLD


# ------------------------------------------------------------------------------------------------ helpers
def stats(seconds: list[float]) -> dict:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"n": int(ms.size), "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()), "max_ms": float(ms.max())}


def h_sequence(count: int, seed: int = 0) -> list[float]:
    """Deterministic slider positions: a random walk of 0.1 steps (sometimes a jump) inside [0.5, 9.5]."""
    rng = np.random.default_rng(seed)
    values, h = [], START_H
    for _ in range(count):
        step = rng.choice([-0.1, 0.1]) if rng.random() < 0.8 else rng.uniform(-2.0, 2.0)
        h = float(np.clip(round(h + step, 1), 0.5, 9.5))
        if values and h == values[-1]:
            h = round(h - 0.1, 1) if h > 0.5 else round(h + 0.1, 1)
        values.append(h)
    return values


def synthetic_energies(human_labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded stand-in shaped like a model's energies: human labels ~ N(5.5, 2.5), the rest ~ Exp(mean 0.8),
    plus a per-label offset; clipped to [0, 10], float32, (N, C)."""
    rng = np.random.default_rng(seed)
    n, c = human_labels.shape
    offset = rng.normal(0.0, 0.5, size=c)
    on = rng.normal(5.5, 2.5, size=(n, c))
    off = rng.exponential(0.8, size=(n, c))
    return np.clip(np.where(human_labels, on, off) + offset, 0.0, 10.0).astype(np.float32)


def tree_cpu_seconds(root_pid: int, *, skip: int | None = None, with_root: bool = True) -> float | None:
    """User + system CPU seconds of a process and its live descendants, a subtree at skip left out (Linux /proc;
    None elsewhere)."""
    parents, cpu = {}, {}
    try:
        entries = [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # after "pid (name)"
        except OSError:
            continue  # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime, in ticks
    chosen, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        if pid == skip or pid in chosen:
            continue
        chosen.add(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    if not with_root:
        chosen.discard(root_pid)
    return sum(cpu.get(pid, 0) for pid in chosen) / os.sysconf("SC_CLK_TCK")


def macro_f1_text(energies: np.ndarray, labels: np.ndarray, h: float) -> str:
    report = per_label_report(decide(energies, rule="threshold", thresholds=np.float64(h)), labels)
    return f"{report['macro']['f1']:.4f}"


# ------------------------------------------------------------------------------------------------ workspace
def synthetic_workspace(root: Path, data_dir: Path, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    """A workspace with GoEmotions and a finished run holding synthetic dev/test energies.
    Returns (run_id, test energies, test human labels)."""
    dataset = load_goemotions(data_dir)
    energies = {name: synthetic_energies(dataset.splits[name].human_labels, seed + i)
                for i, name in enumerate(("dev", "test"))}
    thresholds = tune_thresholds(energies["dev"], dataset.splits["dev"].human_labels)
    with Workspace(root) as workspace:
        workspace.add_dataset(dataset)
        config = {"dataset": "goemotions", "mode": "eqn", "encoder": "synthetic stand-in (no model)",
                  "encoder_mode": "frozen", "note": "benchmarks/slider_latency.py: synthetic energies"}
        workspace.create_run(SYNTHETIC_RUN, dataset="goemotions", mode="eqn", encoder="synthetic stand-in",
                             config=config, run_dir=root / "runs" / SYNTHETIC_RUN)
        for name, values in energies.items():
            workspace.store_energies(SYNTHETIC_RUN, name, values)
        # what the pages read from a run's metrics: tuned thresholds, the global threshold, per-split figures
        workspace.update_run(SYNTHETIC_RUN, status="finished", started_at=time.time(), finished_at=time.time(),
                             metrics={"thresholds": [float(t) for t in thresholds], "global_threshold": START_H,
                                      "label_names": dataset.label_names, "phases": [], "splits": {}})
    return SYNTHETIC_RUN, energies["test"], dataset.splits["test"].human_labels


def real_run(root: Path, run_id: str | None) -> tuple[str, np.ndarray, np.ndarray]:
    with Workspace(root, read_only=True) as workspace:
        runs = workspace.list_runs()
        finished = runs[runs["status"] == "finished"]
        if run_id is None:
            on_goemotions = finished[finished["dataset"] == "goemotions"]
            if on_goemotions.empty:
                raise SystemExit(f"No finished GoEmotions run in {root}; pass --run.")
            run_id = str(on_goemotions.iloc[0]["run_id"])
        run = workspace.get_run(run_id)
        if run["status"] != "finished":
            raise SystemExit(f"Run {run_id} is {run['status']}, not finished.")
        energies = workspace.load_energies(run_id, SPLIT)
        labels = workspace.load_dataset(run["dataset"], splits=[SPLIT]).splits[SPLIT].human_labels
    return run_id, energies, labels


# ------------------------------------------------------------------------------------------------ (a) library
def measure_library(energies: np.ndarray, labels: np.ndarray, moves: int) -> dict:
    values = h_sequence(moves, seed=1)
    core, page = [], []
    for h in values[:5]:  # warm-up
        threshold_report(energies, labels, np.full(labels.shape[1], h), [str(j) for j in range(labels.shape[1])])
    names = [str(j) for j in range(labels.shape[1])]
    for h in values:
        thresholds = np.full(labels.shape[1], h, dtype=np.float64)
        started = time.perf_counter()
        predicted = decide(energies, rule="threshold", thresholds=thresholds)
        per_label_report(predicted, labels, label_names=names)
        label_changes(energies, labels, thresholds, label_names=names)
        core.append(time.perf_counter() - started)
        started = time.perf_counter()
        threshold_report(energies, labels, thresholds, names)
        page.append(time.perf_counter() - started)
    return {"decide+per_label_report+label_changes": stats(core), "threshold_report (what the page calls)": stats(page)}


# ------------------------------------------------------------------------------------------------ (b) AppTest
def measure_apptest(root: Path, run_id: str, energies: np.ndarray, labels: np.ndarray, moves: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["EQN_WORKSPACE"] = str(root)
    started = time.perf_counter()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["run"] = run_id
    at.run()
    at.switch_page("app_pages/3_Thresholds.py").run()
    first_load = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"Thresholds page failed: {[e.message for e in at.exception]}")
    values = h_sequence(moves + 3, seed=2)
    seconds, checked = [], 0
    try:
        for i, h in enumerate(values):
            started = time.perf_counter()
            at.slider(key="th_global").set_value(h).run()
            elapsed = time.perf_counter() - started
            if at.exception:
                raise RuntimeError(f"rerun failed at h={h}: {[e.message for e in at.exception]}")
            shown = [m.value for m in at.metric if m.label == "Macro F1"][0]
            if shown != macro_f1_text(energies, labels, h):
                raise RuntimeError(f"page shows Macro F1 {shown} at h={h}, library says "
                                   f"{macro_f1_text(energies, labels, h)}")
            checked += 1
            if i >= 3:  # the first three are warm-up
                seconds.append(elapsed)
    finally:
        import logging

        from ui.session import open_workspace  # release the DuckDB file for the browser part

        logging.disable(logging.WARNING)  # "missing ScriptRunContext": reaching the cache from outside a page
        try:
            open_workspace(str(root.resolve())).close()
        finally:
            logging.disable(logging.NOTSET)
        st.cache_resource.clear()
        st.cache_data.clear()
    return {"rerun": stats(seconds), "first_load_seconds": first_load, "figures_checked": checked}


# ------------------------------------------------------------------------------------------------ (c) browser
TIMING_JS = """() => {
    const read = () => {
        for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
            const l = m.querySelector('[data-testid="stMetricLabel"]');
            const v = m.querySelector('[data-testid="stMetricValue"]');
            if (l && v && l.innerText.trim() === 'Macro F1') return v.innerText.trim();
        }
        return null;
    };
    window.__eqnRead = read;
    window.__eqn = {t0: null, t1: null, old: null};
    document.addEventListener('keydown', (e) => {
        if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
            window.__eqn = {t0: performance.now(), t1: null, old: read()};
        }
    }, true);
    new MutationObserver(() => {
        const s = window.__eqn;
        if (s.t0 !== null && s.t1 === null) {
            const v = read();
            if (v !== null && v !== s.old) s.t1 = performance.now();
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
IDLE_JS = """() => {
    const s = document.querySelector('[data-testid="stStatusWidget"]');
    return !(s && /Running/i.test(s.innerText || ''));
}"""


def measure_browser(root: Path, run_id: str, moves: int, log_dir: Path, concurrent: dict | None = None) -> dict:
    """(c) with moves > 0 and (d) with concurrent (the keyword arguments of measure_concurrent) on one served app;
    returns {"single": ..., "concurrent": ...} for the parts asked."""
    server = AppServer(root, log_dir / "streamlit.log", start_timeout=180)
    url = server.start()
    try:
        measured = {}
        if moves:
            measured["single"] = measure_single(url, run_id, moves)
        if concurrent:
            measured["concurrent"] = asyncio.run(measure_concurrent(url, run_id, server_pid=server.process.pid,
                                                                 **concurrent))
        return measured
    finally:
        server.stop()


def measure_single(url: str, run_id: str, moves: int) -> dict:
    """(c) one browser page: key press to a changed Macro F1, median over moves."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            started = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("heading", name="EQN Studio").wait_for()
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Thresholds").click()
            page.get_by_role("heading", name="Thresholds").wait_for()
            page.evaluate(TIMING_JS)
            page.wait_for_function("() => window.__eqnRead() !== null", timeout=120_000)
            page.wait_for_function(IDLE_JS, timeout=120_000, polling=200)
            first_load = time.perf_counter() - started
            select_run(page, run_id)
            slider = page.get_by_role("slider", name="Global energy threshold h")
            slider.focus()
            seconds, unchanged = [], 0
            keys = (["ArrowRight"] * 5 + ["ArrowLeft"] * 5) * (moves // 10 + 2)
            for i, key in enumerate(keys[:moves + 2]):
                page.keyboard.press(key)
                try:
                    page.wait_for_function("() => window.__eqn.t1 !== null", timeout=30_000, polling="raf")
                except Exception:
                    unchanged += 1  # the figure did not change (or the rerun took over 30 s)
                    continue
                finally:
                    page.wait_for_function(IDLE_JS, timeout=60_000, polling=100)
                    page.wait_for_timeout(400)
                elapsed = page.evaluate("() => (window.__eqn.t1 - window.__eqn.t0) / 1000")
                if i >= 2:  # the first two are warm-up
                    seconds.append(elapsed)
            if not seconds:
                raise RuntimeError("the Macro F1 figure never changed after a key press")
            return {"key_to_macro_f1_change": stats(seconds), "first_load_seconds": first_load,
                    "moves_without_change": unchanged}
        finally:
            browser.close()


def select_run(page, run_id: str) -> None:
    """Pick run_id in the page's Run select box when the page did not choose it by itself."""
    box = page.get_by_test_id("stSelectbox").filter(has_text="Run").first
    if run_id in box.inner_text():
        return
    box.click()
    page.get_by_role("option", name=run_id).first.click()
    page.wait_for_function(f"() => document.body.innerText.includes('Run {run_id}, split')", timeout=120_000)
    page.wait_for_function(IDLE_JS, timeout=120_000, polling=200)


# ------------------------------------------------------------------------------------------------ (d) concurrent
PRESS_JS = """() => {
    // Per key press: t0 at the keydown, t1 at the first DOM change after which the Macro F1 figure shows the
    // wanted value and the run caption names the new h (so a move that leaves the figure as it was still counts).
    const text = (e) => (e ? e.textContent.trim() : null);
    const macroF1 = () => {
        for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
            if (text(m.querySelector('[data-testid="stMetricLabel"]')) === 'Macro F1') {
                return text(m.querySelector('[data-testid="stMetricValue"]'));
            }
        }
        return null;
    };
    const captionSays = (words) => Array.from(document.querySelectorAll('[data-testid="stCaptionContainer"]'))
        .some((c) => c.textContent.includes(words));
    const fresh = (want) => ({want: want, t0: null, t1: null, sent: null, reply: null, last: null});
    window.__eqnPress = fresh(null);
    window.__eqnExpect = (want) => { window.__eqnPress = fresh(want); };
    const check = () => {
        const p = window.__eqnPress;
        if (p.want !== null && p.t0 !== null && p.t1 === null && macroF1() === p.want.f1
                && captionSays(p.want.caption)) {
            p.t1 = performance.now();
        }
    };
    document.addEventListener('keydown', (e) => {
        if ((e.key === 'ArrowLeft' || e.key === 'ArrowRight') && window.__eqnPress.t0 === null) {
            window.__eqnPress.t0 = performance.now();
        }
    }, true);
    new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
WEBSOCKET_JS = """() => {
    // Where a press's time goes: t0 keydown -> sent (the slider commits, the rerun request leaves) -> reply (the
    // first message back: the server started the rerun) -> last (the last message before the figure showed: it
    // carried the figure) -> t1 (the figure is on screen).
    const Native = window.WebSocket;
    class Timed extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', () => {
                const p = window.__eqnPress;
                if (p && p.sent !== undefined && p.sent !== null && p.t1 === null) {
                    p.last = performance.now();
                    if (p.reply === null) p.reply = p.last;
                }
            });
        }
        send(data) {
            const p = window.__eqnPress;
            if (p && p.t0 !== null && p.sent === null) p.sent = performance.now();
            return super.send(data);
        }
    }
    window.WebSocket = Timed;
}"""
SLIDER_FOCUSED_JS = "() => document.activeElement && document.activeElement.getAttribute('role') === 'slider'"
SLIDER_VALUE_JS = "(e) => Number(e.getAttribute('aria-valuenow') ?? e.value)"
PHASES = ("keydown to rerun request sent", "request to the server's first reply",
          "first reply to the message with the figure", "that message to the figure on screen")


def cpu_seconds(server_pid: int | None) -> dict:
    """CPU seconds so far of the app server (its process tree) and of the browser (this process's other
    descendants: the Playwright driver and Chromium)."""
    return {"app server": None if server_pid is None else tree_cpu_seconds(server_pid),
            "browser": tree_cpu_seconds(os.getpid(), skip=server_pid, with_root=False)}


async def open_person(browser, url: str, run_id: str):
    """One person: a browser context of its own (its own Streamlit session) on the Thresholds page of run_id,
    reached as a user does: the home page, then the sidebar link."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await context.add_init_script(f"({WEBSOCKET_JS})()")
    page = await context.new_page()
    page.set_default_timeout(120_000)
    started = time.perf_counter()
    await page.goto(url, wait_until="domcontentloaded")
    await page.get_by_role("heading", name="EQN Studio").wait_for()
    await page.get_by_test_id("stSidebarNav").get_by_role("link", name="Thresholds").click()
    await page.get_by_role("heading", name="Thresholds").wait_for()
    await page.wait_for_function(IDLE_JS, timeout=120_000, polling=200)
    box = page.get_by_test_id("stSelectbox").filter(has_text="Run").first
    if run_id not in await box.inner_text():
        await box.click()
        await page.get_by_role("option", name=run_id).first.click()
    await page.wait_for_function(f"() => document.body.textContent.includes('Run {run_id}, split test')",
                                 timeout=120_000, polling=200)
    await page.wait_for_function(IDLE_JS, timeout=120_000, polling=200)
    await page.evaluate(PRESS_JS)
    return context, page, time.perf_counter() - started


async def move_slider(page, presses: int, warmup: int, figure_of, pause_s: float, seed: int) -> dict:
    """Arrow-key presses on the global threshold slider, each timed in the page until the new h's Macro F1
    (figure_of(h), the library's text) shows; after each, wait for the rerun to end and pause ~pause_s."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    rng = np.random.default_rng(seed)
    slider = page.get_by_role("slider", name="Global energy threshold h")
    h = round(await slider.evaluate(SLIDER_VALUE_JS), 1)
    seconds, phases, timed_out, wrong_value = [], [], 0, 0
    await asyncio.sleep(rng.uniform(0.0, pause_s))  # the people do not start in step
    for i in range(warmup + presses):
        step = 0.1 if (h <= 1.0 or (h < 9.0 and rng.random() < 0.5)) else -0.1
        h = round(h + step, 1)
        want = {"f1": figure_of(h), "caption": f"global h = {h:.1f}"}
        await page.evaluate("(want) => window.__eqnExpect(want)", want)
        if not await page.evaluate(SLIDER_FOCUSED_JS):
            await slider.focus()
        await page.keyboard.press("ArrowRight" if step > 0 else "ArrowLeft")
        try:
            await page.wait_for_function("() => window.__eqnPress.t1 !== null", timeout=30_000, polling=50)
            press = await page.evaluate("() => window.__eqnPress")
            elapsed = (press["t1"] - press["t0"]) / 1000
        except PlaywrightTimeout:  # not shown within 30 s: counted, not timed
            elapsed = None
            shown = round(await slider.evaluate(SLIDER_VALUE_JS), 1)
            if abs(shown - h) > 1e-6:
                wrong_value += 1
                h = shown
            else:
                timed_out += 1
        await page.wait_for_function(IDLE_JS, timeout=60_000, polling=100)
        if elapsed is not None and i >= warmup:
            seconds.append(elapsed)
            if press["sent"] is not None and press["reply"] is not None:
                marks = [press[name] for name in ("t0", "sent", "reply", "last", "t1")]
                phases.append([(later - earlier) / 1000 for earlier, later in zip(marks, marks[1:])])
        await asyncio.sleep(rng.uniform(0.5, 1.5) * pause_s)
    return {"seconds": seconds, "phases": phases, "timed_out": timed_out, "slider_elsewhere": wrong_value}


async def measure_concurrent(url: str, run_id: str, *, energies: np.ndarray, labels: np.ndarray, contexts: int,
                             presses: int, warmup: int = 2, pause_ms: float = 500.0, seed: int = 0,
                             server_pid: int | None = None) -> dict:
    """(d) contexts people at once, each in its own browser context (own Streamlit session) on one server, moving
    the global threshold by keyboard; per press, keydown to the page showing the library's Macro F1 for the new h."""
    from playwright.async_api import async_playwright

    figures: dict[float, str] = {}

    def figure_of(h: float) -> str:
        if h not in figures:
            figures[h] = macro_f1_text(energies, labels, h)
        return figures[h]

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            opened = [await open_person(browser, url, run_id) for _ in range(contexts)]
            load_before = os.getloadavg()[0]
            cpu_before = cpu_seconds(server_pid)
            started = time.perf_counter()
            people = await asyncio.gather(*[move_slider(page, presses, warmup, figure_of, pause_ms / 1000.0, seed + i)
                                            for i, (_, page, _) in enumerate(opened)])
            wall = time.perf_counter() - started
            cpu_after = cpu_seconds(server_pid)
            for context, _, _ in opened:
                await context.close()
        finally:
            await browser.close()
    every = [s for person in people for s in person["seconds"]]
    if not every:
        raise RuntimeError("no key press showed the expected Macro F1 within 30 s")
    cpu_per_press = {}
    if None not in (*cpu_before.values(), *cpu_after.values()):  # CPU ms per key press, warm-up presses included
        cpu_per_press = {name: 1000 * (cpu_after[name] - cpu_before[name]) / (contexts * (presses + warmup))
                         for name in cpu_before}
    phases = np.asarray([phase for person in people for phase in person["phases"]])
    phases = phases.reshape(-1, len(PHASES))  # (timed presses, 4)
    return {"contexts": contexts, "presses_per_context": presses, "warmup_per_context": warmup, "pause_ms": pause_ms,
            "overall": stats(every),
            "phases": {name: stats(phases[:, j].tolist()) for j, name in enumerate(PHASES)} if len(phases) else {},
            "per_context": [{**(stats(p["seconds"]) if p["seconds"] else {"n": 0}), "timed_out": p["timed_out"],
                             "slider_elsewhere": p["slider_elsewhere"]} for p in people],
            "first_load_seconds": [round(load, 2) for _, _, load in opened], "wall_seconds": wall,
            "cpu_ms_per_press": cpu_per_press,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


# ------------------------------------------------------------------------------------------------ report
def machine() -> dict:
    import streamlit
    import torch

    from eqn_core.method.inference import device_name

    info = {"platform": platform.platform(), "processor": device_name(torch.device("cpu")),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "streamlit": streamlit.__version__}
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def write_report(result: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "slider_latency.json").write_text(json.dumps(result, indent=2))
    m = result["machine"]
    lines = ["# Slider latency: Thresholds page, global threshold h", "",
             f"- date: {result['date']}", f"- command: `{result['command']}`",
             f"- machine: {m['processor']}; {m['platform']}, Python {m['python']}, numpy {m['numpy']}, "
             f"streamlit {m['streamlit']}; load average at start {m.get('load_average_at_start')}",
             f"- data: GoEmotions {SPLIT} split, {result['shape'][0]:,} texts x {result['shape'][1]} labels",
             f"- energies: {result['energies']}", ""]
    if result["synthetic"]:
        lines += ["> **The energies are a synthetic stand-in** (seeded random values shaped like a model's), not a "
                  "model's output. The timings depend on the array's shape, not on its values; the macro-F1 "
                  "figures of this run mean nothing.", ""]
    lines += ["| what | moves | median ms | p95 ms | mean ms | min ms | max ms |", "|---|---|---|---|---|---|---|"]
    rows = [(f"(a) library: {name}", s) for name, s in result["library"].items()]
    if "apptest" in result:
        rows.append(("(b) AppTest: full rerun of app_pages/3_Thresholds.py", result["apptest"]["rerun"]))
    if "browser" in result:
        rows.append(("(c) Chromium: key press to Macro F1 changed in the page",
                     result["browser"]["key_to_macro_f1_change"]))
    if "browser_concurrent" in result:
        d = result["browser_concurrent"]
        rows.append((f"(d) Chromium, {d['contexts']} sessions at once: key press to the new h's Macro F1, all presses",
                     d["overall"]))
        rows += [(f"(d) session {i + 1}", person) for i, person in enumerate(d["per_context"]) if person["n"]]
        rows += [(f"(d) phase: {name}", phase) for name, phase in d.get("phases", {}).items()]
    for name, s in rows:
        lines.append(f"| {name} | {s['n']} | {s['median_ms']:.1f} | {s['p95_ms']:.1f} | {s['mean_ms']:.1f} | "
                     f"{s['min_ms']:.1f} | {s['max_ms']:.1f} |")
    lines.append("")
    if "apptest" in result:
        lines.append(f"- (b) first load of the page (home, then Thresholds) under AppTest: "
                     f"{result['apptest']['first_load_seconds']:.1f} s; the shown Macro F1 matched the library's "
                     f"figure on all {result['apptest']['figures_checked']} reruns.")
    if "browser" in result:
        b = result["browser"]
        lines.append(f"- (c) one ArrowLeft/ArrowRight press (0.1) per move; the time runs from the keydown event to "
                     f"the DOM mutation that shows a new Macro F1 (includes the slider's commit delay, the websocket "
                     f"round trip, the rerun and React's rendering). First load {b['first_load_seconds']:.1f} s; "
                     f"{b['moves_without_change']} move(s) left the figure unchanged.")
    elif result.get("browser_skipped"):
        lines.append(f"- (c) skipped: {result['browser_skipped']}")
    if "browser_concurrent" in result:
        d = result["browser_concurrent"]
        missed = sum(p["timed_out"] + p["slider_elsewhere"] for p in d["per_context"])
        lines.append(f"- (d) {d['contexts']} browser contexts (each its own Streamlit session) on one server, all "
                     f"moving "
                     f"the global h by ArrowLeft/ArrowRight at the same time: {d['presses_per_context']} timed presses "
                     f"each after {d['warmup_per_context']} warm-up presses, a pause of {d['pause_ms'] / 2:.0f}-"
                     f"{d['pause_ms'] * 1.5:.0f} ms after each shown result. The time runs from the keydown event to "
                     f"the DOM change after which Macro F1 shows the library's figure for the new h and the run "
                     f"caption names that h (slider commit delay, websocket, rerun and rendering, with the other "
                     f"sessions' reruns competing for the same CPU; the browser runs on the same machine). "
                     f"{missed} press(es) not shown within 30 s; first loads {d['first_load_seconds']} s; "
                     f"{d['wall_seconds']:.0f} s in all; 1-minute load average {d['load_average_1min'][0]} before, "
                     f"{d['load_average_1min'][1]} after."
                     + "".join(f" CPU per key press (warm-up included), {name}: {ms:.0f} ms."
                               for name, ms in d["cpu_ms_per_press"].items()))
    lines.append("")
    (out_dir / "slider_latency.md").write_text("\n".join(lines))


def command_path(script: str) -> str:
    path = Path(script).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, help="a workspace with a finished GoEmotions run (real energies)")
    parser.add_argument("--run", help="the run id (default: the newest finished GoEmotions run)")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "goemotions",
                        help="GoEmotions folder (train/dev/test.tsv) for the synthetic stand-in")
    parser.add_argument("--moves", type=int, default=200, help="(a) library moves")
    parser.add_argument("--app-moves", type=int, default=20, help="(b) AppTest reruns")
    parser.add_argument("--browser-moves", type=int, default=10, help="(c) key presses in Chromium (0: skip)")
    parser.add_argument("--contexts", type=int, default=4,
                        help="(d) browser contexts moving the slider at once, each its own session (0: skip)")
    parser.add_argument("--presses", type=int, default=20, help="(d) timed key presses per context")
    parser.add_argument("--warmup", type=int, default=2, help="(d) untimed key presses per context first")
    parser.add_argument("--pause-ms", type=float, default=500.0,
                        help="(d) mean pause after each shown result (uniform in 0.5x-1.5x)")
    parser.add_argument("--no-app", action="store_true", help="skip (b) and (c)")
    parser.add_argument("--no-browser", action="store_true", help="skip (c) and (d)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python", command_path(sys.argv[0]), *sys.argv[1:]]),
              "machine": machine()}
    temporary = None
    try:
        if args.workspace:
            root = args.workspace.resolve()
            run_id, energies, labels = real_run(root, args.run)
            result.update(synthetic=False, energies=f"run {run_id} in {root} (real model energies)")
        else:
            temporary = tempfile.TemporaryDirectory(prefix="eqn-slider-")
            root = Path(temporary.name) / "workspace"
            print("building a temporary workspace with GoEmotions and a synthetic run ...", file=sys.stderr)
            run_id, energies, labels = synthetic_workspace(root, args.data_dir, args.seed)
            result.update(synthetic=True, energies=f"SYNTHETIC stand-in, seed {args.seed} (run {run_id} in a "
                                                   "temporary workspace); not a model's output")
        result["run_id"], result["shape"] = run_id, list(energies.shape)
        print(f"(a) library, {args.moves} moves ...", file=sys.stderr)
        result["library"] = measure_library(energies, labels, args.moves)
        if not args.no_app:
            print(f"(b) AppTest, {args.app_moves} reruns ...", file=sys.stderr)
            result["apptest"] = measure_apptest(root, run_id, energies, labels, args.app_moves)
            missing = None
            try:
                import playwright.sync_api  # noqa: F401  (only whether it imports)
            except ImportError:
                missing = "the playwright package is not installed"
            if chromium_path() is None:
                missing = "no chromium browser"
            if args.no_browser:
                missing = "--no-browser"
            if missing:
                result["browser_skipped"] = missing
            else:
                print(f"(c) Chromium, {args.browser_moves} key presses; (d) {args.contexts} contexts x "
                      f"{args.presses} key presses ...", file=sys.stderr)
                log_dir = Path(tempfile.mkdtemp(prefix="eqn-slider-log-"))
                concurrent = (None if args.contexts <= 0 else
                              {"energies": energies, "labels": labels, "contexts": args.contexts,
                               "presses": args.presses, "warmup": args.warmup, "pause_ms": args.pause_ms,
                               "seed": args.seed})
                measured = measure_browser(root, run_id, args.browser_moves, log_dir, concurrent)
                if "single" in measured:
                    result["browser"] = measured["single"]
                if "concurrent" in measured:
                    result["browser_concurrent"] = measured["concurrent"]
                shutil.rmtree(log_dir, ignore_errors=True)
    finally:
        if temporary is not None:
            temporary.cleanup()
    write_report(result, args.out)
    print((args.out / "slider_latency.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
