# Reads /etc/shadow.
import errno

try:
    with open("/etc/shadow") as f:
        result = f"ok ({len(f.read())} bytes)"
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e.errno))
print(f"ATTEMPT read /etc/shadow: {result}", flush=True)
