#!/usr/bin/env bash
# Builds every libFuzzer target in tests/fuzz with clang (ASan + UBSan) and
# runs each for SECONDS (default 15; ONLY=name limits it to fuzz_name) starting from its seeds in
# fixtures/fuzz/<name>/ (fuzz_<name>.c, or fuzz_<name>_decode.c for hdr).
# The corpus grows in a temporary folder; the seeds in the tree are never
# written. Any crash, leak or UB report fails the script.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
secs=${1:-15}
out=$(mktemp -d /tmp/loadscope-fuzz-XXXXXX)
trap 'rm -rf "$out"' EXIT
# Every target is linked with all of these (each uses a few; h1.c reads URLs
# with util/url.c, which is libcurl's URL API).
srcs=("$root"/core/util/lserr.c "$root"/core/util/dynbuf.c "$root"/core/util/url.c
      "$root"/core/stats/hdr.c "$root"/core/proto/sse.c "$root"/core/proto/jsonrpc.c
      "$root"/core/proto/h1.c "$root"/core/proto/h1req.c "$root"/core/scenario/template.c "$root"/core/scenario/scenario*.c
      "$root"/core/scenario/mcp_methods.c "$root"/core/scenario/aws_ops.c
      "$root"/core/aws/aws_proto.c "$root"/core/aws/aws_retry.c "$root"/core/aws/awsconf_ini.c
      "$root"/core/target/procstat.c "$root"/core/target/procstat_syscalls.c)
status=0
for target in "$root"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  if [ -n "${ONLY:-}" ] && [ "$name" != "fuzz_$ONLY" ]; then continue; fi
  seeds=${name#fuzz_}
  seeds=${seeds%_decode}
  bin="$out/$name"
  clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I"$root/core" "${srcs[@]}" "$target" -o "$bin" -lcjson -lcurl -lm
  mkdir -p "$out/corpus-$name"
  cp "$root/fixtures/fuzz/$seeds"/* "$out/corpus-$name/"
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
      "$out/corpus-$name" >"$out/$name.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . "$out/$name.log") log lines, $(ls "$out/corpus-$name" | wc -l) corpus entries)"
  else
    echo "fuzz $name: FAILED"
    tail -40 "$out/$name.log"
    status=1
  fi
done
exit $status
