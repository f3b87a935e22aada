#!/usr/bin/python3
"""bench/bench_live.py: figures for live sessions (GET /v1/live, docs/live.md).

usage: nice /usr/bin/python3 bench/bench_live.py [--quick] [--sessions 1,2,4,8]
           [--idle 1000] [--long-min 60] [--long-speed 10] [--stream-s 60]
           [--engine pocketsphinx[,whisper]] [--hark build/hark]
           [--paths streaming,redecode,lookahead] [--skip idle,long]

Each part runs against a fresh `hark serve --listen 127.0.0.1:PORT --db TMP
--cache-db none --engine E` (one server per row, so RSS figures do not carry
over), all in a temporary folder removed at exit (KEEP=1 keeps it).

  1. concurrency  N sessions (N = --sessions) at once, each streaming corpus
     recordings (../shared/corpus/en/*.wav, each followed by 1 s of silence,
     a different starting file per session) for --stream-s seconds of audio at
     real-time pace in 100 ms frames. Per N:
       eou->final  time from sending the frame that holds a final's end_ms
                   (stream time) to receiving that final (p50/p95 over every
                   final of every session). It includes the VAD's endpoint
                   (500 ms of trailing silence): end_ms is where speech ended.
       partials    median (and p90) gap between consecutive partials of one
                   utterance, wall clock
       lost        frames sent but not covered by the last ack
       slow_down   slow_down messages received (the client does not pause:
                   a microphone cannot)
       RSS         server VmRSS peak sampled every 0.25 s, VmHWM at the end;
                   server CPU seconds (utime+stime)
  2. idle         1 session opened (warm-up), RSS read, then --idle more
                  sessions opened from one asyncio client (config sent, ready
                  received, no audio); RSS delta / sessions.
  3. long         the shortest recording of >= 2 s repeated (with --long-gap
                  seconds of silence after each, default 3) to --long-min
                  minutes of audio, streamed at --long-speed x real time; on
                  slow_down the client pauses 1 s (wall) so a backlog does not
                  hide growth. Latency p50/p95 and RSS in minute 1 vs the last
                  minute of stream time.
--paths: the concurrency rows are run once per path, on the same machine in
the same run: `streaming` (the engine's stream operations, the default) and
`redecode` (the server started with HARK_LIVE_STREAMING=0, i.e. --live-streaming off: partials and
finals re-transcribe the utterance, as before streaming engines), with the
ratios of the first path to each other one per N; `lookahead` is `streaming` with
the file transcription's VAD (HARK_LIVE_LOOKAHEAD=1, 1.53 s behind the audio
instead of 80 ms). Idle and long use the first path.
Baseline in the same run: `hark transcribe -j 1` of the first corpus file
(what one decode of that audio costs on this machine now).
--quick: N = 1,2; 200 idle sessions; a 10-minute long session; 30 s streams.
Needs /usr/bin/python3 with python3-websockets (Debian package).
"""
import asyncio, glob, json, math, os, resource, shutil, signal, socket, struct, subprocess
import sys, tempfile, time, urllib.request, wave

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("HARK_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
RATE = 16000
FRAME_MS = 100
FB = RATE * FRAME_MS // 1000 * 2  # bytes per frame


def opts():
    o = {"quick": False, "sessions": "1,2,4,8", "idle": 1000, "long_min": 60.0, "long_speed": 10.0,
         "stream_s": 60.0, "long_gap": 3.0, "engine": None, "hark": os.path.join(ROOT, "build", "hark"), "skip": "",
         "paths": "streaming,redecode"}
    it = iter(sys.argv[1:])
    for x in it:
        if x in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if x == "--quick":
            o["quick"] = True
            continue
        k = x[2:].replace("-", "_")
        if not x.startswith("--") or k not in o:
            sys.exit("bench_live.py: unknown option %s (see --help)" % x)
        o[k] = next(it)
    if o["quick"]:
        for k, v in (("sessions", "1,2"), ("idle", 200), ("long_min", 10.0), ("stream_s", 30.0)):
            if ("--" + k.replace("_", "-")) not in sys.argv:
                o[k] = v
    o["sessions"] = [int(x) for x in str(o["sessions"]).split(",") if x]
    o["paths"] = [x for x in str(o["paths"]).split(",") if x]
    if not o["paths"] or any(x not in ("streaming", "redecode", "lookahead") for x in o["paths"]):
        sys.exit("bench_live.py: --paths takes streaming, redecode and/or lookahead")
    o["idle"] = int(o["idle"])
    for k in ("long_min", "long_speed", "stream_s", "long_gap"):
        o[k] = float(o[k])
    return o


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    f = math.floor(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def proc_status(pid):
    r = {}
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith(("VmRSS", "VmHWM")):
                r[line.split(":")[0]] = int(line.split()[1])  # KiB
    except OSError:
        pass
    return r


def proc_cpu_s(pid):
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, hark, tmp, engine, name, path="streaming"):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.cmd = [hark, "serve", "--listen", "127.0.0.1:%d" % self.port, "--db",
                    os.path.join(self.dir, "hark.db"), "--cache-db", "none", "--engine", engine]
        env = dict(os.environ, HARK_LIVE_STREAMING="0" if path == "redecode" else "1",
                   HARK_LIVE_LOOKAHEAD="1" if path == "lookahead" else "0")
        self.p = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        t = time.monotonic()
        while True:
            if self.p.poll() is not None:
                raise SystemExit("server exited with %s, see %s" % (self.p.returncode, self.log.name))
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/health" % self.port, timeout=1).read()
                break
            except OSError:
                if time.monotonic() - t > 30:
                    raise SystemExit("server not up in 30 s")
                time.sleep(0.05)
        self.url = "ws://127.0.0.1:%d/v1/live" % self.port

    def rss(self):
        return proc_status(self.p.pid)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()
        odd = [l.rstrip() for l in open(self.log.name)
               if any(w in l.lower() for w in ("error", "warn", "cannot", "fail", "drop"))]
        return odd


class RssSampler:
    def __init__(self, pid):
        self.pid, self.peak, self.task = pid, 0, None

    async def loop(self):
        while True:
            self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))
            await asyncio.sleep(0.25)

    def start(self):
        self.task = asyncio.ensure_future(self.loop())

    def stop(self):
        self.task.cancel()


