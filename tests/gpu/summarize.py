"""The summary of tests/gpu/check_all.sh: every stage's status and rows in one JSON and one readable file.

Usage: python tests/gpu/summarize.py WORK RESULTS DEVICE
Reads WORK/stages.tsv (name, exit status, seconds, timeout) and each stage's bench output under WORK/<stage>/,
writes RESULTS/summary.json (the stages with their full bench documents) and RESULTS/summary.md (one row per
method: PSNR/SSIM, wall time of the whole chain, peak memory; steps/s of the INRs that run a fixed number of
steps, such as KP-INR and DA-INR `paper`; gen-inr's ms per frame).
Exits 1 if a finished stage left no results (a bench that exited 0 must have written them) or a method's row
failed (the benches record a failed method as a row and go on)."""
import ast
import json
import re
import sys
from pathlib import Path

# Where each bench writes its document under --out-dir.
DOCUMENTS = {"lr-cartesian": "cartesian/cartesian.json", "kp-inr": "cartesian/cartesian.json",
             "lr-radial": "radial/results.json", "da-inr": "radial/results.json", "gen-inr": "gen-inr/results.json",
             "gen-inr-train": "../gen-inr-train.stdout"}  # train prints its report (JSON) on stdout


def read_document(path: Path):
    """The stage's JSON, or None where a killed stage left none or only part of one."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def gen_inr_speed_from_log(log: Path):
    """bench gen-inr times gen-inr first and logs it before its (slower) quality table: where the stage was
    killed before writing results.json, the speed line of the log still gives ms per frame."""
    try:
        found = re.findall(r"gen-inr speed: (\{[^}\n]*\})", log.read_text())
    except OSError:
        return None
    return {"speed": ast.literal_eval(found[-1]), "rows": [], "matrix": "?", "from_log": True} if found else None


def steps_per_second(method: str, preset: str, seconds: float) -> str:
    """The steps the preset asks for over the whole chain's time: a lower bound on the fit's rate (the chain's
    set-up, ESPIRiT and the final prediction are in the time). Only for presets that run every step: none where
    a hold-out (honest stopping) or a time budget can end the fit early, since the steps run are not recorded."""
    from inr_core.methods import get_method

    cls = get_method(method)
    cfg = cls.make_config(preset if preset in cls.presets else None)
    steps = getattr(cfg, "steps", None)
    if not steps or getattr(cfg, "holdout", 0) or getattr(cfg, "time_budget_s", 0):
        return ""
    return f"{steps} steps, {steps / seconds:.1f} steps/s (whole chain)"


def row_line(stage: str, r: dict) -> str:
    where = r.get("file", "")
    if r.get("error"):
        return f"| {stage} | {where} | {r['method']} | {r.get('preset', '')} | failed: {r['error']} | | | |"
    extra = steps_per_second(r["method"], r.get("preset", "default"), r["seconds"])
    memory = "n/a" if r.get("peak_memory_mb") is None else f"{r['peak_memory_mb']:.0f} {r.get('memory_kind', '')}"
    return (f"| {stage} | {where} | {r['method']} | {r.get('preset', '')} | {r['psnr_mean']:.2f} / "
            f"{r['ssim_mean']:.4f} | {r['seconds']:.1f} | {memory} | {extra} |")


def main(work: Path, results: Path, device: str) -> int:
    stages, lines, missing, failed = [], [], [], []
    table = ["| stage | file | method | preset | PSNR dB / SSIM | time (s) | peak memory (MB) | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for line in (work / "stages.tsv").read_text().splitlines():
        name, status, seconds, limit = line.split("\t")
        path = work / name / DOCUMENTS[name]
        document = read_document(path) if status != "not-run" else None
        if name == "gen-inr" and document is None and status != "not-run":
            document = gen_inr_speed_from_log(results / "bench.log")
        stages.append({"stage": name, "status": status, "seconds": int(seconds), "timeout": int(limit),
                       "timed_out": status == "124", "document": document})
        state = {"0": "done", "124": "TIMED OUT", "not-run": "not run (no time left)"}.get(status, f"exit {status}")
        lines.append(f"- {name}: {state} in {seconds} s (timeout {limit} s)")
        if status == "0" and (document is None or document.get("from_log")):
            missing.append(str(path))
        if document is None:
            continue
        if name == "gen-inr-train":
            last = {k: round(v, 3) if isinstance(v, float) else v
                    for k, v in (document["history"][-1] if document.get("history") else {}).items()}
            rate = document["steps"] / document["wall_s"] if document.get("wall_s") else float("nan")
            table.append(f"| {name} | training | gen-inr | | | {document['wall_s']:.1f} | | {document['steps']} steps, "
                         f"{rate:.2f} steps/s; last validation {json.dumps(last)} |")
        elif name == "gen-inr":
            s = document["speed"]
            size = f"{document['matrix']}x{document['matrix']}x{s['slice_frames']}"
            source = " (from the log: killed before its quality table)" if document.get("from_log") else ""
            table.append(f"| {name} | random {size}{source} | gen-inr "
                         f"| | | {s['slice_s']:.3f} | {s['peak_memory_mb']:.0f} | {s['per_frame_ms']:.1f} ms/frame "
                         f"({s['single_frame_ms']:.1f} ms one frame) |")
            for r in document["rows"]:
                table.append(f"| {name} | {r['set']} R{r['R']:g} | {r['method']} | | {r['psnr']:.2f} / "
                             f"{r['ssim']:.4f} | | | mean of {r['cases']} |")
        else:
            table += [row_line(name, r) for r in document["rows"]]
            failed += [f"{name}: {r['method']}: {r['error']}" for r in document["rows"] if r.get("error")]
    text = "\n".join([f"# tests/gpu/check_all.sh on {device}", "", *lines, "", *table, "",
                      "Time: wall seconds of the whole chain (ESPIRiT included), each method in a fresh process. "
                      "Peak memory: torch.cuda.max_memory_allocated on CUDA, the process's peak RSS on the CPU.", ""])
    (results / "summary.md").write_text(text)
    (results / "summary.json").write_text(json.dumps({"device": device, "stages": stages},
                                                     indent=1))
    sys.stdout.write(text)
    for path in missing:
        print(f"summarize: a stage exited 0 but wrote no {path}", file=sys.stderr)
    for line in failed:
        print(f"summarize: a method failed: {line}", file=sys.stderr)
    return 1 if missing or failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
