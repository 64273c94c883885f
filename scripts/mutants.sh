#!/usr/bin/env bash
# The mutation check: does the test suite catch a bug in each central behaviour of the project?
#
# Each mutation below is one deliberate bug (parity flipped above 50, the flock removed, main
# keeping its pipe ends, the lock patience at an hour…). One at a time, in a scratch copy of
# this tree, the script applies it, builds, runs only the test binaries that guard that
# behaviour, and reports:
#   caught    a test failed by an assertion ("caught by a deadline only" when every failure
#             was a test's deadline — tests/common/deadline.rs — turning a hang into a failure)
#   MISSED    every test passed: the suite cannot see this bug
#   HUNG      the tests ran past MUTANTS_TIMEOUT (a hang counts as a miss)
#   STALE     the mutation's pattern no longer matches the source: update it here
#   BROKEN    the mutated tree does not build
# The exit code is 0 when every mutation is caught, 1 otherwise.
#
# Usage: scripts/mutants.sh [--list] [NAME...]     (no NAME: all of them)
# Environment: MUTANTS_DIR (the scratch copy and its target dir; default target/mutants),
#              MUTANTS_TIMEOUT (seconds for one mutation's tests; default 1200).
# Needs bash, perl, coreutils' timeout, git and cargo. Slow: a build and a few test binaries
# per mutation (minutes each in a debug build); run it when the tests change, not in CI. The
# first run copies target/debug into the scratch dir, if there is one, so that the
# dependencies are not built again.
set -euo pipefail

root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
scratch=${MUTANTS_DIR:-$root/target/mutants}
limit=${MUTANTS_TIMEOUT:-1200}

