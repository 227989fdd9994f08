"""Writes a safetensors-like model into s3proxy's filesystem-nio2 layout, for bench/fetch.sh and
bench/coldstart.sh: SHARDS shards of random bytes (weights do not compress) and three JSON files, each
with its MD5 in the xattr s3proxy reads for the ETag (Java's "user.content-md5" is
"user.user.content-md5" on Linux), so the objects look like single-part uploads: ETag = MD5, which
fetch-model and rclone verify. Prints nothing; writes "md5  name" lines to MD5FILE.

Usage: python3 write-model.py DIR SHARDS SHARD_BYTES MD5FILE
"""
import hashlib
import json
import os
import sys

model, shards, shard_bytes, md5file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
files = {
    "config.json": json.dumps({"architectures": ["BenchForCausalLM"], "hidden_size": 4096,
                               "num_hidden_layers": 32, "torch_dtype": "bfloat16"}, indent=2).encode(),
    "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE",
                                  "vocab": {f"t{i}": i for i in range(2000)}}}).encode(),
    "model.safetensors.index.json": json.dumps({"metadata": {"total_size": shards * shard_bytes},
                                                "weight_map": {f"layer.{i}": n for i, n in enumerate(names)}}).encode(),
}


def put(path, chunks):
    h = hashlib.md5()
    with open(path, "wb") as f:
        for c in chunks:
            f.write(c)
            h.update(c)
    os.setxattr(path, "user.user.content-md5", h.digest())
    return h.hexdigest()


def random_chunks(n, size=8 << 20):
    while n > 0:
        c = os.urandom(min(size, n))
        n -= len(c)
        yield c


os.makedirs(model, exist_ok=True)
sums = {name: put(os.path.join(model, name), [data]) for name, data in files.items()}
for name in names:
    sums[name] = put(os.path.join(model, name), random_chunks(shard_bytes))
with open(md5file, "w") as f:
    for name in sorted(sums):
        f.write(f"{sums[name]}  {name}\n")
