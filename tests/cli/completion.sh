#!/bin/bash
# fabricctl's bash completion, driven the way bash drives it: the script
# is sourced, COMP_WORDS and COMP_CWORD describe the line being typed, and
# the candidates land in COMPREPLY.  Object names need a controller; here
# there is none, and completing them must offer nothing, quickly and
# silently.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"

FABRICCTL=${FABRICCTL:-$top_builddir/cli/fabricctl}
[ -x "$FABRICCTL" ] || fail "$FABRICCTL not built: run \"make\" first"
unset FABRIC_CONTROLLER FABRIC_TOKEN FABRIC_TOKEN_FILE FABRIC_CACERT

# The script that "completion bash" prints is the one that is installed.
diff -u "$top_srcdir/cli/fabricctl.bash-completion" \
    <("$FABRICCTL" completion bash) \
    || fail "\"fabricctl completion bash\" differs from the installed script"

# shellcheck source=/dev/null
source <("$FABRICCTL" completion bash)
[ "$(complete -p fabricctl)" = "complete -F _fabricctl fabricctl" ] \
    || fail "the script does not register _fabricctl"

# Completes the words "line..." (the last one being typed) and checks that
# the candidates, sorted and joined by spaces, are "want".
expect() {
    local want=$1 got
    shift
    COMP_WORDS=("$FABRICCTL" "$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=()
    # As bash runs it: errexit does not apply, and its status is ignored.
    _fabricctl || true
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
    got=${got% }
    [ "$got" = "$want" ] || fail "completing \"$*\": got \"$got\", expected \"$want\""
}

say "commands, verbs, options and their values"
expect "network" net
expect "port" p
expect "create delete list show update" port ""
expect "show" host s
expect "--default-action --default-qos --description --dns" network update blue --d
expect "allow deny" network update blue --default-action ""
expect "qos" q
expect "create delete list show update" qos ""
expect "--egress-burst --egress-min-rate --egress-rate" qos create gold --eg
expect "--priority" qos update gold --pr
expect "update" host u
expect "--uplink-rate" host update hv-1 --u
expect "--qos" port update web-1 --q
expect "--if-version" port delete web-1 --if
expect "--remove-label" port update web-1 --rem
expect "--security-group" port update web-1 --sec
expect "sg status" s
expect "create delete list rule show update" sg ""
expect "rule" sg r
expect "add delete list" sg rule ""
expect "--direction" sg rule add web --di
expect "egress ingress" sg rule add web --direction ""
expect "icmp icmpv6" sg rule add web --protocol ic
expect "--remove-selector" sg update web --rem
expect "admin agent viewer" token create ci --role ""
expect "agent" token create ci --role ag
expect "json table" -o ""
expect "json" --output = j
expect "bash" completion ""

say "file names where a file is expected"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
touch ca.pem token
expect "ca.pem" --cacert c
expect "token" --token-file t
cd - >/dev/null

say "names without a controller: nothing, without waiting"
start=$SECONDS
expect "" --controller http://127.0.0.1:1 network show ""
expect "" port create web-1 --network ""
[ $(( SECONDS - start )) -le 5 ] || fail "completing names took too long"

say "done"
