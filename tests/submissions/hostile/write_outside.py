# Writes a file in the scratch's parent, /tmp, the folder given, /etc and the caller's home.
import errno
import os
import sys

canary = sys.argv[1]
token = os.environ.get("SANDBOX_TEST_TOKEN", "x")
targets = [
    ("parent", os.path.join(os.getcwd(), "..", "escaped.txt")),
    ("tmp", f"/tmp/escaped-{token}.txt"),
    ("canary", os.path.join(canary, "escaped.txt")),
    ("etc", "/etc/escaped.txt"),
    ("root-home", "/root/escaped.txt"),
]
for name, path in targets:
    try:
        with open(path, "w") as f:
            f.write("escaped\n")
        result = "ok"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno))
    print(f"ATTEMPT write {name}: {result}", flush=True)
