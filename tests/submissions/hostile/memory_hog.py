# Fills 4 GiB of memory, 64 MiB at a time (every page touched).
held, stopped = [], "ok"
try:
    for _ in range(64):
        held.append(b"x" * (64 << 20))
        print(f"holding {len(held) * 64} MiB", flush=True)
except MemoryError:
    stopped = "ENOMEM"
print(f"ATTEMPT hold 4 GiB: {stopped} after {len(held) * 64} MiB", flush=True)
