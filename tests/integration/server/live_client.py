#!/usr/bin/python3
"""A test client for hark's live protocol (docs/live.md) and its Vosk endpoint.

  live_client.py URL WAV [--speed X] [--frame-ms N] [--stop-after N --state FILE]
                 [--resume-state FILE] [--drop-after N [--away-ms MS]] [--key K]
  live_client.py --vosk URL WAV
  live_client.py --never-read URL (Vosk endpoint: tiny frames, never reads the answers)

After `end`, waits --end-timeout seconds (default 120) for the server's `end`.

Prints one JSON object: the session, the finals by utterance, the joined text,
counts of partials, acks, duplicate finals and slow_down messages.
"""
import asyncio, json, struct, sys, time, wave

import websockets


def args():
    a = {"bad": None, "cfg_key": None, "speed": 0.0, "frame_ms": 100, "stop_after": 0, "state": None, "resume_state": None,
         "drop_after": 0, "away_ms": 200, "key": None, "vosk": False, "never_read": False, "end_timeout": 120.0}
    pos = []
    it = iter(sys.argv[1:])
    for x in it:
        if x == "--vosk":
            a["vosk"] = True
        elif x == "--never-read":
            a["never_read"] = True
        elif x.startswith("--"):
            a[x[2:].replace("-", "_")] = next(it)
        else:
            pos.append(x)
    if a["never_read"]:
        pos.append("-")
    a["url"], a["wav"] = pos
    for k in ("speed", "end_timeout"):
        a[k] = float(a[k])
    for k in ("frame_ms", "stop_after", "drop_after", "away_ms"):
        a[k] = int(a[k])
    return a


def frames(path, frame_ms):
    w = wave.open(path, "rb")
    assert w.getsampwidth() == 2, "16-bit WAV expected"
    rate, ch = w.getframerate(), w.getnchannels()
    n = rate * frame_ms // 1000
    out = []
    while True:
        b = w.readframes(n)
        if not b:
            break
        out.append(b)
    return rate, ch, out


class Session:
    def __init__(self):
        self.id = None
        self.recording = None
        self.finals = {}
        self.spans = {}
        self.dups = 0
        self.partials = 0
        self.ack = 0
        self.slow = 0
        self.ended = False
        self.errors = []
        self.missed = []

    def last_final(self):
        return max(self.finals) if self.finals else -1


async def reader(ws, s):
    async for m in ws:
        if isinstance(m, bytes):
            continue
        o = json.loads(m)
        t = o.get("type")
        if t == "ready":
            s.id = o["session"]
            s.recording = o["recording"]
            s.ack = o["ack"]
        elif t == "ack":
            s.ack = max(s.ack, o["seq"])
        elif t == "partial":
            s.partials += 1
        elif t == "final":
            u = o["utterance"]
            if u in s.finals:
                s.dups += 1
            s.finals[u] = o["text"]
            s.spans[u] = [o.get("start_ms"), o.get("end_ms")]
        elif t == "missed":
            s.missed.append([o["from_utterance"], o["to_utterance"]])
        elif t == "slow_down":
            s.slow += 1
        elif t == "end":
            s.ended = True
        elif t == "error":
            s.errors.append(o)


async def run(a):
    rate, ch, fr = frames(a["wav"], a["frame_ms"])
    s = Session()
    start_seq = 1
    resume = None
    if a["resume_state"]:
        st = json.load(open(a["resume_state"]))
        s.id, s.finals = st["session"], {int(k): v for k, v in st["finals"].items()}
        s.spans = {int(k): v for k, v in st["spans"].items()}
        resume = {"session": s.id, "last_final": s.last_final()}
    while True:
        headers = {"Authorization": "Bearer " + a["key"]} if a["key"] else None
        async with websockets.connect(a["url"], extra_headers=headers, max_size=None) as ws:
            cfg = {"type": "config", "sample_rate": rate, "channels": ch, "format": "s16le"}
            if resume:
                cfg["resume"] = resume
            await ws.send(json.dumps(cfg))
            r = asyncio.ensure_future(reader(ws, s))
            while s.id is None:
                if r.done():
                    r.result()
                    raise SystemExit("closed before ready: %s" % s.errors)
                await asyncio.sleep(0.005)
            start_seq = s.ack + 1 if resume else 1
            t0 = time.monotonic()
            dropped = False
            for i in range(start_seq, len(fr) + 1):
                await ws.send(struct.pack("<Q", i) + fr[i - 1])
                if a["speed"] > 0:
                    due = t0 + (i - start_seq + 1) * a["frame_ms"] / 1000 / a["speed"]
                    await asyncio.sleep(max(0, due - time.monotonic()))
                if a["stop_after"] and i == a["stop_after"] and not resume:
                    await asyncio.sleep(0.5)  # let acks arrive
                    json.dump({"session": s.id, "finals": s.finals, "spans": s.spans, "ack": s.ack},
                              open(a["state"], "w"))
                    ws.transport.abort()  # no close frame: a dropped network
                    print(json.dumps({"stopped": i, "session": s.id, "ack": s.ack}))
                    return
                if a["drop_after"] and i == a["drop_after"] and not resume:
                    await asyncio.sleep(0.3)
                    ws.transport.abort()
                    dropped = True
                    break
            if dropped:
                r.cancel()
                resume = {"session": s.id, "last_final": s.last_final()}
                await asyncio.sleep(a["away_ms"] / 1000)
                continue
            await ws.send(json.dumps({"type": "end"}))
            try:
                await asyncio.wait_for(r, a["end_timeout"])
            except (websockets.ConnectionClosed, asyncio.TimeoutError):
                pass
            break
    text = " ".join(s.finals[k] for k in sorted(s.finals) if s.finals[k])
    spans = " ".join("%s-%s" % tuple(s.spans[k]) for k in sorted(s.spans))
    print(json.dumps({"session": s.id, "recording": s.recording, "utterances": len(s.finals), "text": text,
                      "spans": spans,
                      "partials": s.partials, "ack": s.ack, "frames": len(fr), "dups": s.dups,
                      "slow": s.slow, "missed": s.missed, "ended": s.ended, "errors": s.errors,
                      "order": sorted(s.finals) == list(range(len(s.finals)))}))


