# shellcheck shell=bash
# s3proxy for the benchmarks (sourced by bench/fetch.sh and bench/coldstart.sh): a real S3 server on
# its filesystem-nio2 blob store, the layout bench/lib/write-model.py writes into.

# s3proxy_start WORK ROOT ENDPOINT ACCESS_KEY SECRET_KEY: starts s3proxy in the background on ENDPOINT,
# serving WORK/blobs (the classpath from WORK/s3proxy.classpath, the log to WORK/logs/s3proxy.log);
# sets S3PROXY_PID. The caller waits until it answers.
s3proxy_start() {
    local work=$1 root=$2 endpoint=$3 access=$4 secret=$5
    cat >"$work/s3proxy.properties" <<PROPS
s3proxy.endpoint=$endpoint
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$access
s3proxy.credential=$secret
jclouds.provider=filesystem-nio2
jclouds.identity=$access
jclouds.credential=$secret
jclouds.filesystem.basedir=$work/blobs
PROPS
    java -Xmx1g -Dlogback.configurationFile="$root/bench/s3proxy/logback.xml" -cp "$(cat "$work/s3proxy.classpath")" \
        org.gaul.s3proxy.Main --properties "$work/s3proxy.properties" >"$work/logs/s3proxy.log" 2>&1 &
    # shellcheck disable=SC2034 # read by the sourcing script
    S3PROXY_PID=$!
}
