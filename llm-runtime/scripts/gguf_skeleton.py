#!/usr/bin/env python3
"""Split a GGUF file into its header (metadata, tokenizer, tensor table) and the size of the whole
file, or rebuild a same-shape file from them with every weight byte zero.

    gguf_skeleton.py pack MODEL.gguf OUT.head      # writes OUT.head (a few MB) with the total size appended
    gguf_skeleton.py unpack OUT.head MODEL.gguf    # header + zero-filled tensor data of the original size

Used by scripts/gpu-bench.sh to carry the default model to a GPU machine that has no network and a
64 MiB transfer limit: GPU kernels take the same time whatever the weight values, so decode and
prefill speed of the zero-weight copy equal those of the real file (the text it writes is meaningless).
"""
import struct
import sys

TYPES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_value(f, t):
    if t in TYPES:
        fmt = "<" + TYPES[t]
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if t == 8:  # string
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n).decode("utf-8", "replace")
    if t == 9:  # array
        (et,) = struct.unpack("<I", f.read(4))
        (n,) = struct.unpack("<Q", f.read(8))
        return [read_value(f, et) for _ in range(n)]
    raise ValueError(f"unknown GGUF value type {t}")


def data_offset(path):
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        (version,) = struct.unpack("<I", f.read(4))
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} not supported")
        n_tensors, n_kv = struct.unpack("<QQ", f.read(16))
        alignment = 32
        for _ in range(n_kv):
            key = read_value(f, 8)
            (t,) = struct.unpack("<I", f.read(4))
            v = read_value(f, t)
            if key == "general.alignment":
                alignment = int(v)
        for _ in range(n_tensors):
            read_value(f, 8)
            (nd,) = struct.unpack("<I", f.read(4))
            f.read(8 * nd + 4 + 8)
        pos = f.tell()
        return (pos + alignment - 1) // alignment * alignment


def main():
    mode, src, dst = sys.argv[1:4]
    if mode == "pack":
        off = data_offset(src)
        with open(src, "rb") as f:
            head = f.read(off)
            f.seek(0, 2)
            total = f.tell()
        with open(dst, "wb") as out:
            out.write(head)
            out.write(struct.pack("<Q", total))
        print(f"{dst}: header {off} bytes of {total}")
    elif mode == "unpack":
        with open(src, "rb") as f:
            blob = f.read()
        head, (total,) = blob[:-8], struct.unpack("<Q", blob[-8:])
        with open(dst, "wb") as out:
            out.write(head)
            out.truncate(total)
        print(f"{dst}: {total} bytes, weights zero")
    else:
        sys.exit("usage: gguf_skeleton.py pack|unpack SRC DST")


if __name__ == "__main__":
    main()