# One mutation per block: its name, the file it changes, the perl substitution (run with
# -0pi, so it may span lines), the cargo test selection that must catch it, and the bug.
mutations() {
  cat <<'END'
name: parity-flipped-above-50
file: src/desafio/record/mod.rs
perl: s/if value\.rem_euclid\(2\) == 0 \{/if (value.rem_euclid(2) == 0) != (value > 50) {/
test: --lib --test run --test desafio01 --test report
bug:  Parity::of answers wrong for every value above 50 (the consumer and verify agree, wrongly)

name: values-repeat
file: src/desafio/sample.rs
perl: s/let j = rng\.random_range\(i\.\.\*len\);/let j = rng.random_range(0..*len);/
test: --lib --test run --test desafio01
bug:  the shuffle draws from the whole range every time: values can repeat

name: main-keeps-pipe-ends
file: src/desafio/supervisor.rs
perl: s/let kept_pipe = if keeps_ends \{\s*Some\(pipe\)\s*\} else \{\s*drop\(pipe\);\s*None\s*\};/let kept_pipe = Some(pipe);/
test: --test faults --test desafio01 --test fd_hygiene
bug:  main keeps both ends of the pipe after the forks (--bug parent-keeps-ends without its stall detector)

name: consumer-keeps-write-end
file: src/desafio/supervisor.rs
perl: s/(fork\(Role::Consumer\)\.spawn_list\(&keep_list\(read, write, )keeps_ends/${1}true/; s/_ => \(own, None, None\),/_ => { std::mem::forget(fds.next()); (own, None, None) }/
test: --test faults --test fd_hygiene
bug:  the consumer keeps the pipe's write end too: it can never see end of file

name: flock-removed
file: crates/ipc_sys/src/linelog.rs
perl: s/(pub fn lock_exclusive\(file: &File, path: &Path\) -> Result<\(\)> \{)/$1\n    if true { let _ = (file, path); return Ok(()); }/
test: --test lock
bug:  the exclusive flock on the execution log is never taken

name: send-before-log
file: src/desafio/producer.rs
perl: s/(log\.log_all\(&events\)\?;)(.*?)(let \(delivered, result\) = sender\.send_all\(&frames\);)/$3$2$1/s
test: --test run
bug:  the producer writes a batch into the pipe before it logs it as sent

name: epipe-not-recognised
file: src/desafio/producer.rs
perl: s/if e\.kind\(\) == io::ErrorKind::BrokenPipe \{/if false {/
test: --test faults --test desafio01
bug:  a write that fails with EPIPE is reported as an unknown pipe error

name: eof-taken-for-the-end
file: src/desafio/consumer.rs
perl: s/Ok\(None\) => \{\s*return Err\(Error::PipeClosed \{\s*received: counts\.values,\s*truncated: None,\s*\}\);\s*\}/Ok(None) => return Ok(None),/
test: --test faults --test desafio01
bug:  the consumer takes end of file for a normal end (no error, complete totals)

name: end-marker-count-unchecked
file: src/desafio/consumer.rs
perl: s/if sent != counts\.values \{/if false && sent != counts.values {/
test: --test faults
bug:  the consumer accepts an end marker that announces another count

name: lock-patience-an-hour
file: crates/ipc_sys/src/linelog.rs
perl: s/LOCK_PATIENCE_AFTER_INTERRUPT: Duration = Duration::from_secs\(5\)/LOCK_PATIENCE_AFTER_INTERRUPT: Duration = Duration::from_secs(3600)/
test: --test lock --test signals
bug:  once interrupted, a process waits an hour (not 5 s) for a lock held by a stopped process

name: job-timeout-ignored
file: src/task_pool/dispatcher.rs
perl: s/deadline: limit\.and_then\(\|l\| now\.checked_add\(l\)\),/deadline: limit.and_then(|l| now.checked_add(l)).filter(|_| false),/
test: --test task_pool
bug:  the dispatcher never enforces a job's timeout

name: command-timeout-ignored
file: src/task_pool/exec.rs
perl: s/let deadline = timeout\.and_then\(\|t\| start\.checked_add\(t\)\);/let deadline = timeout.and_then(|t| start.checked_add(t)).filter(|_| false);/
test: --test task_pool_commands
bug:  a command's worker never enforces its timeout (only the dispatcher's backstop, later, does)

name: joblog-outcome-word
file: src/task_pool/mod.rs
perl: s/Outcome::TimedOut => "timed-out",/Outcome::TimedOut => "timeout",/
test: --test task_pool
bug:  the demo joblog calls a timeout "timeout" instead of "timed-out"

name: joblog-exitval-of-a-signal
file: src/task_pool/command/mod.rs
perl: s/Ended::Signaled\(s\) => \(128 \+ i64::from\(\*s\), \*s\),/Ended::Signaled(s) => (i64::from(*s), *s),/
test: --test task_pool_commands
bug:  the GNU joblog gives N instead of 128 + N for a command killed by signal N

name: exit-0-despite-failed-jobs
file: src/task_pool/command/mod.rs
perl: s/if self\.counts\.failed > 0 \|\| self\.counts\.not_started > 0 \{/if self.counts.not_started > 0 {/
test: --test task_pool_commands
bug:  task_pool exits 0 although a job failed

name: semaphore-one-too-many
file: src/worker_pool/mod.rs
perl: s/let sem = Semaphore::new\(opts\.workers\)\?;/let sem = Semaphore::new(opts.workers + 1)?;/
test: --test worker_pool
bug:  the worker_pool semaphore has one permit more than --workers

name: newline-not-escaped
file: src/parallel/names.rs
perl: s/\s*b'\\n' => Some\(b"\\\\n"\),//
test: --lib --test parallel
bug:  a newline in a file name is printed raw: its checksum line breaks in two

name: backslash-not-escaped
file: src/parallel/names.rs
perl: s/\s*b'\\\\' => Some\(b"\\\\\\\\"\),//
test: --lib --test parallel
bug:  a backslash in a file name is printed raw (sha256sum -c reads the name back wrong)
END
}

# The blocks as one record per mutation: name, file, perl, test, bug, tab-separated (no field
# holds a tab).
records() {
  mutations | awk '
    /^name: / { name = substr($0, 7) }
    /^file: / { file = substr($0, 7) }
    /^perl: / { perl = substr($0, 7) }
    /^test: / { test = substr($0, 7) }
    /^bug:  / { print name "\t" file "\t" perl "\t" test "\t" substr($0, 7) }'
}

if [[ ${1:-} == --list ]]; then
  records | cut -f1,5
  exit 0
fi
wanted=("$@")

mkdir -p "$scratch"
src=$scratch/src
export CARGO_TARGET_DIR=$scratch/target
if [[ ! -d $CARGO_TARGET_DIR/debug && -d $root/target/debug ]]; then
  echo "mutants: copying target/debug to $CARGO_TARGET_DIR (once)" >&2
  mkdir -p "$CARGO_TARGET_DIR"
  cp -a "$root/target/debug" "$CARGO_TARGET_DIR/"
fi

# The tree as it is (committed or not), without build output.
rm -rf "$src"
mkdir -p "$src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents -a -t "$src")

# Everything still running from the scratch build (a hung test's programs sit in sessions of
# their own): killed by executable path, nothing else.
kill_leftovers() {
  local pid exe
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    if [[ $exe == "$CARGO_TARGET_DIR"/* ]]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

caught=0
total=0
results=()
while IFS=$'\t' read -r name file subst selection what; do
  if ((${#wanted[@]})) && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
    continue
  fi
  total=$((total + 1))
  cp "$root/$file" "$src/$file"
  perl -0pi -e "$subst" "$src/$file"
  log=$scratch/$name.log
  if cmp -s "$root/$file" "$src/$file"; then
    verdict="STALE"
  else
    printf 'mutants: %-28s building…\n' "$name" >&2
    # shellcheck disable=SC2086
    if ! (cd "$src" && nice -n 10 cargo test --no-run $selection >"$log" 2>&1); then
      verdict="BROKEN"
    else
      printf 'mutants: %-28s testing (%s)…\n' "$name" "$selection" >&2
      set +e
      # shellcheck disable=SC2086
      (cd "$src" && timeout --kill-after=10 "$limit" nice -n 10 cargo test --no-fail-fast $selection >>"$log" 2>&1)
      rc=$?
      set -e
      kill_leftovers
      if ((rc == 0)); then
        verdict="MISSED"
      elif ((rc == 124 || rc == 137)); then
        verdict="HUNG"
      else
        caught=$((caught + 1))
        failed=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | sort -u | head -3 | paste -sd, -)
        # A panic raised in tests/common/deadline.rs is a deadline's; any other, an assertion.
        if grep 'panicked at' "$log" | grep -qv 'tests/common/deadline.rs'; then
          verdict="caught: ${failed:-?}"
        else
          verdict="caught by a deadline only: ${failed:-?}"
        fi
      fi
    fi
  fi
  cp "$root/$file" "$src/$file"
  results+=("$(printf '%-28s %s' "$name" "$verdict")")
  printf '%-28s %s\n' "$name" "$verdict"
done < <(records)

echo "mutants: $caught of $total caught (logs in $scratch)"
((caught == total))
