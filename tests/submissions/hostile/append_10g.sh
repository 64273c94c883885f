# Appends 10 GiB of zeros to one file, in 1 MiB writes (each write is a stop of the grader's
# tracer: 8 KiB writes made a loaded machine take longer than the test's time limit).
dd if=/dev/zero bs=1048576 count=10240 2>/dev/null >> big.bin
status=$?
if [ "$status" -gt 128 ]; then
  echo "ATTEMPT append 10 GiB: signal $((status - 128)) after $(wc -c < big.bin) bytes"
else
  echo "ATTEMPT append 10 GiB: exit $status after $(wc -c < big.bin) bytes"
fi
