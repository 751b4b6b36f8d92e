"""``nodeflow serve`` against a local run of the same workflow (the default one, built-in 64 px model), side by side:

- latency added over a local run: the same prompt run locally with one Executor and through the server with
  ``nodeflow.server.client.ServerClient.run`` (queue, follow the websocket to the end, read the history: what a
  script does), fully cached, and with a new seed (the sampler cone reruns). Local and server runs alternate, so
  both see the same load on the machine;
- prompts per second for a fully cached prompt: one at a time as above, and queued back to back (N in, N done).

    python benchmarks/bench_server.py [--repeat 15] [--steps 4] [--burst 200]

torch uses one thread in both processes (the server gets OMP_NUM_THREADS=1), so the numbers compare.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def median_ms(values) -> float:
    return statistics.median(values) * 1000


class Local:
    def __init__(self, out_dir: Path):
        import torch

        torch.set_num_threads(1)
        from nodeflow.config import Settings
        from nodeflow.core.environment import Environment
        from nodeflow.core.executor import Executor

        self.settings = Settings.load().with_overrides(output=str(out_dir), device="cpu")
        self.env = Environment.create(self.settings)
        self.executor = Executor(self.env)

    def run(self, prompt: dict) -> float:
        """Seconds from the prompt to its report, as ``nodeflow run`` spends them (import, plan, execute)."""
        from nodeflow.core.planning import plan
        from nodeflow.formats.comfyui import import_api

        t = time.perf_counter()
        graph, _ = import_api(prompt, self.env.registry, self.settings)
        report = self.executor.execute(plan(graph, self.env), key="bench")
        assert report.status == "ok", report.errors
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--burst", type=int, default=200)
    args = ap.parse_args()
    import websocket

    from nodeflow.server.client import ServerClient
    from tests.server.harness import ServerProcess, default_prompt

    def prompt_of(seed):
        return default_prompt(steps=args.steps, seed=seed)

    with tempfile.TemporaryDirectory(prefix="nodeflow-bench-server-") as tmp:
        tmp = Path(tmp)
        local = Local(tmp / "local-out")
        srv = ServerProcess(tmp / "server")
        try:
            client = ServerClient(srv.url)

            def served(prompt):
                t = time.perf_counter()
                outcome = client.run(prompt)
                assert outcome.status == "success", outcome.error
                return time.perf_counter() - t

            local.run(prompt_of(0)), served(prompt_of(0))  # model loads
            rows = {"cached": ([], []), "new_seed": ([], [])}
            for i in range(args.repeat):
                for key, prompt in (("cached", prompt_of(0)), ("new_seed", prompt_of(i + 1))):
                    rows[key][0].append(local.run(prompt))
                    rows[key][1].append(served(prompt))
            # back to back: one websocket, `burst` cached prompts queued, until the last is done
            cid = uuid.uuid4().hex
            ws = websocket.create_connection(f"ws://127.0.0.1:{srv.port}/ws?clientId={cid}", timeout=120)
            t = time.perf_counter()
            ids = {srv.queue(prompt_of(0), cid)["prompt_id"] for _ in range(args.burst)}
            while ids:
                message = ws.recv()
                if isinstance(message, str):
                    m = json.loads(message)
                    if m["type"] == "executing" and m["data"]["node"] is None:
                        ids.discard(m["data"]["prompt_id"])
            burst_s = time.perf_counter() - t
            ws.close()
        finally:
            srv.stop()
    print(f"default workflow, 64 px, {args.steps} steps, median of {args.repeat} (local and server alternating)")
    print(f"{'':34}{'local':>10}{'server':>10}{'added':>10}")
    for label, key in (("fully cached prompt (ms)", "cached"), ("new seed: sampler cone (ms)", "new_seed")):
        lo, se = median_ms(rows[key][0]), median_ms(rows[key][1])
        print(f"{label:34}{lo:10.1f}{se:10.1f}{se - lo:10.1f}")
    print(f"cached prompts per second, one at a time (queue + follow): {1000 / median_ms(rows['cached'][1]):.0f}")
    print(f"cached prompts per second, {args.burst} queued back to back: {args.burst / burst_s:.0f}")


if __name__ == "__main__":
    main()