def load_pcm(path):
    w = wave.open(path, "rb")
    if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
        return None
    return w.readframes(w.getnframes())


SILENCE_1S = bytes(RATE * 2)


class Stream:
    """An endless stream of PCM: the pieces in turn, cyclically, cut in frames."""

    def __init__(self, pieces, gap_s=1.0):
        gap = bytes(int(RATE * gap_s) * 2)
        self.buf = b"".join(p + gap for p in pieces)

    def frame(self, i):  # i from 1
        a = ((i - 1) * FB) % len(self.buf)
        b = self.buf[a:a + FB]
        if len(b) < FB:
            b += self.buf[:FB - len(b)]
        return b


class Result:
    def __init__(self):
        self.ready = asyncio.Event()
        self.done = asyncio.Event()
        self.ack = 0
        self.finals = []  # (utterance, end_ms, recv_time)
        self.partials = {}  # utterance -> [recv times]
        self.slow = 0
        self.slow_pending = False
        self.errors = []
        self.sent = {}  # seq -> send time
        self.nframes = 0
        self.ended = False


async def reader(ws, r):
    try:
        async for m in ws:
            if isinstance(m, bytes):
                continue
            now = time.monotonic()
            o = json.loads(m)
            t = o.get("type")
            if t == "ready":
                r.ready.set()
            elif t == "ack":
                r.ack = max(r.ack, o["seq"])
            elif t == "partial":
                r.partials.setdefault(o["utterance"], []).append(now)
            elif t == "final":
                r.finals.append((o["utterance"], o["end_ms"], now))
            elif t == "slow_down":
                r.slow += 1
                r.slow_pending = True
            elif t == "end":
                r.ended = True
            elif t == "error":
                r.errors.append(o)
    except websockets.ConnectionClosed as e:
        r.errors.append({"closed": str(e)})
    finally:
        r.ready.set()
        r.done.set()


async def session(url, stream, nframes, speed=1.0, pause_on_slow=0.0, on_frame=None):
    r = Result()
    r.nframes = nframes
    async with websockets.connect(url, max_size=None, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "config", "sample_rate": RATE, "channels": 1, "format": "s16le"}))
        rd = asyncio.ensure_future(reader(ws, r))
        await r.ready.wait()
        t0 = time.monotonic()
        for i in range(1, nframes + 1):
            await ws.send(struct.pack("<Q", i) + stream.frame(i))
            r.sent[i] = time.monotonic()
            if on_frame:
                on_frame(i, r)
            if pause_on_slow and r.slow_pending:
                r.slow_pending = False
                await asyncio.sleep(pause_on_slow)
                t0 += pause_on_slow
            due = t0 + i * FRAME_MS / 1000.0 / speed
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await ws.send(json.dumps({"type": "end"}))
        try:
            await asyncio.wait_for(r.done.wait(), 300)
        except asyncio.TimeoutError:
            r.errors.append({"timeout": "no end within 300 s"})
        rd.cancel()
    return r