async def bad(a):
    """Misbehave in one way (a["bad"]) and print how the server answered."""
    rate, ch, fr = frames(a["wav"], 100)
    errors = []
    headers = {"Authorization": "Bearer " + a["key"]} if a["key"] else None
    async with websockets.connect(a["url"], extra_headers=headers, max_size=None) as ws:
        kind = a["bad"]
        cfg = {"type": "config", "sample_rate": rate}
        if kind == "unknown_resume":
            cfg["resume"] = {"session": "0" * 32, "last_final": -1}
        if kind == "audio_first":
            await ws.send(struct.pack("<Q", 1) + fr[0])
        elif kind == "garbage":
            await ws.send("{not json")
        elif kind == "bad_format":
            await ws.send(json.dumps({"type": "config", "format": "mp3"}))
        elif kind == "no_key":
            await ws.send(json.dumps(cfg))
        elif kind == "key_in_config":
            cfg["key"] = a["cfg_key"]
            await ws.send(json.dumps(cfg))
            await ws.send(struct.pack("<Q", 1) + fr[0])
            await ws.send(json.dumps({"type": "end"}))
        else:
            await ws.send(json.dumps(cfg))
            if kind == "gap":
                await ws.send(struct.pack("<Q", 1) + fr[0])
                await ws.send(struct.pack("<Q", 3) + fr[2])
            elif kind == "duplicate":
                for i in (1, 2, 2, 1, 3):
                    await ws.send(struct.pack("<Q", i) + fr[i - 1])
                await ws.send(json.dumps({"type": "end"}))
            elif kind == "oversized":
                try:
                    await ws.send(struct.pack("<Q", 1) + bytes(2 * 1024 * 1024))
                except websockets.ConnectionClosed:
                    pass  # the server may close while the frame is still going out
            elif kind == "odd_bytes":
                await ws.send(struct.pack("<Q", 1) + b"abc")
            elif kind == "unknown_resume":
                pass
        acks = 0
        try:
            async for m in ws:
                o = json.loads(m)
                if o.get("type") == "error":
                    errors.append(o["code"])
                if o.get("type") == "ack":
                    acks = max(acks, o["seq"])
        except websockets.ConnectionClosed:
            pass
        print(json.dumps({"close": ws.close_code, "errors": errors, "ack": acks}))


async def vosk(a):
    rate, ch, fr = frames(a["wav"], 250)
    replies, finals = 0, []
    async with websockets.connect(a["url"]) as ws:
        await ws.send('{ "config" : { "sample_rate" : %d } }' % rate)
        for b in fr:  # as Vosk's test_simple.py: one reply per message
            await ws.send(b)
            o = json.loads(await ws.recv())
            replies += 1
            assert "partial" in o or "text" in o, o
            if o.get("text"):
                finals.append(o["text"])
        await ws.send('{"eof" : 1}')
        o = json.loads(await ws.recv())
        if o.get("text"):
            finals.append(o["text"])
    print(json.dumps({"replies": replies, "frames": len(fr), "text": " ".join(finals)}))


def never_read(a):
    """A client that sends and never reads: a raw socket with a small receive buffer, one-sample
    frames to the Vosk endpoint (each one answered), until the server drops the connection."""
    import base64, os, socket, urllib.parse
    u = urllib.parse.urlparse(a["url"])
    sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sk.connect((u.hostname, u.port))
    sk.settimeout(30)
    key = base64.b64encode(os.urandom(16)).decode()
    sk.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                % (u.path, u.hostname, u.port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sk.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head

    def frame(op, payload):  # masked with a zero key: the payload goes as it is
        return bytes([0x80 | op, 0x80 | len(payload)]) + b"\0\0\0\0" + payload

    sent, closed, t0 = 0, False, time.monotonic()
    try:
        sk.sendall(frame(1, b'{"config": {"sample_rate": 16000}}'))
        batch = frame(2, b"\0\0") * 256
        while sent < 2000000 and time.monotonic() - t0 < 120:
            sk.sendall(batch)
            sent += 256
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    except socket.timeout:  # stuck: has the server gone? (reading is allowed now)
        sk.settimeout(5)
        try:
            while sk.recv(65536):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
    print(json.dumps({"sent": sent, "closed": closed, "seconds": round(time.monotonic() - t0, 1)}))


a = args()
if a["never_read"]:
    never_read(a)
else:
    asyncio.run(vosk(a) if a["vosk"] else bad(a) if a["bad"] else run(a))
