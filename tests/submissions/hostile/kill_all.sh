# Sends SIGKILL to every process it may signal.
kill -9 -1
echo "ATTEMPT kill -9 -1: exit $?"
