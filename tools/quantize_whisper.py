#!/usr/bin/env python3
"""Quantise a ggml Whisper model file the way whisper.cpp's `quantize` does.

whisper.cpp's examples/quantize calls ggml_common_quantize_0 with the
pattern ".*" and skips encoder.conv1.bias, encoder.conv2.bias and both
positional embeddings: every other 2-D tensor (the attention and MLP
matrices and the token embedding) is quantised with ggml's reference
quantisers (quantize_row_q*_ref); 1-D tensors and the 3-D conv kernels are
copied unchanged. The header's ftype becomes 2000 + the file type
(quantisation version 2). Mel filters and vocabulary are copied.

Types: q4_0, q4_1, q5_0, q5_1, q8_0 (block layouts as in ggml-common.h).
The arithmetic follows ggml's C code in float32: scales d = max / -8 (q4_0),
(max - min) / 15 (q4_1), max / -16 (q5_0), (max - min) / 31 (q5_1),
amax / 127 (q8_0); codes are truncated after adding 8.5 / 16.5 / 0.5, or
rounded half away from zero (q8_0); scales are stored as f16.

Only numpy is needed (Debian: python3-numpy).

  quantize_whisper.py micro-f16.bin micro-q8_0.bin q8_0
"""

import struct
import sys

import numpy as np

FTYPES = {"q4_0": (2, 2), "q4_1": (3, 3), "q5_0": (8, 6), "q5_1": (9, 7), "q8_0": (7, 8)}
SKIP = {"encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding",
        "decoder.positional_embedding"}
QK = 32


def f16(a):
    return np.asarray(a, dtype=np.float32).astype("<f2")


def inv(d):
    """1/d in float32, 0 where d == 0 (ggml: id = d ? 1.0f/d : 0.0f)."""
    out = np.zeros_like(d)
    nz = d != 0
    out[nz] = (np.float32(1.0) / d[nz]).astype(np.float32)
    return out


def trunc_i8(x):
    """(int8_t) cast of a float32: truncation toward zero."""
    return np.trunc(x).astype(np.int32)


def signed_max(x):
    """Per block: the value with the largest magnitude (first one on ties), as ggml's loop."""
    idx = np.argmax(np.abs(x), axis=1)
    return x[np.arange(x.shape[0]), idx]


def quantize(rows, qtype):
    """rows: float32 [n, k] with k % 32 == 0 -> bytes of ggml blocks, row-major."""
    n, k = rows.shape
    x = rows.reshape(n * (k // QK), QK).astype(np.float32)
    nb = x.shape[0]
    if qtype == "q8_0":
        amax = np.max(np.abs(x), axis=1)
        d = (amax / np.float32(127)).astype(np.float32)
        idv = inv(d)
        v = (x * idv[:, None]).astype(np.float32).astype(np.float64)
        q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)  # roundf
        out = np.empty((nb, 34), dtype=np.uint8)
        out[:, 0:2] = f16(d).view(np.uint8).reshape(nb, 2)
        out[:, 2:] = q.view(np.uint8)
        return out.tobytes()
    if qtype in ("q4_0", "q5_0"):
        mx = signed_max(x)
        half = 8 if qtype == "q4_0" else 16
        d = (mx / np.float32(-half)).astype(np.float32)
        idv = inv(d)
        v = (x * idv[:, None]).astype(np.float32)
        q = trunc_i8((v + np.float32(half + 0.5)).astype(np.float32))
        q = np.minimum(q, 2 * half - 1)
    else:
        mn = np.min(x, axis=1)
        mxv = np.max(x, axis=1)
        levels = 15 if qtype == "q4_1" else 31
        d = ((mxv - mn) / np.float32(levels)).astype(np.float32)
        idv = inv(d)
        v = ((x - mn[:, None]).astype(np.float32) * idv[:, None]).astype(np.float32)
        q = trunc_i8((v + np.float32(0.5)).astype(np.float32))
        if qtype == "q4_1":
            q = np.minimum(q, 15)
        else:
            q = q & 0xFF  # (uint8_t) cast
    q = q.astype(np.uint32)
    lo, hi = q[:, :16], q[:, 16:]
    qs = ((lo & 0x0F) | ((hi & 0x0F) << 4)).astype(np.uint8)
    parts = [f16(d).view(np.uint8).reshape(nb, 2)]
    if qtype in ("q4_1", "q5_1"):
        parts.append(f16(mn).view(np.uint8).reshape(nb, 2))
    if qtype in ("q5_0", "q5_1"):
        j = np.arange(16, dtype=np.uint32)
        qh = np.bitwise_or.reduce(((lo & 0x10) >> 4) << j, axis=1) | \
            np.bitwise_or.reduce(((hi & 0x10) >> 4) << (j + 16), axis=1)
        parts.append(qh.astype("<u4").view(np.uint8).reshape(nb, 4))
    parts.append(qs)
    return np.concatenate(parts, axis=1).tobytes()


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in FTYPES:
        sys.exit(__doc__)
    src, dst, qname = sys.argv[1:]
    ftype, qtype_id = FTYPES[qname]
    b = open(src, "rb").read()
    off = 0

    def i32():
        nonlocal off
        (v,) = struct.unpack_from("<i", b, off)
        off += 4
        return v

    if struct.unpack_from("<I", b, 0)[0] != 0x67676D6C:
        sys.exit(f"{src}: not a ggml file")
    off = 4
    hp = [i32() for _ in range(11)]
    if hp[10] % 1000 not in (0, 1):
        sys.exit(f"{src}: already quantised (ftype {hp[10]})")
    hdr_end = off
    n_mel, n_fft = i32(), i32()
    off += 4 * n_mel * n_fft
    for _ in range(i32()):
        ln = i32()  # (not `off += i32()`: i32 moves off)
        off += ln
    out = bytearray(b[:hdr_end])
    struct.pack_into("<i", out, 4 + 40, 2 * 1000 + ftype)
    out += b[hdr_end:off]
    n_q = 0
    while off < len(b):
        n_dims, name_len, ttype = i32(), i32(), i32()
        ne = [i32() for _ in range(n_dims)]
        name = b[off:off + name_len].decode()
        off += name_len
        n = int(np.prod(ne))
        size = 4 if ttype == 0 else 2
        data = b[off:off + n * size]
        off += n * size
        if n_dims == 2 and name not in SKIP:
            vals = np.frombuffer(data, "<f4" if ttype == 0 else "<f2").astype(np.float32)
            qb = quantize(vals.reshape(-1, ne[0]), qname)
            out += struct.pack("<3i", n_dims, name_len, qtype_id)
            out += struct.pack(f"<{n_dims}i", *ne)
            out += name.encode()
            out += qb
            n_q += 1
        else:
            out += struct.pack("<3i", n_dims, name_len, ttype)
            out += struct.pack(f"<{n_dims}i", *ne)
            out += name.encode()
            out += data
    open(dst, "wb").write(out)
    print(f"{dst}: {qname}, {n_q} tensors quantised, {len(out)} bytes")


if __name__ == "__main__":
    main()
