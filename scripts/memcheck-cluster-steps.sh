# shellcheck shell=bash disable=SC2154 # sourced by scripts/memcheck
# The cluster-mode steps of scripts/memcheck: the server under valgrind
# runs with --cluster-enabled, owns every slot, and meets a plain partner
# node (no valgrind) that a slot moves to. Ids without a hash tag live in
# different slots: every command touches its own, and the steps across
# slots run in their documented order. Then a tenant's slot starts to move
# and a send whose sender moved ahead of the room answers TRYAGAIN (the
# module asks CLUSTER NODES through RedisModule_Call).

section "cluster: a partner node"
rp() { "$cli" -h 127.0.0.1 -p "$partner_port" "$@"; }
partner_up() { [ "$(rp PING 2>/dev/null)" = PONG ]; }
# Another process may take the port between the check and the bind: then
# the partner exits, and another port is tried.
for attempt in 1 2 3 4 5; do
    partner_port="$(free_port)" || fail "no free port for the partner node"
    rm -rf "$tmp/partner" && mkdir -p "$tmp/partner"
    "$server_bin" --port "$partner_port" --bind 127.0.0.1 --dir "$tmp/partner" \
        --logfile "$tmp/partner/redis.log" --daemonize no --save "" --appendonly no \
        --cluster-enabled yes --cluster-config-file "$tmp/partner/nodes.conf" \
        --loadmodule "$module" >/dev/null 2>&1 &
    partner_pid=$!
    background_pids+=("$partner_pid")
    for ((i = 0; i < 300; i++)); do
        partner_up && break
        kill -0 "$partner_pid" 2>/dev/null || break
        sleep 0.1
    done
    partner_up && break
    kill "$partner_pid" 2>/dev/null || true
    [ "$attempt" = 5 ] && fail "the partner node did not start: $(tail -5 "$tmp/partner/redis.log" 2>/dev/null)"
done
expect "OK" CLUSTER ADDSLOTSRANGE 0 16383
expect "OK" CLUSTER MEET 127.0.0.1 "$partner_port"
cluster_ok() {
    [[ "$(r CLUSTER INFO)" == *"cluster_state:ok"* && "$(rp CLUSTER NODES | grep -c connected)" == 2 ]]
}
wait_for "the two nodes to meet" cluster_ok

section "cluster: one app over many slots"
expect "OK" CHAT.REGISTER alice "Alice"
expect "OK" CHAT.REGISTER bob "Bob"
expect "OK" CHAT.CREATE general "General"
for user in alice bob; do
    expect "1" CHAT.LIST-ROOM "$user" general
    expect $'SSUBSCRIBE\nchat:user:{'"$user"$'}:push\nchat:room:{general}:push' CHAT.SUBSCRIBE general "$user"
    expect "0" CHAT.LIST-ROOM "$user" general
done
expect_has "broadcast" CHAT.INFO general
expect "1" CHAT.SEND general alice "Hello across slots"
expect "2" CHAT.SEND general alice "Hello across slots" DEDUP k1
expect "2" CHAT.SEND general alice "Hello across slots" DEDUP k1
expect $'cursor\n0\nlast_id\n2\nunread\n2\nmentions\n0' CHAT.CURSOR general bob
expect "2" CHAT.READ general bob 2
expect "OK" CHAT.TYPING general bob
expect "OK" CHAT.EDIT general alice 1 "Hello, across slots"
expect "OK" CHAT.DELETE general alice 2
expect_has '"deleted":true' CHAT.HISTORY general AFTER 1
expect $'SSUBSCRIBE\nchat:user:{bob}:push\nchat:room:{general}:push' CHAT.CHANNELS bob
expect "CROSSSLOT *CHAT.CURSOR*" CHAT.UNREAD bob
# A mention of a member of another slot: no event to them from here (their
# channel is another node's), a count in the room.
expect "3" CHAT.SEND general alice "Bob?" REPLY 1 MENTION bob
expect "CROSSSLOT *CHAT.CURSOR*" CHAT.MENTIONS bob
expect $'cursor\n2\nlast_id\n3\nunread\n1\nmentions\n1' CHAT.CURSOR general bob
expect "CROSSSLOT *CHAT.PROFILE*" CHAT.PRESENCE general
expect "CROSSSLOT *CHAT.UNSUBSCRIBE*" CHAT.UNREGISTER bob
expect_has "online" CHAT.PROFILE bob
expect "dm:5:alice:bob" CHAT.DM-ID bob alice
expect "CROSSSLOT *" CHAT.DM alice bob
expect "1" CHAT.LIST-ROOM alice dm:5:alice:bob
expect "1" CHAT.LIST-ROOM bob dm:5:alice:bob
expect "dm:5:alice:bob" CHAT.DM-ROOM dm:5:alice:bob alice bob
expect "1" CHAT.SEND dm:5:alice:bob bob "Psst"
expect "1" CHAT.UNSUBSCRIBE general bob
expect "1" CHAT.UNLIST-ROOM bob general IF-OLDER-THAN-MS 0
expect "1" CHAT.UNSUBSCRIBE dm:5:alice:bob bob
expect "1" CHAT.UNLIST-ROOM bob dm:5:alice:bob
expect "OK" CHAT.UNREGISTER bob
expect "OK" CHAT.DROP general
expect "1" CHAT.UNLIST-ROOM alice general

