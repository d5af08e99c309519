#!/usr/bin/env python3
"""trailscan's benchmark: whole-process timings on a generated organisation trail, side by side with the cost
of just decompressing the same files and with the tools people use today (jq, DuckDB).

    python3 bench/bench.py                 # 1M records (~1.4 GB JSON), 5 runs each, writes BENCHMARKS.md
    python3 bench/bench.py --records 20000 --runs 1 --no-write --skip-peers --skip-double --skip-nightly --skip-backlog --skip-s3   # a quick look

The test suite smoke-runs this script on a tiny corpus with the binaries it built (--trailscan, --gen), so
the benchmark keeps working; only the numbers of a full run mean anything.

Needs: a release build (the script runs cargo), GNU time, gzip, jq, and the duckdb Python package
(`apt-get install time jq`, `pip install duckdb`). Peer scripts come from ../shared/bench/peers/.
Each figure is the median of --runs runs, after one warm-up run that fills the page cache. Commands that are
compared are run in turn (A B C A B C …), so a shared machine's drift in speed hits them alike."""
import argparse, hashlib, os, platform, re, resource, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PEERS = os.path.join(ROOT, "..", "shared", "bench", "peers")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def one_run(cmd):
    """Wall seconds, user+sys seconds and peak RSS (MB, largest process) of one run of `cmd`."""
    if not os.path.exists("/usr/bin/time"):
        # Without GNU time: CPU from this process's children; peak RSS is then the largest child so far.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        p = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        if p.returncode not in (0, 1):
            sys.exit(f"bench: {cmd!r} exited {p.returncode}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, after.ru_maxrss / 1024
    with tempfile.NamedTemporaryFile("r") as t:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", t.name, "sh", "-c", cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        if p.returncode not in (0, 1):
            sys.exit(f"bench: {cmd!r} exited {p.returncode}")
        u, s, m = t.read().split()[-3:]
        return wall, float(u) + float(s), int(m) / 1024


def measure(cmds, runs):
    """Runs `cmds` in turn, `runs` rounds (A B C A B C …, after one warm-up round), so that a shared
    machine's drift in speed hits them alike. Per command: the (wall, cpu, rss) of every round."""
    if not os.path.exists("/usr/bin/time"):
        print("bench: /usr/bin/time not found (apt-get install time): peak RSS is approximate", file=sys.stderr)
    for cmd in cmds:
        subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm-up
    rounds = {cmd: [] for cmd in cmds}
    for _ in range(runs):
        for cmd in cmds:
            rounds[cmd].append(one_run(cmd))
    return rounds


def median_ratio(a, b, figure=0):
    """The median over rounds of a's wall time (or another figure: 2 is peak RSS) over b's, in rounds measured
    side by side."""
    return statistics.median(x[figure] / y[figure] for x, y in zip(a, b))


def json_bytes(corpus):
    out = subprocess.run(f"find {corpus} -name '*.json.gz' -print0 | xargs -0 cat | gzip -dc | wc -c",
                         shell=True, check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--corpus", default=os.path.join(tempfile.gettempdir(), "trailscan-bench"))
    ap.add_argument("--no-write", action="store_true", help="print the table, do not update BENCHMARKS.md")
    ap.add_argument("--skip-peers", action="store_true", help="skip jq and DuckDB (slow)")
    ap.add_argument("--skip-double", action="store_true", help="skip the doubled corpus")
    ap.add_argument("--skip-nightly", action="store_true", help="skip the nightly run")
    ap.add_argument("--skip-backlog", action="store_true",
                    help="skip the nightly backlog runs (4 and 8 days, read in passes)")
    ap.add_argument("--skip-s3", action="store_true",
                    help="skip reading the corpus from S3 (a local S3 endpoint, bench/s3-server, built on first use)")
    ap.add_argument("--trailscan", help="use this trailscan binary instead of building the release one")
    ap.add_argument("--gen", help="use this trailscan-gen binary instead of building the release one")
    a = ap.parse_args()

    if a.trailscan and a.gen:
        ts, gen = a.trailscan, a.gen
    else:
        sh(f"cd {ROOT} && cargo build --release -q --bin trailscan --bin trailscan-gen")
        ts = os.path.join(TARGET, "release", "trailscan")
        gen = os.path.join(TARGET, "release", "trailscan-gen")

    def corpus(n, days=1):
        # A corpus is reused only if this generator, with these arguments, wrote it.
        path = f"{a.corpus}-{n}" if days == 1 else f"{a.corpus}-{n}-{days}d"
        args = f"--out {path} --records {n} --seed 1" + (f" --days {days}" if days > 1 else "")
        with open(gen, "rb") as f:
            stamp = f"{hashlib.sha256(f.read()).hexdigest()} {args}\n"
        stamp_file = f"{path}.generated-by"
        if not os.path.exists(stamp_file) or open(stamp_file).read() != stamp:
            sh(f"{gen} {args}")
            with open(stamp_file, "w") as f:
                f.write(stamp)
        return path

    c1 = corpus(a.records)
    mb = json_bytes(c1) / 1e6
    gz_mb = int(subprocess.run(f"find {c1} -name '*.json.gz' -print0 | xargs -0 cat | wc -c", shell=True,
                               capture_output=True, text=True).stdout) / 1e6
    files = int(subprocess.run(f"find {c1} -name '*.json.gz' | wc -l", shell=True, capture_output=True,
                               text=True).stdout)
    rows = []

    def add(name, cmd, rounds, corpus_mb=mb, threads=2):
        wall, cpu, rss = (statistics.median(r[i] for r in rounds) for i in range(3))
        rows.append((name, wall, cpu, rss, corpus_mb / wall / threads, cmd))
        print(f"{name:45} {wall:8.2f} s  cpu {cpu:7.2f} s  rss {rss:7.0f} MB", flush=True)
        return wall

    # The ratios that carry targets come from runs taken in turn, round by round.
    t2_cmd = f"{ts} sessions -s {c1} -f csv -o /dev/null --threads 2"
    t1_cmd = f"{ts} sessions -s {c1} -f csv -o /dev/null --threads 1"
    gz_cmd = f"find {c1} -name '*.json.gz' -print0 | xargs -0 -P2 -n 64 gzip -dc > /dev/null"
    main_rounds = measure([t2_cmd, t1_cmd, gz_cmd], a.runs)
    add("trailscan sessions (2 threads)", t2_cmd, main_rounds[t2_cmd])
    add("trailscan sessions (1 thread)", t1_cmd, main_rounds[t1_cmd], threads=1)
    add("gzip -dc only, 2 processes", gz_cmd, main_rounds[gz_cmd])
    vs_gzip = median_ratio(main_rounds[t2_cmd], main_rounds[gz_cmd])
    speedup = median_ratio(main_rounds[t1_cmd], main_rounds[t2_cmd])
    if not a.skip_peers:
        jq_cmd = f"sh {PEERS}/jq_who_assumed.sh {c1} Team1 > /dev/null"
        dd_cmd = f"python3 {PEERS}/duckdb_who_became_what.py {c1} > /dev/null"
        # trailscan runs again in the peers' rounds, so that each ratio compares runs taken side by side.
        peer_rounds = measure([t2_cmd, jq_cmd, dd_cmd], a.runs)
        add("jq: assumptions of one role", jq_cmd, peer_rounds[jq_cmd], threads=1)
        add("DuckDB: who-became-what", dd_cmd, peer_rounds[dd_cmd])
        vs_jq = median_ratio(peer_rounds[jq_cmd], peer_rounds[t2_cmd])
        vs_duckdb = median_ratio(peer_rounds[dd_cmd], peer_rounds[t2_cmd])
    if not a.skip_nightly:
        # The production path: a first nightly run over the whole corpus (bundle, history and state written).
        n_dir = f"{a.corpus}-nightly"
        n_cmd = (f"rm -rf {n_dir} && {ts} nightly --source {c1} --state {n_dir}/state --out {n_dir}/out"
                 " --threads 2 > /dev/null")
        add("trailscan nightly, first run (2 threads)", n_cmd, measure([n_cmd], a.runs)[n_cmd])
        shutil.rmtree(n_dir, ignore_errors=True)
    if not a.skip_backlog:
        # Memory as a backlog grows: a first nightly run over 4 and then 8 days of logs (half the main corpus a
        # day), read in passes of 64MB of compressed log. The peak should not grow with the days.
        b_dir = f"{a.corpus}-backlog"
        for days in (4, 8):
            c = corpus(a.records * days // 2, days)
            b_cmd = (f"rm -rf {b_dir} && {ts} nightly --source {c} --state {b_dir}/state --out {b_dir}/out"
                     " --threads 2 --batch-size 64MB > /dev/null")
            add(f"trailscan nightly, {days}-day backlog in 64MB passes", b_cmd, measure([b_cmd], a.runs)[b_cmd],
                corpus_mb=mb * days / 2)
        shutil.rmtree(b_dir, ignore_errors=True)
    if not a.skip_s3:
        # The same corpus from S3: a local endpoint serving the corpus folder as bucket `bench`, answering at
        # once and after 20 ms a request (S3 answers a GET after tens of milliseconds). The endpoint runs on the
        # same two cores as trailscan, so these times include the server's work too.
        server_target = os.path.join(TARGET, "bench-s3-server")
        sh(f"cargo build --release -q --manifest-path {ROOT}/bench/s3-server/Cargo.toml --target-dir {server_target}")
        server = os.path.join(server_target, "release", "trailscan-bench-s3-server")
        root = tempfile.mkdtemp(prefix="trailscan-bench-s3-")
        os.symlink(os.path.abspath(c1), os.path.join(root, "bench"))
        servers, s3_cmds = [], {}
        try:
            for latency in (0, 20):
                srv = subprocess.Popen([server, root, "--latency-ms", str(latency)], stdout=subprocess.PIPE, text=True)
                servers.append(srv)
                url = srv.stdout.readline().strip()
                s3_cmds[latency] = ("AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 "
                                    f"AWS_EC2_METADATA_DISABLED=true {ts} sessions -s s3://bench/ --endpoint-url {url}"
                                    " -f csv -o /dev/null --threads 2")
            s3_rounds = measure([t2_cmd, s3_cmds[0], s3_cmds[20]], a.runs)
        finally:
            for srv in servers:
                srv.kill()
            shutil.rmtree(root, ignore_errors=True)
        add("trailscan sessions from S3 (local endpoint)", s3_cmds[0], s3_rounds[s3_cmds[0]])
        add("trailscan sessions from S3 (20 ms a request)", s3_cmds[20], s3_rounds[s3_cmds[20]])
        vs_disk = median_ratio(s3_rounds[s3_cmds[20]], s3_rounds[t2_cmd])
    if not a.skip_double:
        c2 = corpus(2 * a.records)
        d_cmd = f"{ts} sessions -s {c2} -f csv -o /dev/null --threads 2"
        double_rounds = measure([t2_cmd, d_cmd], a.runs)
        add("trailscan sessions, corpus doubled", d_cmd, double_rounds[d_cmd], corpus_mb=2 * mb)
        doubled = median_ratio(double_rounds[d_cmd], double_rounds[t2_cmd], figure=2)

    table = ["| run | wall s (median) | user+sys s | peak RSS MB | MB/s of JSON per core |", "|---|---:|---:|---:|---:|"]
    for name, wall, cpu, rss, rate, _ in rows:
        table.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {rate:.0f} |")
    ratios = [f"- trailscan / gzip-only wall time: **{vs_gzip:.2f}×** (target ≤ 1.0×; median of the rounds' ratios)",
              f"- speed-up from 1 to 2 threads: **{speedup:.2f}×** (target ≥ 1.8×; median of the rounds' ratios)"]
    if not a.skip_peers:
        ratios += [f"- jq pipeline / trailscan: **{vs_jq:.1f}×** (target ≥ 20×; median of the rounds' ratios)",
                   f"- DuckDB / trailscan: **{vs_duckdb:.1f}×** (target ≥ 50×; median of the rounds' ratios)"]
    if not a.skip_s3:
        ratios.append(f"- from S3 at 20 ms a request / from disk: **{vs_disk:.1f}×** (fetching {files} objects; "
                      "the endpoint shares the two cores)")
    rss_rows = {r[0]: r[3] for r in rows}
    if not a.skip_double:
        ratios.append(f"- peak RSS doubled corpus / corpus: **{doubled:.2f}×** (target < 1.5×; median of the rounds' ratios)")
    if "trailscan nightly, 8-day backlog in 64MB passes" in rss_rows:
        ratios.append(f"- peak RSS of the 8-day / the 4-day backlog read in passes: **{rss_rows['trailscan nightly, 8-day backlog in 64MB passes'] / rss_rows['trailscan nightly, 4-day backlog in 64MB passes']:.2f}×** (memory stays flat as a backlog grows)")
    def portable(cmd):
        """The command as anyone can run it from the repository root (no paths of this machine)."""
        target = "$CARGO_TARGET_DIR" if "CARGO_TARGET_DIR" in os.environ else "target"
        cmd = cmd.replace(os.path.join(TARGET, "release") + "/", f"{target}/release/")
        cmd = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", cmd)
        return cmd.replace(PEERS + "/", "../shared/bench/peers/").replace(ROOT + "/", "")
    cmds = "\n".join(f"    {name}: {portable(cmd)}" for name, *_, cmd in rows)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    text = "\n".join([
        f"Corpus: `trailscan-gen --records {a.records} --seed 1`: {files} files, {gz_mb:.0f} MB gzipped, {mb:.0f} MB of JSON.",
        f"Machine: {machine}. Median of {a.runs} runs after a warm-up (page cache warm). Each ratio compares "
        "runs taken in turn, round by round (trailscan with gzip, with jq and DuckDB, with the doubled "
        "corpus), since this machine's speed drifts from minute to minute.", "",
        *table, "", *ratios, "", "Commands:", "", cmds, ""])
    print(text)
    if not a.no_write:
        path = os.path.join(ROOT, "BENCHMARKS.md")
        head = open(path).read().split("<!-- results -->")[0] if os.path.exists(path) else "# Benchmarks\n\n"
        with open(path, "w") as f:
            f.write(head + "<!-- results -->\n" + text)


if __name__ == "__main__":
    main()
