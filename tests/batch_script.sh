#!/usr/bin/env bash
# Batch filtering the way a user's shell script does it: a folder tree piped in with
# `find -print0 | nnfilter apply -0 -`, then the same command re-run with --skip-existing.
#
# Usage: NNFILTER=/path/to/nnfilter MODEL=look.npz bash batch_script.sh WORKDIR
# WORKDIR holds photos/ with 4 images in nested folders, one file that is not an image and one
# truncated JPEG (photos/sub/bad.jpg); tests/test_batch.py makes it and then checks the pixels.
# Prints "ok" and exits 0 when every check passes; otherwise names the first failed check, exit 1.
set -u

work=${1:?usage: batch_script.sh WORKDIR}
cd "$work" || exit 1

fail() {
    echo "batch_script.sh: $*" >&2
    exit 1
}

# First run: everything but the truncated JPEG is filtered; the run goes on and exits 1.
find photos -print0 | "$NNFILTER" apply -m "$MODEL" -0 - --base photos -o out >stdout1.txt 2>stderr1.txt
rc=$?
[ "$rc" -eq 1 ] || fail "first run: exit code $rc, expected 1: $(cat stderr1.txt)"
[ ! -s stdout1.txt ] || fail "first run wrote to stdout: $(cat stdout1.txt)"
summary=$(tail -n 1 stderr1.txt)
[ "$summary" = "4 done, 1 skipped, 1 failed" ] || fail "first run summary: '$summary'"
grep -q '^error: photos/sub/bad.jpg: image is truncated' stderr1.txt || fail "bad.jpg not named: $(cat stderr1.txt)"
[ "$(grep -c '^error: ' stderr1.txt)" -eq 1 ] || fail "expected one error line: $(cat stderr1.txt)"
[ -f out/sub/deep/d.png ] || fail "nested folders were not made under out/"

# Re-run, as after an interruption: the outputs that exist are skipped, the bad file still fails.
find photos -print0 | "$NNFILTER" apply -m "$MODEL" -0 - --base photos -o out --skip-existing \
    >stdout2.txt 2>stderr2.txt
rc=$?
[ "$rc" -eq 1 ] || fail "second run: exit code $rc, expected 1: $(cat stderr2.txt)"
[ ! -s stdout2.txt ] || fail "second run wrote to stdout: $(cat stdout2.txt)"
summary=$(tail -n 1 stderr2.txt)
[ "$summary" = "0 done, 5 skipped, 1 failed" ] || fail "second run summary: '$summary'"

# Without --skip-existing or --force, existing outputs are refused, never overwritten.
before=$(cksum out/a.jpg)
find photos -name '*.jpg' -print0 | "$NNFILTER" apply -m "$MODEL" -0 - --base photos -o out -q \
    >/dev/null 2>stderr3.txt
rc=$?
[ "$rc" -eq 1 ] || fail "third run: exit code $rc, expected 1"
grep -q '^error: photos/a.jpg -> out/a.jpg: exists' stderr3.txt || fail "existing output not refused: $(cat stderr3.txt)"
[ "$(cksum out/a.jpg)" = "$before" ] || fail "an existing output was changed"

leftovers=$(find out -name '.nnfilter-*')
[ -z "$leftovers" ] || fail "temporary files left: $leftovers"
echo ok
