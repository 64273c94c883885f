# Connects to the machine's 127.0.0.1:PORT (a blocking connect, as most programs make).
import errno
import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    result = "ok"
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__
finally:
    s.close()
print(f"ATTEMPT connect 127.0.0.1:{sys.argv[1]}: {result}", flush=True)
