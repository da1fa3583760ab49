"""Writes the .pth files tests/model/pth_reader_test.cpp reads, with torch.save
(Debian's python3-torch) and Python's zipfile: the oracle is torch, not mtpc.

usage: /usr/bin/python3 pth_fixtures.py OUT_DIR [FINAL_DIR]
(FINAL_DIR: where OUT_DIR will be moved; the shell payload names a file there)

OUT_DIR/state.pth        a state dict (OrderedDict) of varied tensors
OUT_DIR/expected.json    name -> {dtype, shape, values (row-major)}
OUT_DIR/zip64.pth        state.pth repacked by zipfile with ZIP64 records
                         (extra fields in the central directory)
OUT_DIR/module.pth       torch.save of an nn.Linear module (names torch.nn.*)
OUT_DIR/system.pth       a pickle that runs `touch FINAL_DIR/pwned` if unpickled
OUT_DIR/system4.pth      the same with protocol 4 (STACK_GLOBAL)
OUT_DIR/eval.pth         a pickle that calls builtins.eval
OUT_DIR/truncated.pth    state.pth cut in half
OUT_DIR/short_storage.pth  one storage entry shorter than its tensor
OUT_DIR/missing_storage.pth  one storage entry absent
OUT_DIR/deflated.pth     state.pth with compressed entries
OUT_DIR/control_ran      proof that system.pth's payload is real: a copy of
                         it, pointed at this file, was unpickled here
"""
import collections
import io
import json
import os
import pickle
import sys
import zipfile

try:
    import torch
except ImportError:
    sys.exit("python3-torch is missing: run scripts/setup (apt-get install python3-torch)")

out = sys.argv[1]
final = sys.argv[2] if len(sys.argv) > 2 else out
torch.manual_seed(1234)

big = torch.randn(10)
sd = collections.OrderedDict()
sd["f32"] = torch.randn(3, 4)
sd["f16"] = torch.randn(5).half()
sd["bf16"] = torch.randn(2, 3).bfloat16()
sd["f64"] = torch.randn(2, 2).double()
sd["i64"] = torch.arange(6).view(2, 3)
sd["i32"] = torch.arange(4, dtype=torch.int32) - 2
sd["transposed"] = torch.randn(4, 3).t()      # non-contiguous strides
sd["big"] = big
sd["slice"] = big[3:7]                         # shares big's storage, offset 3
sd["strided"] = big[::3]                       # stride 3 into the same storage
sd["scalar"] = torch.tensor(2.5)               # 0-d
sd["empty"] = torch.zeros(0, 4)
sd["param"] = torch.nn.Parameter(torch.randn(2, 2))  # _rebuild_parameter
torch.save(sd, os.path.join(out, "state.pth"))

expected = {}
for name, t in sd.items():
    t = t.detach()
    expected[name] = {
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "values": (t.double() if t.is_floating_point() else t.long()).flatten().tolist(),
    }
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)


def entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip(path, items, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in items:
            z.writestr(name, data)


state = entries(os.path.join(out, "state.pth"))

# ZIP64 everywhere: zipfile switches to ZIP64 fields above ZIP64_LIMIT.
saved_limit = zipfile.ZIP64_LIMIT
zipfile.ZIP64_LIMIT = 1
write_zip(os.path.join(out, "zip64.pth"), state)
zipfile.ZIP64_LIMIT = saved_limit

torch.save(torch.nn.Linear(2, 2), os.path.join(out, "module.pth"))


class Shell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def archive(name, pickled):
    write_zip(os.path.join(out, name), [("archive/data.pkl", pickled), ("archive/version", b"3\n")])


marker = os.path.join(final, "pwned")
archive("system.pth", pickle.dumps(Shell("touch " + marker), protocol=2))
archive("system4.pth", pickle.dumps(Shell("touch " + marker), protocol=4))
# Control: the same payload aimed elsewhere really runs when Python unpickles it.
pickle.loads(pickle.dumps(Shell("touch " + os.path.join(out, "control_ran")), protocol=2))


class Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


archive("eval.pth", pickle.dumps(Eval(), protocol=2))

raw = open(os.path.join(out, "state.pth"), "rb").read()
open(os.path.join(out, "truncated.pth"), "wb").write(raw[: len(raw) // 2])

storage_of_f32 = [n for n, _ in state if n.endswith("/data/0")][0]
write_zip(os.path.join(out, "short_storage.pth"),
          [(n, d[: len(d) // 2] if n == storage_of_f32 else d) for n, d in state])
write_zip(os.path.join(out, "missing_storage.pth"), [(n, d) for n, d in state if n != storage_of_f32])
write_zip(os.path.join(out, "deflated.pth"), state, compression=zipfile.ZIP_DEFLATED)
print("ok")
