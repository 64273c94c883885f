# Shared memory (multiprocessing.Array + Semaphores) instead of a pipe.
import multiprocessing as mp, os, random
def producer(buf, full, empty):
    for v in random.sample(range(1, 1000), 12):
        empty.acquire(); buf[0] = v; full.release()
    empty.acquire(); buf[0] = 0; full.release()
def consumer(buf, full, empty):
    with open("consumer_log.txt", "w") as out:
        while True:
            full.acquire(); v = buf[0]; empty.release()
            if v == 0: break
            out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n")
            with open("execution_log.txt", "a") as f: f.write(f"consumer got {v}\n")
if __name__ == "__main__":
    mp.set_start_method("fork")
    open("execution_log.txt", "w").close()
    buf = mp.Array("i", 1); full = mp.Semaphore(0); empty = mp.Semaphore(1)
    ps = [mp.Process(target=producer, args=(buf, full, empty)), mp.Process(target=consumer, args=(buf, full, empty))]
    for p in ps: p.start()
    for p in ps: p.join()
    with open("execution_log.txt", "a") as f: f.write("main done\n")
