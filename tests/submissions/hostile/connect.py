# Connects to the machine's 127.0.0.1:PORT.
import errno
import socket
import sys

try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()
    result = "ok"
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__
print(f"ATTEMPT connect 127.0.0.1:{sys.argv[1]}: {result}", flush=True)