section "cluster: moderation across slots"
# The owner and the member live in other slots than the room: the room
# keeps the roles, invitation, mute and ban; the users' keys are not
# opened, and CHAT.LIST-ROOM and CHAT.UNLIST-ROOM list the room for them.
# Users of the room's slot get their invitations listed.
expect "OK" CHAT.REGISTER ann "Ann"
expect "OK" CHAT.REGISTER ben "Ben"
expect "OK" CHAT.CREATE mod "Moderated" OWNER ann PRIVATE
expect "1" CHAT.LIST-ROOM ann mod
expect "NOINVITE room mod is private*" CHAT.SUBSCRIBE mod ben
expect "1" CHAT.INVITE mod ann ben
expect "" CHAT.INVITES ben # another slot's room
expect_has "SSUBSCRIBE" CHAT.SUBSCRIBE mod ben
expect "1" CHAT.LIST-ROOM ben mod
expect $'ann\nowner\nben\nmember' CHAT.MEMBERS mod WITHROLES
expect "1" CHAT.ROLE mod ann ben admin
expect "OK" CHAT.MUTE mod ann ben SECONDS 60
expect "MUTED ben is muted in room mod*" CHAT.SEND mod ben "Hi"
expect "1" CHAT.UNMUTE mod ann ben
expect "OK" CHAT.SLOWMODE mod ann 10
expect "1" CHAT.SEND mod ben "Hi" # an admin: no slow mode
expect "OK" CHAT.DELETE mod ann 1
expect "OK" CHAT.KICK mod ann ben
expect "OK" CHAT.BAN mod ann ben SECONDS 60
expect "BANNED ben is banned from room mod*" CHAT.SUBSCRIBE mod ben
expect "1" CHAT.UNBAN mod ann ben
expect "1" CHAT.UNLIST-ROOM ben mod
expect_has '"deleted_by":{"1":"ann"}' CHAT.DUMP mod
expect $'private\n1\nslowmode\n10\nroles\nann\nowner\ninvites\n\nbans\n\nmutes' CHAT.MODERATION mod
expect "OK" CHAT.REGISTER "{m}ann" "Ann"
expect "OK" CHAT.REGISTER "{m}ben" "Ben"
expect "OK" CHAT.CREATE "{m}room" "Room" OWNER "{m}ann"
expect "1" CHAT.INVITE "{m}room" "{m}ann" "{m}ben"
expect $'{m}room\n[0-9]*' CHAT.INVITES "{m}ben"
expect_has "SSUBSCRIBE" CHAT.SUBSCRIBE "{m}room" "{m}ben"
expect "" CHAT.INVITES "{m}ben"
expect "OK" CHAT.BAN "{m}room" "{m}ann" "{m}ben"
expect "{m}room" CHAT.ROOMS "{m}ann"
expect "" CHAT.ROOMS "{m}ben"
expect "OK" CHAT.DROP mod
expect "1" CHAT.UNLIST-ROOM ann mod

