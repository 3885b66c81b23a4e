#!/usr/bin/env bats
# The HTML report (issue 11): one self-contained file made from the
# manifest, opened in real headless Chromium.  The page's own script
# writes what rendered into <body> (data-bars, data-expected-bars,
# data-errors, data-ready), which --dump-dom shows after the scripts ran.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# chrome ARGS...: headless Chromium with a profile of its own under $T.
chrome() {
    timeout -k 5 120 chromium --headless --no-sandbox --disable-gpu \
        --no-first-run --disable-extensions --user-data-dir="$T/chrome" \
        "$@" 2>"$T/chrome.log"
}

# body_attr FILE.html NAME: the value of <body data-NAME> once rendered.
body_attr() {
    chrome --dump-dom "file://$1" | grep -o "<body[^>]*>" \
        | grep -o "data-$2=\"[^\"]*\"" | cut -d'"' -f2
}

# seven attempts: five datums succeed, one fails twice (datum_tries 2)
seed() {
    mkdir R
    for i in 1 2 3 4 5 6; do echo "$i" > "R/f$i"; done
    spec s.json rp 'echo "out $in"; case "$in" in *f6) echo boom >&2; exit 3;; esac; sleep 0.1; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in R '/*')" '{"datum_tries": 2}'
    run dr run s.json -n 2 --json
    [ "$status" -eq 1 ]
    J=$(jget "$(last_json)" job_id)
}

@test "report: a self-contained page that Chromium renders with a bar per attempt and no script error" {
    seed
    run dr report s.json -o r.html
    [ "$status" -eq 0 ]
    [[ "$output" =~ "report: r.html (7 attempts of job ${J:0:8})" ]]
    # nothing from the network: no external scripts, styles, fonts or images
    ! grep -Eq '<(script|link|img)[^>]+(src|href)=' r.html
    ! grep -Eo '(https?:)?//[a-z0-9.-]+' r.html | grep -v '^http://www.w3.org$' | grep -q .
    grep -q 'class="timeline"' r.html && grep -q 'class="histogram"' r.html
    grep -q 'id="workers"' r.html && grep -q 'id="nodes"' r.html
    grep -q 'id="slowest"' r.html && grep -q 'id="failures"' r.html
    # the failures name the log files that exist
    f6=$(dr list-datum s.json --status failed --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
    grep -q "$T/.datumrun/rp/logs/$J/$f6.err" r.html
    # rendered: seven bars, no script errors
    [ "$(body_attr "$T/r.html" ready)" = 1 ]
    [ "$(body_attr "$T/r.html" bars)" = 7 ]
    [ "$(body_attr "$T/r.html" expected-bars)" = 7 ]
    [ "$(body_attr "$T/r.html" errors)" = 0 ]
    # and a screenshot of it
    chrome --screenshot="$T/r.png" --window-size=1200,1600 "file://$T/r.html"
    [ "$(stat -c %s r.png)" -gt 20000 ]
    [ "$(head -c 8 r.png | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
    # the default name, for an older job by prefix; a bad job is exit 2
    run dr report s.json "${J:0:6}"
    [ "$status" -eq 0 ] && [ -f "report-${J:0:8}.html" ]
    run dr report s.json nosuchjob
    [ "$status" -eq 2 ] && [[ "$output" =~ "no job 'nosuchjob'" ]]
}

@test "report: beyond its bound the timeline is aggregated and says so" {
    seed
    DATUMRUN_REPORT_MAX_BARS=3 run dr report s.json -o big.html
    [ "$status" -eq 0 ]
    grep -q 'id="aggregated"' big.html
    grep -q '7 attempts are more than this page draws one by one (3)' big.html
    # only the two failed attempts remain bars; the busy bins are drawn
    [ "$(body_attr "$T/big.html" bars)" = 2 ]
    [ "$(body_attr "$T/big.html" expected-bars)" = 2 ]
    [ "$(body_attr "$T/big.html" errors)" = 0 ]
    grep -q 'class="agg"' big.html
}
