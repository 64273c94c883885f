# Appends 10 GiB of zeros to one file.
head -c 10737418240 /dev/zero >> big.bin
status=$?
if [ "$status" -gt 128 ]; then
  echo "ATTEMPT append 10 GiB: signal $((status - 128)) after $(wc -c < big.bin) bytes"
else
  echo "ATTEMPT append 10 GiB: exit $status after $(wc -c < big.bin) bytes"
fi
