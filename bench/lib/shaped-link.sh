# shellcheck shell=bash
# The shaped link of the benchmarks (sourced by bench/fetch.sh and bench/coldstart.sh): htb on the
# host end of a veth pair, whose egress is the download direction (server -> node).
#   1:1            the link, at LINK_MBIT
#   1:2            anything not TCP over IPv4 (ARP)
#   1:1000..1:10ff per-connection leaves, picked by hashing bits 1-8 of the TCP destination port
#                  (the client's ephemeral port; Linux hands out even ports to connect(), mostly in
#                  sequence, so consecutive connections land in distinct leaves), each capped at
#                  CONN_MBIT -- the way an object store or a registry caps each connection below a
#                  node's NIC. With CONN_MBIT = LINK_MBIT nothing is capped per connection.

# shaped_link_netns NETNS VETH_HOST VETH_NODE HOST_IP NODE_IP: the namespace, joined to the host by a
# veth pair in a private /30 (the caller deletes VETH_HOST, which takes its peer, and NETNS at exit).
shaped_link_netns() {
    local netns=$1 veth_host=$2 veth_node=$3 host_ip=$4 node_ip=$5
    ip netns add "$netns"
    ip link add "$veth_host" type veth peer name "$veth_node"
    ip link set "$veth_node" netns "$netns"
    ip addr add "$host_ip/30" dev "$veth_host"
    ip link set "$veth_host" up
    ip -n "$netns" addr add "$node_ip/30" dev "$veth_node"
    ip -n "$netns" link set "$veth_node" up
    ip -n "$netns" link set lo up
}

# shaped_link_tc DEV LINK_MBIT CONN_MBIT: the tc batch that sets the link up.
shaped_link_tc() {
    local dev=$1 link_mbit=$2 conn_mbit=$3 leaf_kbit i
    leaf_kbit=$((link_mbit * 1000 / 300))
    [[ $leaf_kbit -ge 8 ]] || leaf_kbit=8
    echo "qdisc add dev $dev root handle 1: htb default 2"
    # 1 ms of burst at the link rate: veth hands htb 64 KB GSO packets.
    echo "class add dev $dev parent 1: classid 1:1 htb rate ${link_mbit}mbit ceil ${link_mbit}mbit burst $((link_mbit * 125 + 1600)) cburst $((link_mbit * 125 + 1600)) quantum 60000"
    echo "class add dev $dev parent 1:1 classid 1:2 htb rate ${leaf_kbit}kbit ceil ${link_mbit}mbit quantum 60000"
    echo "filter add dev $dev parent 1: prio 1 handle 2: protocol ip u32 divisor 256"
    for ((i = 0; i < 256; i++)); do
        printf 'class add dev %s parent 1:1 classid 1:%x htb rate %skbit ceil %smbit quantum 60000\n' \
            "$dev" $((0x1000 + i)) "$leaf_kbit" "$conn_mbit"
        printf 'filter add dev %s parent 1: prio 1 protocol ip u32 ht 2:%x: match u32 0 0 flowid 1:%x\n' \
            "$dev" "$i" $((0x1000 + i))
    done
    echo "filter add dev $dev parent 1: prio 1 protocol ip u32 ht 800:: match ip protocol 6 0xff hashkey mask 0x000001fe at 20 link 2:"
}

# shaped_link_cap_tc DEV LINK_MBIT CONN_MBIT: the tc batch that changes the per-connection cap of a
# link set up by shaped_link_tc (the leaves' ceil), leaving everything else as it is.
shaped_link_cap_tc() {
    local dev=$1 link_mbit=$2 conn_mbit=$3 leaf_kbit i
    leaf_kbit=$((link_mbit * 1000 / 300))
    [[ $leaf_kbit -ge 8 ]] || leaf_kbit=8
    for ((i = 0; i < 256; i++)); do
        printf 'class change dev %s parent 1:1 classid 1:%x htb rate %skbit ceil %smbit quantum 60000\n' \
            "$dev" $((0x1000 + i)) "$leaf_kbit" "$conn_mbit"
    done
}

# shaped_link_leaf_bytes DEV: bytes each per-connection leaf has sent, "classid bytes" per line.
shaped_link_leaf_bytes() {
    tc -s class show dev "$1" | awk '/^class htb 1:10/ {c = $3} /^ Sent/ && c != "" {print c, $2; c = ""}' | sort
}