def latencies(r, lo_ms=None, hi_ms=None):
    out = []
    for u, end_ms, t in r.finals:
        if lo_ms is not None and not lo_ms <= end_ms < hi_ms:
            continue
        k = min(max(1, math.ceil(end_ms / FRAME_MS)), r.nframes)
        if k in r.sent:
            out.append(t - r.sent[k])
    return out


def gaps(r):
    g = []
    for ts in r.partials.values():
        g += [b - a for a, b in zip(ts, ts[1:])]
    return g


async def concurrency(o, srv, pieces, n):
    nframes = int(o["stream_s"] * 1000 / FRAME_MS)
    streams = [Stream(pieces[(k * 7) % len(pieces):] + pieces[:(k * 7) % len(pieces)]) for k in range(n)]
    smp = RssSampler(srv.p.pid)
    smp.start()
    cpu0 = proc_cpu_s(srv.p.pid)
    t = time.monotonic()
    rs = await asyncio.gather(*(session(srv.url, s, nframes) for s in streams))
    wall = time.monotonic() - t
    cpu = proc_cpu_s(srv.p.pid) - cpu0
    smp.stop()
    lat, gp = [], []
    for r in rs:
        lat += latencies(r)
        gp += gaps(r)
    st = srv.rss()
    return {"n": n, "finals": sum(len(r.finals) for r in rs), "p50": pct(lat, 50), "p95": pct(lat, 95),
            "max": max(lat) if lat else float("nan"), "gap50": pct(gp, 50), "gap90": pct(gp, 90),
            "partials": len(gp) + sum(len(r.partials) for r in rs),
            "lost": sum(r.nframes - min(r.ack, r.nframes) for r in rs), "slow": sum(r.slow for r in rs),
            "rss_peak": smp.peak, "hwm": st.get("VmHWM", 0), "cpu": cpu, "wall": wall,
            "audio": n * nframes * FRAME_MS / 1000.0, "errors": sum(len(r.errors) for r in rs),
            "ended": sum(r.ended for r in rs)}


async def idle(o, srv):
    n = o["idle"]
    socks, errs = [], 0

    async def one():
        ws = await websockets.connect(srv.url, max_size=None)
        await ws.send(json.dumps({"type": "config", "sample_rate": RATE, "channels": 1, "format": "s16le"}))
        m = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if m.get("type") != "ready":
            raise RuntimeError(m)
        return ws

    warm = await one()
    await asyncio.sleep(1)
    before = srv.rss()["VmRSS"]
    t = time.monotonic()
    for k in range(0, n, 50):
        res = await asyncio.gather(*(one() for _ in range(min(50, n - k))), return_exceptions=True)
        for x in res:
            if isinstance(x, BaseException):
                errs += 1
            else:
                socks.append(x)
    open_s = time.monotonic() - t
    await asyncio.sleep(2)
    after = srv.rss()
    # still alive? one more session must get ready
    probe_ok = True
    try:
        p = await one()
        await p.close()
    except Exception:
        probe_ok = False
    for ws in socks + [warm]:
        ws.transport.abort()
    return {"n": len(socks), "errors": errs, "before": before, "after": after.get("VmRSS", 0),
            "per": (after.get("VmRSS", 0) - before) / max(1, len(socks)), "hwm": after.get("VmHWM", 0),
            "open_s": open_s, "probe_ok": probe_ok}


