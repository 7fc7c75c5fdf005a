# Free loopback ports for scripts that start servers of their own (etcd
# members in tests/controller/etcd-suite.sh and bench/store.sh).  Sourced.

# Whether something listens on port $1 of 127.0.0.1.
in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a port of 127.0.0.1 that nothing listens on now (a server that
# loses it to another before binding fails, and its caller tries again).
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        in_use "$port" || break
    done
    echo "$port"
}