section "cluster: presence and notifications"
# Users of one hash tag share the room's slot: the send sees who is away
# and records a notification in that slot's stream, chat:notify:{<n>}.
# Presence events are published on the shard channel of the user's slot.
batch <<'EOF'
CHAT.REGISTER {n}ann "Ann"
CHAT.REGISTER {n}ben "Ben"
CHAT.REGISTER {n}cy "Cy"
CHAT.CREATE {n}room "Room"
CHAT.SUBSCRIBE {n}room {n}ann
CHAT.SUBSCRIBE {n}room {n}ben
CHAT.SUBSCRIBE {n}room {n}cy
EOF
in_background "$tmp/cy-presence.out" SSUBSCRIBE "chat:user:{n}{cy}:presence"
cy_presence=$last_pid
cy_listening() { [ "$(r PUBSUB SHARDNUMSUB "chat:user:{n}{cy}:presence" | tail -1)" = 1 ]; }
wait_for "Cy's presence listener" cy_listening
expect "OK" CHAT.NOTIFY "{n}ben" all
expect "OK" CHAT.ONLINE "{n}cy" TTL 60 DEVICE phone
expect "OK" CHAT.ONLINE "{n}cy" TTL 60 DEVICE desk
run CHAT.CHANNELS "{n}ann" PRESENCE
[[ $reply == $'SSUBSCRIBE\nchat:user:{n}{ann}:push\nchat:user:{n}{ben}:presence\nchat:user:{n}{cy}:presence' ]] ||
    fail "CHAT.CHANNELS {n}ann PRESENCE: $reply"
# Ben is away with notify all, Cy online: one notification, for Ben.
expect "1" CHAT.SEND "{n}room" "{n}ann" "Hi both" MENTION "{n}cy"
run SCAN 0 MATCH "chat:notify*" TYPE stream COUNT 1000
stream="$(grep '^chat:notify:{' <<<"$reply" | head -1)"
[ -n "$stream" ] || fail "no chat:notify:{...} stream in: $reply"
[ "$(r CLUSTER KEYSLOT "$stream")" = "$(r CLUSTER KEYSLOT "{n}room")" ] || fail "$stream is not in the room's slot"
expect_has $'room\n{n}room\nid\n1\nsender\n{n}ann\n' XRANGE "$stream" - +
expect_has $'to\n{"{n}ben":"message"}' XRANGE "$stream" - +
expect "1" XLEN "$stream"
expect "OK" CHAT.OFFLINE "{n}cy" DEVICE phone # desk stays: no event
expect "OK" CHAT.ONLINE "{n}cy" TTL 1 DEVICE desk
sleep 2 # the TTL runs out: the timer announces it on the shard channel
cy_went_offline() { grep -q '"online":false' "$tmp/cy-presence.out"; }
wait_for "Cy's offline event" cy_went_offline
[ "$(grep -c '"type":"presence"' "$tmp/cy-presence.out")" = 2 ] || fail "Cy's presence events: $(cat "$tmp/cy-presence.out")"
kill "$cy_presence"
wait "$cy_presence" 2>/dev/null || true
expect "2" CHAT.SEND "{n}room" "{n}ann" "Cy?" MENTION "{n}cy" # Cy is away now
expect "2" XLEN "$stream" # one entry a message, naming both
expect_has $'to\n{"{n}ben":"message","{n}cy":"mention"}' XRANGE "$stream" - +

section "cluster: a slot on the move"
expect "OK" CHAT.REGISTER "{t}alice" "Alice"
expect "OK" CHAT.CREATE "{t}room" "Room"
expect $'SSUBSCRIBE\nchat:user:{t}{alice}:push' CHAT.SUBSCRIBE "{t}room" "{t}alice"
slot="$(r CLUSTER KEYSLOT t)"
partner_id="$(rp CLUSTER MYID)"
my_id="$(r CLUSTER MYID)"
[ "$(rp CLUSTER SETSLOT "$slot" IMPORTING "$my_id")" = OK ] || fail "SETSLOT IMPORTING on the partner"
expect "OK" CLUSTER SETSLOT "$slot" MIGRATING "$partner_id"
expect "OK" MIGRATE 127.0.0.1 "$partner_port" "{t}alice" 0 5000
expect "TRYAGAIN the key of '{t}alice' is moving*" CHAT.SEND "{t}room" "{t}alice" "Hi"
expect "TRYAGAIN*" CHAT.CURSOR "{t}room" "{t}alice"
expect "OK" CLUSTER SETSLOT "$slot" STABLE
[ "$(rp CLUSTER SETSLOT "$slot" STABLE)" = OK ] || fail "SETSLOT STABLE on the partner"
expect "ERR no such user" CHAT.SEND "{t}room" "{t}alice" "Hi"