async def long_session(o, srv, piece):
    minutes = o["long_min"]
    nframes = int(minutes * 60000 / FRAME_MS)
    per_min = 60000 // FRAME_MS
    rss_at = {}

    def on_frame(i, r):
        if i % per_min == 0:
            rss_at[i // per_min] = srv.rss().get("VmRSS", 0)

    t = time.monotonic()
    r = await session(srv.url, Stream([piece], o["long_gap"]), nframes, speed=o["long_speed"], pause_on_slow=1.0,
                      on_frame=on_frame)
    wall = time.monotonic() - t
    last = int(math.ceil(minutes))
    first_l = latencies(r, 0, 60000)
    last_l = latencies(r, (last - 1) * 60000, last * 60000)
    st = srv.rss()
    return {"minutes": minutes, "wall": wall, "speed": minutes * 60 / wall, "finals": len(r.finals),
            "p50_1": pct(first_l, 50), "p95_1": pct(first_l, 95), "p50_n": pct(last_l, 50),
            "p95_n": pct(last_l, 95), "rss_1": rss_at.get(1, 0), "rss_n": rss_at.get(last, st.get("VmRSS", 0)),
            "rss_mid": rss_at, "hwm": st.get("VmHWM", 0), "lost": r.nframes - min(r.ack, r.nframes),
            "slow": r.slow, "errors": r.errors, "last": last, "piece_s": len(piece) / 2 / RATE, "gap50": pct(gaps(r), 50)}


def baseline(hark, wav, eng):
    w = wave.open(wav, "rb")
    audio = w.getnframes() / w.getframerate()
    t = time.monotonic()
    subprocess.run([hark, "transcribe", "-q", "--no-store", "--no-cache", "-e", eng, "-j", "1", wav],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return {"audio": audio, "wall": time.monotonic() - t}


def whisper_available(hark):
    try:
        p = subprocess.run([hark, "models", "path"], capture_output=True, text=True, timeout=10)
        path = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
        return p.returncode == 0 and os.path.isfile(path)
    except (OSError, subprocess.TimeoutExpired):
        return False


def main():
    o = opts()
    hark = os.path.abspath(o["hark"])
    if not os.access(hark, os.X_OK):
        sys.exit("no hark binary at %s (build it, or --hark PATH)" % hark)
    wavs = sorted(glob.glob(os.path.join(SHARED, "corpus", "en", "*.wav")))
    pieces = [p for p in (load_pcm(w) for w in wavs) if p]
    if not pieces:
        print("bench_live.py: no corpus at %s/corpus/en, skipped" % SHARED)
        sys.exit(77)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = o["idle"] + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
    engines = o["engine"].split(",") if o["engine"] else (
        ["pocketsphinx"] + (["whisper"] if whisper_available(hark) else []))
    if "whisper" in engines and not whisper_available(hark):
        print("whisper: no model installed (hark models pull base.en), skipped")
        engines.remove("whisper")
    cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True,
               text=True).stdout.splitlines() if l.startswith("Model name")), "?")
    load0 = " ".join(open("/proc/loadavg").read().split()[:3])
    tmp = tempfile.mkdtemp(prefix="bench_live.")
    skip = set(o["skip"].split(","))
    logs = {}
    out = []
    try:
        for eng in engines:
            rows = []
            base = baseline(hark, wavs[0], eng)
            print("%s offline baseline: %s" % (eng, base), file=sys.stderr, flush=True)
            for n in o["sessions"]:
                for path in o["paths"]:  # the paths alternate, so load changes hit both alike
                    srv = Server(hark, tmp, eng, "%s-%s-n%d" % (eng, path, n), path)
                    try:
                        rows.append(asyncio.run(concurrency(o, srv, pieces, n)))
                    finally:
                        logs["%s %s n=%d" % (eng, path, n)] = srv.stop()
                    x = rows[-1]
                    x["path"] = path
                    print("%s %s N=%d: p50 %.2f s p95 %.2f s, partial gap %.2f s, lost %d, slow_down %d, RSS %d MiB, "
                          "CPU/audio %.2f" % (eng, path, n, x["p50"], x["p95"], x["gap50"], x["lost"], x["slow"],
                                              x["rss_peak"] // 1024, x["cpu"] / x["audio"]),
                          file=sys.stderr, flush=True)
            idl = lng = None
            if "idle" not in skip and o["idle"] > 0:
                srv = Server(hark, tmp, eng, "%s-idle" % eng, o["paths"][0])
                try:
                    idl = asyncio.run(idle(o, srv))
                finally:
                    logs["%s idle" % eng] = srv.stop()
                print("%s idle: %s" % (eng, idl), file=sys.stderr, flush=True)
            if "long" not in skip and o["long_min"] > 0:
                piece = min((p for p in pieces if len(p) >= 2 * RATE * 2), key=len)
                srv = Server(hark, tmp, eng, "%s-long" % eng, o["paths"][0])
                try:
                    lng = asyncio.run(long_session(o, srv, piece))
                finally:
                    logs["%s long" % eng] = srv.stop()
                print("%s long: %s" % (eng, {k: v for k, v in lng.items() if k != "rss_mid"}),
                      file=sys.stderr, flush=True)
            out.append((eng, rows, idl, lng, base))
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp, file=sys.stderr)

    print()
    print("CPU: %s (%d cores); load average at start %s, at end %s" % (cpu, os.cpu_count(), load0,
                                                                      " ".join(open("/proc/loadavg").read().split()[:3])))
    print("command: %s" % " ".join(["bench/bench_live.py"] + sys.argv[1:]))
    print("server: hark serve --listen 127.0.0.1:PORT --db TMP --cache-db none --engine ENGINE "
          "(a fresh server per row)")
    for eng, rows, idl, lng, base in out:
        print()
        print("### %s: N real-time sessions, %.0f s of audio each, 100 ms frames" % (eng, o["stream_s"]))
        print()
        print("baseline in this run: `hark transcribe -e %s -j 1 --no-store --no-cache` of %s (%.1f s of audio, "
              "the first recording of session 1): %.2f s wall (%.1fx real time, model load included)"
              % (eng, os.path.basename(wavs[0]), base["audio"], base["wall"], base["audio"] / base["wall"]))
        print()
        print("| path | N | finals | EOU->final p50 | p95 | max | partial gap p50 | p90 | frames lost | slow_down "
              "| RSS peak | VmHWM | server CPU / audio |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for x in rows:
            print("| %s | %d | %d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %d | %d | %.1f MiB | %.1f MiB | %.2f |"
                  % (x["path"], x["n"], x["finals"], x["p50"], x["p95"], x["max"], x["gap50"], x["gap90"], x["lost"],
                     x["slow"], x["rss_peak"] / 1024, x["hwm"] / 1024, x["cpu"] / x["audio"]))
        for other in o["paths"][1:]:
            first = o["paths"][0]
            print()
            print("%s / %s, same N, same run:" % (first, other))
            print()
            print("| N | EOU->final p50 | p95 | partial gap p50 | server CPU / audio |")
            print("|---|---|---|---|---|")
            for n in o["sessions"]:
                a = next(x for x in rows if x["n"] == n and x["path"] == first)
                b = next(x for x in rows if x["n"] == n and x["path"] == other)
                r = lambda k: a[k] / b[k] if b[k] and not math.isnan(b[k]) else float("nan")
                print("| %d | %.2f | %.2f | %.2f | %.2f |" % (n, r("p50"), r("p95"), r("gap50"),
                      (a["cpu"] / a["audio"]) / (b["cpu"] / b["audio"])))
        for path in o["paths"]:
            ok = [x["n"] for x in rows if x["path"] == path and x["p95"] < 2.0 and x["lost"] == 0 and x["errors"] == 0]
            print()
            print("%s: max N tried with p95 < 2 s and nothing lost: %s" % (path, max(ok) if ok else "none"))
        bad = [x for x in rows if x["errors"] or x["ended"] != x["n"]]
        for x in bad:
            print("N=%d: %d client-side errors, %d of %d sessions got `end`" % (x["n"], x["errors"], x["ended"], x["n"]))
        if idl:
            print()
            print("idle: %d sessions (config sent, no audio) opened in %.1f s, %d failed; RSS %.1f -> %.1f MiB: "
                  "%.1f KiB per session; a new session after them: %s"
                  % (idl["n"], idl["open_s"], idl["errors"], idl["before"] / 1024, idl["after"] / 1024, idl["per"],
                     "ready" if idl["probe_ok"] else "FAILED"))
        if lng:
            print()
            print("long: %.0f min of audio (one %.1f s corpus recording + %.0f s of silence, repeated) at %.0fx "
                  "requested, %.1fx achieved (%.0f s wall; the client pauses 1 s per slow_down)"
                  % (lng["minutes"], lng["piece_s"], o["long_gap"], o["long_speed"], lng["speed"], lng["wall"]))
            print()
            print("| | EOU->final p50 | p95 | RSS |")
            print("|---|---|---|---|")
            print("| minute 1 | %.2f s | %.2f s | %.1f MiB |" % (lng["p50_1"], lng["p95_1"], lng["rss_1"] / 1024))
            print("| minute %d | %.2f s | %.2f s | %.1f MiB |" % (lng["last"], lng["p50_n"], lng["p95_n"],
                                                                  lng["rss_n"] / 1024))
            print()
            print("finals %d, frames lost %d, slow_down %d, VmHWM %.1f MiB, errors %s; RSS by minute (MiB): %s"
                  % (lng["finals"], lng["lost"], lng["slow"], lng["hwm"] / 1024, lng["errors"] or "none",
                     " ".join("%d:%.0f" % (k, v / 1024) for k, v in sorted(lng["rss_mid"].items()))))
    odd = {k: v for k, v in logs.items() if v}
    if odd:
        print()
        print("server log lines with error/warn/cannot/fail/drop:")
        for k, v in odd.items():
            for l in v[:5]:
                print("  [%s] %s" % (k, l))
            if len(v) > 5:
                print("  [%s] ... %d more" % (k, len(v) - 5))


if __name__ == "__main__":
    main()
