# The steps of scripts/memcheck, which sources this file once the server
# runs under valgrind: every CHAT.* command with its errors, and every
# callback of the two data types. It uses scripts/memcheck's helpers (r,
# expect, run, batch, wait_for, section, ...).
# shellcheck shell=bash disable=SC2154 # variables set by scripts/memcheck

# ---------------------------------------------------------------------------
# Users, rooms, messages, and the errors of each command.

section "commands and their errors"
expect "OK" CHAT.REGISTER alice "Alice Liddell"
expect "OK" CHAT.REGISTER bob "Bob"
expect "OK" CHAT.REGISTER carol "Carol"
expect "ERR user already exists" CHAT.REGISTER alice "Again"
expect "ERR invalid user id*" CHAT.REGISTER "bad id" "Bad"
expect "ERR wrong number of arguments*" CHAT.REGISTER alice
expect "ERR syntax error*" CHAT.REGISTER dave "Dave" PASS x
expect_has "Alice Liddell" CHAT.PROFILE alice
expect "" CHAT.PROFILE nobody

expect "OK" CHAT.CREATE general "General chat"
expect "ERR room already exists" CHAT.CREATE general "Again"
expect "ERR room ids starting with 'dm:'*" CHAT.CREATE "dm:1:a:b" "Mine"
expect "ERR *is the id of a room*" CHAT.REGISTER general "General"
expect "ERR *is the id of a user*" CHAT.CREATE alice "Alice's room"
expect "" CHAT.INFO nowhere
expect "chat:user:{alice}:push" CHAT.SUBSCRIBE general alice
expect "chat:user:{bob}:push" CHAT.SUBSCRIBE general bob
expect "chat:user:{bob}:push" CHAT.SUBSCRIBE general bob
expect "ERR no such user" CHAT.SUBSCRIBE general nobody
expect "ERR no such room" CHAT.SUBSCRIBE nowhere alice
expect $'alice\nbob' CHAT.MEMBERS general
expect $'alice\n0\nbob\n0' CHAT.MEMBERS general WITHREAD
expect "ERR syntax error*" CHAT.MEMBERS general WITHCOLOR
expect "ERR no such room" CHAT.MEMBERS nowhere
expect "general" CHAT.ROOMS alice
expect "ERR no such user" CHAT.ROOMS nobody

expect "1" CHAT.SEND general alice "Hello, world"
expect "2" CHAT.SEND general bob "Hi Alice" DEDUP b-0001
expect "2" CHAT.SEND general bob "Hi Alice" DEDUP b-0001 # a retry
expect "ERR message text is empty" CHAT.SEND general alice ""
expect "ERR DEDUP key must be*" CHAT.SEND general alice "x" DEDUP ""
expect "ERR user is not a member of the room" CHAT.SEND general carol "Hi"
expect "ERR no such room" CHAT.SEND nowhere alice "Hi"
expect "ERR no such user" CHAT.SEND general nobody "Hi"
expect "ERR name is not valid UTF-8*" CHAT.REGISTER eve $'\xff\xfe'
expect "OK" CONFIG SET chat.max-text-bytes 16
expect "ERR message text is * bytes, more than chat.max-text-bytes*" CHAT.SEND general alice "a text longer than sixteen bytes"
expect "OK" CONFIG SET chat.max-text-bytes 16384
run CHAT.INFO general
[[ $(field messages) == 2 && $(field last_id) == 2 && $(field mode) == fanout ]] ||
    fail "CHAT.INFO general: $reply"
expect_has '"text":"Hi Alice"' CHAT.HISTORY general
expect_has '"id":1,' CHAT.HISTORY general BEFORE 2 COUNT 1
expect_has '"id":2,' CHAT.HISTORY general AFTER 1
expect "ERR COUNT must be an integer from 1 to 1000, got '5000'" CHAT.HISTORY general COUNT 5000
expect "ERR syntax error*" CHAT.HISTORY general BEFORE 2 AFTER 1
expect "ERR no such room" CHAT.HISTORY nowhere
expect $'alice\n1\nbob\n1' CHAT.COUNTS general
expect "ERR no such room" CHAT.COUNTS nowhere

# Bob has Alice's first message in his inbox (he is offline).
expect_has '"delivery":"' CHAT.FETCH bob
delivery="$(sed -n 's/.*"delivery":"\([^"]*\)".*/\1/p' <<<"$reply" | tail -1)"
expect "1" CHAT.ACK bob "$delivery"
expect "0" CHAT.ACK bob "$delivery"
expect "ERR invalid delivery*" CHAT.ACK bob 12
expect "ERR no such user" CHAT.ACK nobody "$delivery"
expect "ERR COUNT must be*" CHAT.FETCH bob COUNT 0
expect "ERR no such user" CHAT.FETCH nobody

expect "OK" CHAT.ONLINE bob TTL 120
expect "bob" CHAT.PRESENCE general
expect "OK" CHAT.OFFLINE bob
expect "" CHAT.PRESENCE general
expect "ERR TTL must be*" CHAT.ONLINE bob TTL 0
expect "ERR no such user" CHAT.OFFLINE nobody
expect "ERR no such room" CHAT.PRESENCE nowhere
expect "OK" CHAT.ONLINE alice

expect "2" CHAT.READ general bob 2
expect "2" CHAT.READ general bob 1 # never back
expect "ERR id 9 is after the room's last message (2)" CHAT.READ general bob 9
expect "ERR id must be*" CHAT.READ general bob -1
expect "ERR user is not a member of the room" CHAT.READ general carol 1
expect "" CHAT.UNREAD bob
expect "OK" CHAT.TYPING general bob
expect "ERR no such user" CHAT.TYPING general nobody
expect "ERR user is not a member of the room" CHAT.TYPING general carol
expect $'SUBSCRIBE\nchat:user:{bob}:push' CHAT.CHANNELS bob
expect "ERR no such user" CHAT.CHANNELS nobody
expect $'cursor\n2\nlast_id\n2\nunread\n0\nmentions\n0' CHAT.CURSOR general bob
expect "ERR user is not a member of the room" CHAT.CURSOR general carol
expect "ERR no such room" CHAT.CURSOR nowhere bob

# The user's side of memberships across cluster slots.
expect "1" CHAT.LIST-ROOM carol general
expect "0" CHAT.LIST-ROOM carol general
expect "ERR no such user" CHAT.LIST-ROOM nobody general
expect "0" CHAT.UNLIST-ROOM carol general IF-OLDER-THAN-MS 60000
expect "1" CHAT.UNLIST-ROOM carol general
expect "ERR user is still a member of the room*" CHAT.UNLIST-ROOM bob general
expect "ERR syntax error" CHAT.UNLIST-ROOM bob general SOON

# Edits and deletes change the copies waiting in Bob's inbox too.
expect "3" CHAT.SEND general alice "Lunch at noon?"
expect "4" CHAT.SEND general alice "At the usual place"
expect $'general\n2' CHAT.UNREAD bob
expect "OK" CHAT.EDIT general alice 4 "At the usual place, 12:30"
expect "OK" CHAT.EDIT general alice 4 "At the usual place, 12:45"
expect "ERR only the author of a message may change it" CHAT.EDIT general bob 4 "Elsewhere"
expect "ERR no such message*" CHAT.EDIT general alice 9 "?"
expect "ERR id must be*" CHAT.EDIT general alice 0 "?"
expect "ERR message text is empty" CHAT.EDIT general alice 4 ""
expect "OK" CHAT.DELETE general alice 3
expect "ERR no such message*" CHAT.DELETE general alice 3
expect "ERR only the author of a message may change it" CHAT.DELETE general bob 4
expect_has '"deleted":true' CHAT.HISTORY general AFTER 2
expect_has '"text":"At the usual place, 12:45"' CHAT.FETCH bob
[[ $reply == *'"id":3,"sender":"alice","ts":'*'"deleted":true'* ]] || fail "Bob's copy of message 3 is not a tombstone: $reply"

# Replies, mentions, reactions and pins, in a room of their own: SEND's
# replicated form carries the reply and mentions.
expect "OK" CHAT.CREATE talk "Talk"
expect "chat:user:{alice}:push" CHAT.SUBSCRIBE talk alice
expect "chat:user:{bob}:push" CHAT.SUBSCRIBE talk bob
expect "1" CHAT.SEND talk alice "Lunch?"
expect "2" CHAT.SEND talk alice "Deleted"
expect "OK" CHAT.DELETE talk alice 2
expect "3" CHAT.SEND talk bob "Works for me" REPLY 1 MENTION alice
expect "4" CHAT.SEND talk alice "Great" REPLY 1 MENTION bob MENTION bob DEDUP a-0004
expect "ERR message 2 is deleted" CHAT.SEND talk alice "x" REPLY 2
expect "ERR no such message*" CHAT.SEND talk alice "x" REPLY 99
expect "ERR cannot mention 'carol'*" CHAT.SEND talk alice "x" MENTION carol
expect "ERR invalid user id*" CHAT.SEND talk alice "x" MENTION "bad id"
expect_has '"replies":2,"last_reply":4' CHAT.THREAD talk 1
expect_has '"id":4,' CHAT.THREAD talk 1 AFTER 3 COUNT 1
expect "ERR no such message*" CHAT.THREAD talk 99
expect $'talk\n1' CHAT.MENTIONS bob
expect $'cursor\n3\nlast_id\n4\nunread\n1\nmentions\n1' CHAT.CURSOR talk bob
expect "1" CHAT.REACT talk bob 1 "👍"
expect "0" CHAT.REACT talk bob 1 "👍"
expect "1" CHAT.REACT talk alice 1 ":tada:"
expect "ERR invalid reaction*" CHAT.REACT talk alice 1 "a b"
expect "ERR message 2 is deleted" CHAT.REACT talk alice 2 "ok"
expect $'👍\nbob\n:tada:\nalice' CHAT.REACTIONS talk 1
expect "1" CHAT.UNREACT talk alice 1 ":tada:"
expect "0" CHAT.UNREACT talk alice 1 ":tada:"
expect "1" CHAT.REACT talk alice 3 "ok"
expect "OK" CHAT.PIN talk bob 1
expect "OK" CHAT.PIN talk alice 3
expect "ERR message 2 is deleted" CHAT.PIN talk alice 2
expect_has '"reactions":{"ok":1}' CHAT.PINS talk
expect "OK" CHAT.UNPIN talk alice 3
expect_has '"pins":[1]' CHAT.DUMP talk
expect_has '"reply_to":1' CHAT.HISTORY talk AFTER 2

# Direct rooms.
expect "dm:5:alice:bob" CHAT.DM alice bob
expect "dm:5:alice:bob" CHAT.DM bob alice
expect "ERR a direct room needs two different users" CHAT.DM alice alice
expect "ERR no such user" CHAT.DM alice nobody
expect "ERR a direct room has only its two users*" CHAT.SUBSCRIBE dm:5:alice:bob carol
expect "1" CHAT.SEND dm:5:alice:bob alice "See you there"
expect "dm:5:alice:bob" CHAT.DM-ID bob alice
expect "dm:5:alice:bob" CHAT.DM-ROOM dm:5:alice:bob alice bob
expect "ERR 'general' is not the direct room*" CHAT.DM-ROOM general alice bob
expect "ERR no such user" CHAT.DM-ROOM dm:5:alice:nobody alice nobody

# Keys of another type, and a room given where a user is wanted.
expect "OK" SET plain "not a chat key"
expect "WRONGTYPE key 'plain' holds another kind of value*" CHAT.SEND plain alice "Hi"
expect "WRONGTYPE key 'plain' holds another kind of value*" CHAT.SUBSCRIBE plain alice
expect "WRONGTYPE key 'plain' holds another kind of value*" CHAT.FETCH plain
expect "WRONGTYPE key 'plain' holds another kind of value*" CHAT.DUMP plain
expect "WRONGTYPE key 'general' holds a chat room, not a chat user" CHAT.FETCH general
expect "WRONGTYPE key 'alice' holds a chat user, not a chat room" CHAT.HISTORY alice

# The internal replay commands refuse a client.
expect "ERR CHAT.SEND-RESOLVED only replays a send*" \
    CHAT.SEND-RESOLVED general alice "forged" 5 1795749231574 1 ""
expect "ERR CHAT.AT only replays writes*" CHAT.AT 1795749231574 CHAT.CREATE forged "Forged"
# shellcheck disable=SC2016 # a PHC string, not an expansion
expect "ERR CHAT.SET-PASSWORD only replays writes*" CHAT.SET-PASSWORD alice '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA'
expect "ERR CHAT.TRIM-RESOLVED only replays writes*" CHAT.TRIM-RESOLVED general 3
expect "ERR CHAT.RESTORE-VALUE only replays writes*" CHAT.RESTORE-VALUE general room 1 "bytes"
expect "0" EXISTS forged # nothing was written

# Inside MULTI: a password cannot be hashed, and a blocking fetch answers
# at once.
batch --errors-ok <<'EOF'
MULTI
CHAT.REGISTER frank "Frank" PASSWORD "secret"
CHAT.FETCH carol BLOCK 0
EXEC
EOF
[[ $reply == *"cannot run inside MULTI"* ]] || fail "CHAT.REGISTER ... PASSWORD inside MULTI: $reply"

expect_has "chat.send" COMMAND DOCS chat.send
expect "general" COMMAND GETKEYS CHAT.SEND general alice "Hi"
expect "alice" COMMAND GETKEYS CHAT.LIST-ROOM alice general
expect_has "chat_messages_sent:" INFO chat

# ---------------------------------------------------------------------------
# Data-type callbacks: digest, memory usage, RDB save and load (DUMP and
# RESTORE, DEBUG RELOAD), copy, rename, free (DEL, expiry, lazy free).

section "data-type callbacks"
expect "chat-room" TYPE general
expect "chat-user" TYPE alice
expect_has "general" SCAN 0 TYPE chat-room COUNT 1000
expect_has "serializedlength:" DEBUG OBJECT general # rdb_save, counting bytes
expect "[0-9a-f]*" DEBUG DIGEST
expect $'[0-9a-f]*\n[0-9a-f]*' DEBUG DIGEST-VALUE general alice
expect "[1-9]*" MEMORY USAGE general
expect "[1-9]*" MEMORY USAGE alice
expect_has '"type":"chat-room"' CHAT.DUMP general
expect_has '"type":"chat-user"' CHAT.DUMP bob
expect "" CHAT.DUMP nothing

# DUMP and RESTORE of a room and of a user give the same value back.
for key in general bob; do
    run DEBUG DIGEST-VALUE "$key"
    digest="$reply"
    commands=$((commands + 1))
    r --raw DUMP "$key" >"$tmp/payload"
    truncate -s -1 "$tmp/payload" # redis-cli's newline
    expect "1" DEL "$key"
    commands=$((commands + 1))
    restored="$(r -x RESTORE "$key" 0 <"$tmp/payload" 2>&1)"
    [ "$restored" = OK ] || fail "RESTORE $key: $restored"
    expect "$digest" DEBUG DIGEST-VALUE "$key"
done
# A truncated payload is refused (its checksum is wrong).
head -c 20 "$tmp/payload" >"$tmp/truncated"
commands=$((commands + 1))
restored="$(r -x RESTORE broken 0 <"$tmp/truncated" 2>&1)"
[[ $restored == ERR* ]] || fail "RESTORE of a truncated payload: $restored"
# A payload whose value bytes are damaged reaches the module's rdb_load,
# which must refuse it: with the checksum check off (DEBUG), replace the
# value's bytes by 0xff, keeping their length. Uncompressed, a chat value's
# payload is: type 7, 0x81 and the 8-byte module type id, opcode 5 (string),
# the string's length (1, 2 or 5 bytes), the value, opcode 0 (EOF), the RDB
# version (2 bytes) and the CRC (8 bytes).
expect "OK" CONFIG SET rdbcompression no
commands=$((commands + 1))
r --raw DUMP alice >"$tmp/payload"
truncate -s -1 "$tmp/payload"
expect "OK" CONFIG SET rdbcompression yes
size=$(stat -c %s "$tmp/payload")
read -r b11 b12 b13 b14 b15 < <(od -An -tu1 -j11 -N5 "$tmp/payload")
case $((b11 >> 6)) in
0) start=12 length=$((b11 & 63)) ;;
1) start=13 length=$(((b11 & 63) << 8 | b12)) ;;
*) start=16 length=$((b12 << 24 | b13 << 16 | b14 << 8 | b15)) ;;
esac
[[ $(od -An -tu1 -N1 "$tmp/payload" | tr -d ' ') == 7 && $((start + length + 11)) == "$size" ]] ||
    fail "DUMP alice: not the payload layout this script knows ($size bytes)"
{
    head -c "$start" "$tmp/payload"
    head -c "$length" /dev/zero | tr '\0' '\377'
    tail -c 11 "$tmp/payload"
} >"$tmp/damaged"
expect "OK" DEBUG SET-SKIP-CHECKSUM-VALIDATION 1
commands=$((commands + 1))
restored="$(r -x RESTORE damaged 0 <"$tmp/damaged" 2>&1)"
expect "OK" DEBUG SET-SKIP-CHECKSUM-VALIDATION 0
[ "$restored" = "ERR Bad data format" ] || fail "RESTORE of damaged value bytes: $restored"
grep -q "cannot read chat-user value of key 'damaged'" "$tmp/redis.log" ||
    fail "RESTORE of damaged value bytes: the module did not log why it refused them"
expect "0" EXISTS damaged broken

# COPY makes an independent value the commands refuse under its new name;
# RENAME keeps the value, which works again once renamed back.
expect "1" COPY general general-copy
expect_has '"title":"General chat"' CHAT.DUMP general-copy
expect "ERR key 'general-copy' holds a chat room made under another key name*" CHAT.INFO general-copy
run DEBUG DIGEST-VALUE general general-copy
[ "$(sed -n 1p <<<"$reply")" = "$(sed -n 2p <<<"$reply")" ] || fail "COPY changed the value: $reply"
expect "1" DEL general-copy
expect "1" COPY bob bob-copy
expect "1" DEL bob-copy
expect "OK" RENAME general general-renamed
expect "ERR key 'general-renamed' holds a chat room made under another key name*" CHAT.SEND general-renamed alice "Hi"
expect "" CHAT.INFO general
expect "OK" RENAME general-renamed general
expect "5" CHAT.SEND general alice "Still here"

# A key that expires is freed by Redis's expiry.
expect "OK" CHAT.CREATE ephemeral "Gone soon"
expect "1" PEXPIRE ephemeral 100
key_gone() { [ "$(r EXISTS "$1")" = 0 ]; }
wait_for "the key ephemeral to expire" key_gone ephemeral

# ---------------------------------------------------------------------------
# Moderation: a private room with an owner and an admin, invitations,
# roles, mutes, slow mode, the send rate limit, kicks and bans, each with
# its refusals; the events a member's app gets; and the data-type callbacks
# of a room with rules and a user with invitations (DUMP and RESTORE,
# COPY, RENAME, DEBUG RELOAD; the AOF rewrites below write them as
# CHAT.RESTORE-VALUE). After the rewrites, moderation commands reach the
# AOF as CHAT.AT, which DEBUG LOADAOF replays.

section "moderation"
batch <<'EOF'
CHAT.REGISTER ann "Ann"
CHAT.REGISTER ben "Ben"
CHAT.REGISTER wal "Walter"
CHAT.REGISTER yan "Yan"
EOF
expect "OK" CHAT.CREATE staff "Staff room" OWNER ann PRIVATE
expect "OK" CHAT.CREATE club "Club" private owner ann # any order and case
expect "ERR PRIVATE needs OWNER*" CHAT.CREATE lobby "Lobby" PRIVATE
expect "ERR no such user" CHAT.CREATE lobby "Lobby" OWNER nobody
expect "ERR syntax error*" CHAT.CREATE lobby "Lobby" OWNER
expect "0" EXISTS lobby
expect $'club\nstaff' CHAT.ROOMS ann
run CHAT.INFO staff
[[ $(field private) == 1 && $(field slowmode) == 0 && $(field owners) == ann ]] ||
    fail "CHAT.INFO staff: $reply"
expect "NOINVITE room staff is private: ben needs an invitation*" CHAT.SUBSCRIBE staff ben
expect "1" CHAT.INVITE staff ann ben
expect "0" CHAT.INVITE staff ann ben
expect $'staff\n[0-9]*' CHAT.INVITES ben
expect "ERR no such user" CHAT.INVITES nobody
expect "ERR no such user" CHAT.INVITE staff ann nobody
expect "chat:user:{ben}:push" CHAT.SUBSCRIBE staff ben
expect "" CHAT.INVITES ben
expect "ERR ben is already a member of the room" CHAT.INVITE staff ann ben
expect "1" CHAT.ROLE staff ann ben admin
expect "0" CHAT.ROLE staff ann ben ADMIN
expect "NOPERM ben is an admin and may not change an owner's role*" CHAT.ROLE staff ben ann member
expect "ERR ann is the room's last owner*" CHAT.ROLE staff ann ann member
expect "ERR role must be owner, admin or member" CHAT.ROLE staff ann ben chief
expect "ERR user is not a member of the room" CHAT.ROLE staff ann yan admin
expect "ERR wrong number of arguments*" CHAT.ROLE staff ann ben

# Walter's app listens on his push channel while he is online: his
# invitation, then what happens to him, reaches it.
in_background "$tmp/wal-push.out" SUBSCRIBE "chat:user:{wal}:push"
wal_listener=$last_pid
wal_listening() { [ "$(r PUBSUB NUMSUB "chat:user:{wal}:push" | tail -1)" = 1 ]; }
wait_for "Walter's listener" wal_listening
expect "OK" CHAT.ONLINE wal TTL 120
expect "1" CHAT.INVITE staff ben wal
expect "chat:user:{wal}:push" CHAT.SUBSCRIBE staff wal
expect "NOPERM only the room's owners and admins may invite; wal is a member" CHAT.INVITE staff wal yan
expect "ERR user is not a member of the room" CHAT.INVITE club ben yan
expect $'ann\nowner\nben\nadmin\nwal\nmember' CHAT.MEMBERS staff WITHROLES
expect "ERR syntax error*" CHAT.MEMBERS staff WITHROLES WITHREAD
expect "1" CHAT.SEND staff wal "Who broke the build?"
expect "OK" CHAT.MUTE staff ben wal SECONDS 600
expect "MUTED wal is muted in room staff until * (600 seconds from now)" CHAT.SEND staff wal "Not me!"
expect "MUTED wal is muted in room staff*" CHAT.REACT staff wal 1 "+1"
expect "MUTED wal is muted in room staff*" CHAT.EDIT staff wal 1 "Who did?"
expect "NOPERM only the room's owners and admins may mute; wal is a member" CHAT.MUTE staff wal ben
expect "NOPERM ben may not mute ann, who is an owner*" CHAT.MUTE staff ben ann
expect "ERR SECONDS must be an integer from 1 to 315360000, got '0'" CHAT.MUTE staff ben wal SECONDS 0
expect "ERR user is not a member of the room" CHAT.MUTE staff ben yan
expect "1" CHAT.UNMUTE staff ben wal
expect "0" CHAT.UNMUTE staff ben wal
expect "OK" CHAT.MUTE staff ann wal
expect "MUTED wal is muted in room staff until CHAT.UNMUTE" CHAT.SEND staff wal "Still me"
expect "1" CHAT.UNMUTE staff ann wal
expect "ERR seconds must be an integer from 0 to 3600, got '5000'" CHAT.SLOWMODE staff ann 5000
expect "NOPERM only the room's owners and admins may set slow mode; wal is a member" CHAT.SLOWMODE staff wal 5
expect "OK" CHAT.SLOWMODE staff ann 30
run CHAT.INFO staff
[ "$(field slowmode)" = 30 ] || fail "CHAT.INFO staff after CHAT.SLOWMODE: $reply"
expect "2" CHAT.SEND staff wal "Sorry, my bad"
expect "SLOWMODE room staff allows a member one message every 30 seconds; wal may send again in * ms" \
    CHAT.SEND staff wal "Fixing it now"
expect "3" CHAT.SEND staff ben "Keep it civil" # owners and admins are exempt
expect "4" CHAT.SEND staff ben "Run the tests before you push"
expect "OK" CHAT.DELETE staff ben 1 # an admin deletes a member's message
expect_has '"deleted_by":"ben"' CHAT.HISTORY staff
expect "ERR only the author of a message may change it" CHAT.DELETE staff wal 3
expect "NOPERM only the room's owners and admins may pin*" CHAT.PIN staff wal 2
expect "OK" CHAT.PIN staff ben 2
expect "OK" CHAT.SLOWMODE staff ann 0

# The send rate limit: one message a second, a burst of one.
# The two sends go on one connection, well within the second.
expect "OK" CONFIG SET chat.send-rate 1
batch --errors-ok <<'EOF'
CHAT.SEND staff wal "One"
CHAT.SEND staff wal "Two"
EOF
[[ $reply == $'5\nRATELIMIT wal may send 1 messages per second (burst 1, chat.send-rate); retry in '*' ms' ]] ||
    fail "the second send within a second of CHAT.SEND's rate limit: $reply"
expect "OK" CONFIG SET chat.send-rate 0
expect "6" CHAT.SEND staff wal "Two"

expect "NOPERM ben may not kick ann, who is an owner*" CHAT.KICK staff ben ann
expect "NOPERM ben may not kick ben, who is an admin*" CHAT.KICK staff ben ben
expect "OK" CHAT.KICK staff ben wal
expect "ERR user is not a member of the room" CHAT.KICK staff ben wal
expect "ERR wrong number of arguments*" CHAT.KICK staff ben
expect "1" CHAT.INVITE staff ann wal
expect "chat:user:{wal}:push" CHAT.SUBSCRIBE staff wal
expect "OK" CHAT.BAN staff ann wal SECONDS 600
expect "BANNED wal is banned from room staff until * (600 seconds from now)" CHAT.SUBSCRIBE staff wal
expect "BANNED wal is banned from room staff*" CHAT.INVITE staff ann wal
expect "1" CHAT.UNBAN staff ann wal
expect "0" CHAT.UNBAN staff ann wal
expect "1" CHAT.INVITE staff ann yan
expect $'staff\n[0-9]*' CHAT.INVITES yan
expect "OK" CHAT.BAN staff ben yan # not a member: the invitation goes
expect "" CHAT.INVITES yan
expect "BANNED yan is banned from room staff until CHAT.UNBAN" CHAT.SUBSCRIBE staff yan
expect "ERR SECONDS must be an integer from 1 to 315360000, got '315360001'" \
    CHAT.BAN staff ann yan SECONDS 315360001
expect "OK" CHAT.BAN staff ann yan SECONDS 315360000
expect "ERR no such user" CHAT.BAN staff ann nobody
expect "ERR ann is the room's last owner*" CHAT.UNSUBSCRIBE staff ann
expect "1" CHAT.INVITE staff ann wal # waits in the room and in Walter's key

got_moderation_events() {
    local kind
    for kind in invite mute unmute slowmode kick ban unban delete; do
        grep -q "\"type\":\"$kind\"" "$tmp/wal-push.out" || return 1
    done
}
wait_for "Walter's moderation events" got_moderation_events
grep -q '"type":"delete","room":"staff","id":1,"sender":"wal","by":"ben"' "$tmp/wal-push.out" ||
    fail "the delete event does not say who deleted: $(cat "$tmp/wal-push.out")"
kill "$wal_listener"
wait "$wal_listener" 2>/dev/null || true
expect "OK" CHAT.OFFLINE wal
for counter in moderation_actions refused_role refused_private refused_banned \
    refused_muted refused_slowmode refused_ratelimit refused_other; do
    commands=$((commands + 1))
    [[ $(info chat "chat_$counter") -gt 0 ]] || fail "INFO chat: chat_$counter did not count"
done

expect_has '"roles":{"ann":"owner","ben":"admin"}' CHAT.DUMP staff
expect_has '"bans":{"yan":' CHAT.DUMP staff
expect_has '"deleted_by":{"1":"ben"}' CHAT.DUMP staff
expect_has '"invites":{"wal":' CHAT.DUMP staff
expect_has '"invites":{"staff":' CHAT.DUMP wal
run CHAT.MODERATION staff
[[ $(field private) == 1 && $reply == *$'roles\nann\nowner\nben\nadmin\ninvites\nwal\n'[0-9]*$'\nbans\nyan\n'[0-9]*$'\nmutes' ]] ||
    fail "CHAT.MODERATION staff: $reply"
expect "ERR no such room" CHAT.MODERATION nowhere

# The callbacks of a room with rules and of a user with invitations.
for key in staff wal; do
    run DEBUG DIGEST-VALUE "$key"
    digest="$reply"
    commands=$((commands + 1))
    r --raw DUMP "$key" >"$tmp/payload"
    truncate -s -1 "$tmp/payload" # redis-cli's newline
    expect "1" DEL "$key"
    commands=$((commands + 1))
    restored="$(r -x RESTORE "$key" 0 <"$tmp/payload" 2>&1)"
    [ "$restored" = OK ] || fail "RESTORE $key: $restored"
    expect "$digest" DEBUG DIGEST-VALUE "$key"
done
expect "1" COPY staff staff-copy
run DEBUG DIGEST-VALUE staff staff-copy
[ "$(sed -n 1p <<<"$reply")" = "$(sed -n 2p <<<"$reply")" ] || fail "COPY changed a moderated room: $reply"
expect "1" DEL staff-copy
expect "OK" RENAME staff staff-renamed
expect "ERR key 'staff-renamed' holds a chat room made under another key name*" CHAT.ROLE staff-renamed ann ben member
expect "OK" RENAME staff-renamed staff
run DEBUG DIGEST
digest="$reply"
expect "OK" DEBUG RELOAD
expect "$digest" DEBUG DIGEST
expect $'ann\nowner\nben\nadmin' CHAT.MEMBERS staff WITHROLES

# ---------------------------------------------------------------------------
# The AOF without an RDB preamble: the rewrite (in a forked child) writes
# each chat key as CHAT.RESTORE-VALUE; the commands from here on append
# CHAT.AT, CHAT.SEND-RESOLVED, CHAT.SET-PASSWORD and CHAT.TRIM-RESOLVED,
# which DEBUG LOADAOF replays at the end.

section "AOF rewrite"
rewrite_done() {
    # A rewrite whose child valgrind failed (exit status 97) is retried
    # forever: stop at once.
    if [ "$(info persistence aof_last_bgrewrite_status)" = err ]; then
        fail "an AOF rewrite failed (an error in its forked child?)"
    fi
    [[ $(info persistence aof_rewrite_in_progress) == 0 &&
        $(info persistence aof_rewrite_scheduled) == 0 &&
        $(info persistence aof_enabled) == 1 ]]
}
expect "OK" CONFIG SET aof-use-rdb-preamble no
expect "OK" CONFIG SET appendonly yes # starts a rewrite
wait_for "the first AOF rewrite" rewrite_done
expect "Background append only file rewriting started" BGREWRITEAOF
wait_for "BGREWRITEAOF" rewrite_done
[ "$(info persistence aof_last_bgrewrite_status)" = ok ] || fail "BGREWRITEAOF failed; see redis.log"
grep -q "CHAT.RESTORE-VALUE" "$tmp"/appendonlydir/*.base.aof ||
    fail "the rewritten AOF has no CHAT.RESTORE-VALUE"

# ---------------------------------------------------------------------------
# Passwords: hashed and checked on a background thread.

section "passwords"
# Each hash or check costs Argon2id's 19 MiB and two passes: seconds under
# valgrind. So one of each kind, no more. Set after the AOF rewrite, the
# passwords reach the AOF as CHAT.SET-PASSWORD, which DEBUG LOADAOF replays.
expect "OK" CHAT.REGISTER dora "Dora" PASSWORD "open sesame"
expect "OK" CHAT.AUTH dora "open sesame"
expect "ERR invalid username or password" CHAT.AUTH dora "open barley"
expect "ERR invalid username or password" CHAT.AUTH nobody "open sesame"
expect "OK" CHAT.PASSWD dora "open sesame" "new sesame"
expect "ERR invalid username or password" CHAT.PASSWD dora "open sesame" "other"
expect "ERR password must be 1 to 1024 bytes" CHAT.REGISTER erin "Erin" PASSWORD ""
expect "ERR password must be 1 to 1024 bytes" CHAT.PASSWD dora "new sesame" "$(head -c 1025 /dev/zero | tr '\0' p)"
expect "ERR wrong number of arguments*" CHAT.AUTH dora
# A client that goes away while its password is being checked: the job
# finishes for a client that is gone.
in_background "$tmp/auth.out" CHAT.AUTH dora "new sesame"
sleep 0.3
kill "$last_pid" 2>/dev/null || true
wait "$last_pid" 2>/dev/null || true
jobs_done() { info_is chat chat_password_jobs_pending 0; }
wait_for "the password job of a client that went away" jobs_done

# ---------------------------------------------------------------------------
# Blocking fetches: one a send wakes, one that times out, one whose client
# goes away, one CLIENT UNBLOCK ends.

section "blocking fetches"
fetches_blocked() { info_is chat chat_blocked_fetches "$1"; }
expect "OK" CHAT.REGISTER erin "Erin"
expect "chat:user:{erin}:push" CHAT.SUBSCRIBE general erin
in_background "$tmp/woken.out" CHAT.FETCH erin BLOCK 60000
woken_pid=$last_pid
wait_for "CHAT.FETCH erin BLOCK to block" fetches_blocked 1
expect "6" CHAT.SEND general alice "Wake up, Erin"
wait "$woken_pid" || fail "the blocked CHAT.FETCH failed: $(cat "$tmp/woken.out")"
grep -q '"text":"Wake up, Erin"' "$tmp/woken.out" || fail "the blocked CHAT.FETCH got: $(cat "$tmp/woken.out")"
expect "OK" CHAT.REGISTER fred "Fred"
expect "" CHAT.FETCH fred BLOCK 200 # times out: an empty array
in_background "$tmp/gone.out" CHAT.FETCH fred BLOCK 0
wait_for "CHAT.FETCH fred BLOCK 0 to block" fetches_blocked 1
kill "$last_pid"
wait "$last_pid" 2>/dev/null || true
wait_for "the blocked client to go" fetches_blocked 0
in_background "$tmp/unblocked.out" CHAT.FETCH fred BLOCK 0
unblocked_pid=$last_pid
wait_for "CHAT.FETCH fred BLOCK 0 to block" fetches_blocked 1
run CLIENT LIST
client_id="$(sed -n 's/^id=\([0-9]*\) .* cmd=chat\.fetch .*/\1/p' <<<"$reply" | head -1)"
expect "1" CLIENT UNBLOCK "$client_id"
wait "$unblocked_pid" || true
wait_for "the unblocked client to return" fetches_blocked 0

# ---------------------------------------------------------------------------
# Live delivery: Bob's app listens on his push channel while he is online.

section "live delivery"
in_background "$tmp/bob-push.out" SUBSCRIBE "chat:user:{bob}:push"
listener_pid=$last_pid
listening() { [ "$(r PUBSUB NUMSUB "chat:user:{bob}:push" | tail -1)" = 1 ]; }
wait_for "Bob's listener" listening
expect "OK" CHAT.ONLINE bob TTL 60
expect "7" CHAT.SEND general alice "Live, Bob"
expect "OK" CHAT.TYPING general alice
expect "7" CHAT.READ general alice 7
expect "OK" CHAT.EDIT general alice 7 "Live, Bob!"
got_live() { grep -q '"type":"edit"' "$tmp/bob-push.out"; }
wait_for "Bob's live messages" got_live
grep -q '"text":"Live, Bob"' "$tmp/bob-push.out" || fail "Bob's app did not get the message live: $(cat "$tmp/bob-push.out")"
kill "$listener_pid"
wait "$listener_pid" 2>/dev/null || true
expect "OK" CHAT.OFFLINE bob

# ---------------------------------------------------------------------------
# Presence, devices and notifications: presence events on a user's presence
# channel (CHAT.ONLINE and CHAT.OFFLINE, with and without DEVICE, and a TTL
# that runs out, which the presence timer announces); CHAT.NOTIFY's
# settings; sends that record notifications for members who are away (one
# with notify all, a mention, a direct room, a mention in a broadcast room)
# in the stream chat:notify, read with XRANGE and a consumer group; a
# stream that cannot be written (a key of another type); chat.notify-max 0.
# The AOF is on: the XADDs reach it, and DEBUG LOADAOF replays them below.

section "presence, devices and notifications"
in_background "$tmp/fred-presence.out" SUBSCRIBE "chat:user:{fred}:presence"
presence_pid=$last_pid
presence_listening() { [ "$(r PUBSUB NUMSUB "chat:user:{fred}:presence" | tail -1)" = 1 ]; }
wait_for "Fred's presence listener" presence_listening
run CHAT.PROFILE fred
[[ $(field presence_channel) == "chat:user:{fred}:presence" && $(field notify) == mentions ]] ||
    fail "CHAT.PROFILE fred: $reply"
expect "OK" CHAT.ONLINE fred TTL 60 DEVICE phone # online: an event
expect "OK" CHAT.ONLINE fred TTL 60 DEVICE laptop
expect "OK" CHAT.ONLINE fred TTL 60 # the device ""
expect_has '"devices":{"":' CHAT.DUMP fred
expect "ERR invalid device id*" CHAT.ONLINE fred DEVICE "bad device"
expect "ERR invalid device id*" CHAT.OFFLINE fred DEVICE ""
expect "ERR invalid device id*" CHAT.ONLINE fred DEVICE "$(head -c 65 /dev/zero | tr '\0' d)"
expect "ERR syntax error*" CHAT.OFFLINE fred SOON
expect "ERR syntax error*" CHAT.ONLINE fred DEVICE
expect "ERR no such user" CHAT.ONLINE nobody DEVICE phone
expect "OK" CHAT.OFFLINE fred DEVICE phone
expect "OK" CHAT.OFFLINE fred DEVICE laptop
expect "OK" CHAT.OFFLINE fred DEVICE tablet # not online: nothing changes
run CHAT.PROFILE fred
[ "$(field online)" = 1 ] || fail "fred went offline with the device \"\" still online: $reply"
expect "OK" CHAT.OFFLINE fred # every device: an event
run CHAT.PROFILE fred
[ "$(field online)" = 0 ] || fail "fred is still online after CHAT.OFFLINE: $reply"
# A TTL that runs out: the presence timer (every 250 ms) announces it.
expect "OK" CHAT.ONLINE fred TTL 1 DEVICE tab
sleep 2
got_presence_events() { [ "$(grep -c '"type":"presence"' "$tmp/fred-presence.out")" -ge 4 ]; }
wait_for "Fred's presence events" got_presence_events
[ "$(grep -c '"online":true' "$tmp/fred-presence.out")" = 2 ] &&
    [ "$(grep -c '"online":false,"until":null' "$tmp/fred-presence.out")" = 2 ] ||
    fail "Fred's presence events: $(cat "$tmp/fred-presence.out")"
kill "$presence_pid"
wait "$presence_pid" 2>/dev/null || true
# More devices than a user keeps: the ones ending first go. Yan stays
# online with devices through the reloads below.
batch < <(for ((n = 1; n <= 18; n++)); do echo "CHAT.ONLINE yan TTL $((3000 + n)) DEVICE d$n"; done)
run CHAT.DUMP yan
[[ $reply == *'"d18":'* && $reply != *'"d1":'* && $reply != *'"d2":'* ]] || fail "yan's devices: $reply"
for key in yan; do
    run DEBUG DIGEST-VALUE "$key"
    digest="$reply"
    commands=$((commands + 1))
    r --raw DUMP "$key" >"$tmp/payload"
    truncate -s -1 "$tmp/payload" # redis-cli's newline
    expect "1" DEL "$key"
    commands=$((commands + 1))
    restored="$(r -x RESTORE "$key" 0 <"$tmp/payload" 2>&1)"
    [ "$restored" = OK ] || fail "RESTORE $key: $restored"
    expect "$digest" DEBUG DIGEST-VALUE "$key"
done

expect "OK" CHAT.NOTIFY erin all
expect "OK" CHAT.NOTIFY bob MENTIONS
expect "OK" CHAT.NOTIFY fred none
expect "ERR notify must be all, mentions or none" CHAT.NOTIFY erin some
expect "ERR no such user" CHAT.NOTIFY nobody all
expect "ERR wrong number of arguments*" CHAT.NOTIFY erin
run CHAT.PROFILE erin
[ "$(field notify)" = all ] || fail "CHAT.PROFILE erin after CHAT.NOTIFY: $reply"
expect_has '"notify":"none"' CHAT.DUMP fred
batch <<'EOF'
CHAT.SUBSCRIBE talk erin
CHAT.SUBSCRIBE talk fred
EOF
expect_has "chat:user:{erin}:presence" CHAT.CHANNELS bob PRESENCE
[[ $reply == $'SUBSCRIBE\nchat:user:{bob}:push\nchat:user:{alice}:presence\n'* && $reply != *"{bob}:presence"* ]] ||
    fail "CHAT.CHANNELS bob PRESENCE: $reply"
expect "ERR syntax error*" CHAT.CHANNELS bob PRESENCE AGAIN
# A key of another type where the stream should be: the send goes on, the
# notification is counted as a failure.
failures_before="$(info chat chat_notification_failures)"
expect "OK" SET chat:notify "not a stream"
expect "5" CHAT.SEND talk alice "Nobody is notified"
[ "$(info chat chat_notification_failures)" -gt "$failures_before" ] || fail "chat_notification_failures did not count"
expect "1" DEL chat:notify
# Away: bob (mentions: the mention), erin (all: the message), fred (none).
# One entry per message, naming each member notified. One node per entry,
# so that the trim below drops whole nodes.
notifications_before="$(info chat chat_notifications)"
entries_before="$(info chat chat_notification_entries)"
expect "OK" CONFIG SET stream-node-max-entries 1
expect "6" CHAT.SEND talk alice "Lunch, everyone?" MENTION bob
expect "2" CHAT.SEND dm:5:alice:bob alice "Are you coming?" # direct: bob
expect "OK" CONFIG SET chat.notify-max 0
expect "7" CHAT.SEND talk alice "Not recorded"
expect "OK" CONFIG SET chat.notify-max 100000
# A broadcast room: only the members mentioned, if away.
expect "OK" CHAT.CREATE hall "Hall"
batch <<'EOF'
CHAT.SUBSCRIBE hall alice
CHAT.SUBSCRIBE hall bob
CHAT.SUBSCRIBE hall erin
CONFIG SET chat.fanout-max-members 2
EOF
expect "1" CHAT.SEND hall alice "Erin, a word?" MENTION erin
expect "2" CHAT.SEND hall alice "To the hall" # erin has all, but a broadcast room
expect "OK" CONFIG SET chat.fanout-max-members 500
[ "$(info chat chat_notifications)" = $((notifications_before + 4)) ] ||
    fail "chat_notifications: $(info chat chat_notifications), wanted $((notifications_before + 4))"
[ "$(info chat chat_notification_entries)" = $((entries_before + 3)) ] ||
    fail "chat_notification_entries: $(info chat chat_notification_entries), wanted $((entries_before + 3))"
expect "3" XLEN chat:notify
run XRANGE chat:notify - +
[[ $reply == *$'room\ntalk\nid\n6\nsender\nalice\nts\n'[0-9]*$'\ntext\nLunch, everyone?\nto\n{"bob":"mention","erin":"message"}'* &&
    $reply == *$'room\ndm:5:alice:bob\nid\n2\n'*$'\nto\n{"bob":"direct"}'* &&
    $reply == *$'room\nhall\nid\n1\n'*$'\nto\n{"erin":"mention"}'* &&
    $reply != *fred* ]] || fail "XRANGE chat:notify: $reply"
# A worker's consumer group: read, acknowledge.
expect "OK" XGROUP CREATE chat:notify workers 0
expect_has "Lunch, everyone?" XREADGROUP GROUP workers w1 COUNT 10 STREAMS chat:notify ">"
mapfile -t entry_ids < <(r XRANGE chat:notify - + | grep -E '^[0-9]+-[0-9]+$')
expect "3" XACK chat:notify workers "${entry_ids[@]}"
# The bound: the next entry trims the stream to its newest node.
expect "OK" CONFIG SET chat.notify-max 1
expect "8" CHAT.SEND talk alice "Trimmed to one" MENTION bob
expect "1" XLEN chat:notify
expect_has "Trimmed to one" XRANGE chat:notify - +
expect "OK" CONFIG SET chat.notify-max 100000
expect "OK" CONFIG SET stream-node-max-entries 100
# An eviction policy that may evict chat keys is warned about when set.
expect "OK" CONFIG SET maxmemory-policy allkeys-lru
grep -q "maxmemory-policy is allkeys-lru:" "$tmp/redis.log" || fail "no warning for allkeys-lru in the log"
expect "OK" CONFIG SET maxmemory-policy noeviction
expect "OK" CHAT.NOTIFY erin mentions

# ---------------------------------------------------------------------------
# Fan-out and broadcast rooms: with chat.fanout-max-members 3, the fourth
# member makes a room of five a broadcast room; two leaving make it fan
# out again.

section "fan-out and broadcast rooms"
expect "OK" CONFIG SET chat.fanout-max-members 3
batch <<'EOF'
CHAT.REGISTER u1 "User 1"
CHAT.REGISTER u2 "User 2"
CHAT.REGISTER u3 "User 3"
CHAT.REGISTER u4 "User 4"
CHAT.REGISTER u5 "User 5"
CHAT.CREATE five "Five"
CHAT.SUBSCRIBE five u1
CHAT.SUBSCRIBE five u2
CHAT.SUBSCRIBE five u3
EOF
expect $'SUBSCRIBE\nchat:user:{u4}:push\nchat:room:{five}:push' CHAT.SUBSCRIBE five u4
expect $'SUBSCRIBE\nchat:user:{u5}:push\nchat:room:{five}:push' CHAT.SUBSCRIBE five u5
run CHAT.INFO five
[ "$(field mode)" = broadcast ] || fail "a room of five is not a broadcast room: $reply"
expect "1" CHAT.SEND five u1 "To everyone"
expect "OK" CHAT.EDIT five u1 1 "To everyone!"
expect "" CHAT.FETCH u2 # a broadcast room writes no copies
expect $'five\n1' CHAT.UNREAD u2
expect $'SUBSCRIBE\nchat:user:{u2}:push\nchat:room:{five}:push' CHAT.CHANNELS u2
expect "OK" CHAT.TYPING five u2
expect "1" CHAT.READ five u2 1
expect "1" CHAT.UNSUBSCRIBE five u5
expect "0" CHAT.UNSUBSCRIBE five u5
expect "0" CHAT.UNSUBSCRIBE nowhere u5
expect "1" CHAT.UNSUBSCRIBE five u4
run CHAT.INFO five WITHREAD
[ "$(field mode)" = fanout ] || fail "a room of three is not a fan-out room: $reply"
expect "2" CHAT.SEND five u1 "Back to fan-out"
expect_has '"text":"Back to fan-out"' CHAT.FETCH u2
expect "OK" CHAT.DELETE five u1 2
expect_has '"deleted":true' CHAT.FETCH u2
expect "OK" CONFIG SET chat.fanout-max-members 500

# ---------------------------------------------------------------------------
# History and inbox trimming: small limits, then many sends of 100 bytes
# (a history drops whole chunks of up to 4 KB, an inbox of up to 2 KB).

section "history and inbox trimming"
expect "OK" CONFIG SET chat.history-max 5
expect "OK" CONFIG SET chat.inbox-max 5
drops_before="$(info chat chat_inbox_drops)"
text="$(head -c 100 /dev/zero | tr '\0' m)"
batch < <(
    echo 'CHAT.CREATE busy "Busy"'
    echo 'CHAT.SUBSCRIBE busy u1'
    echo 'CHAT.SUBSCRIBE busy u3' # offline: gets inbox copies
    for ((n = 1; n <= 300; n++)); do
        echo "CHAT.SEND busy u1 \"$n $text\" DEDUP d-$n"
    done
)
run CHAT.INFO busy
messages="$(field messages)"
[[ $(field last_id) == 300 && $messages -ge 5 && $messages -lt 300 ]] ||
    fail "the history of busy was not trimmed: $reply"
run CHAT.FETCH u3 COUNT 1000
copies="$(grep -c '"room":"busy"' <<<"$reply")"
[[ $copies -ge 5 && $copies -lt 300 ]] || fail "u3's inbox was not trimmed: $copies copies"
delivery="$(sed -n 's/.*"delivery":"\([^"]*\)".*/\1/p' <<<"$reply" | tail -1)"
[ "$(info chat chat_inbox_drops)" -gt "$drops_before" ] || fail "chat_inbox_drops did not grow"
expect "$copies" CHAT.ACK u3 "$delivery"
expect "300" CHAT.SEND busy u1 "again" DEDUP d-300 # remembered, though trimmed
expect "OK" CONFIG SET chat.history-max 10000
expect "OK" CONFIG SET chat.inbox-max 1000

# ---------------------------------------------------------------------------
# The age sweep: with chat.history-max-age 1, a room's messages leave its
# history within about a second, with no send to the room (the sweep runs
# ten times a second); a send trims too.

section "age sweep"
expect "OK" CHAT.CREATE aging "Aging"
expect "chat:user:{u1}:push" CHAT.SUBSCRIBE aging u1
expect "chat:user:{u2}:push" CHAT.SUBSCRIBE aging u2
expect "1" CHAT.SEND aging u1 "Old news"
expect "2" CHAT.SEND aging u2 "Older news"
expect "OK" CONFIG SET chat.history-max-age 1
sleep 2
history_empty() { [ -z "$(r CHAT.HISTORY aging)" ]; }
wait_for "the age sweep to empty the history of aging" history_empty
expect "3" CHAT.SEND five u1 "After the sweep"
expect "OK" CONFIG SET chat.history-max-age 0
expect "3" CHAT.SEND aging u1 "New news"
expect_has '"text":"New news"' CHAT.HISTORY aging

# ---------------------------------------------------------------------------
# Removing rooms and users.

section "removing rooms and users"
expect "OK" CHAT.DROP dm:5:alice:bob
expect "ERR no such room" CHAT.DROP dm:5:alice:bob
expect "" CHAT.INFO dm:5:alice:bob
expect_has '"room":"dm:5:alice:bob"' CHAT.FETCH bob # copies stay until acknowledged
expect "chat:user:{carol}:push" CHAT.SUBSCRIBE general carol
expect "8" CHAT.SEND general carol "Thanks, bye!"
expect "OK" CHAT.UNREGISTER carol
expect "ERR no such user" CHAT.UNREGISTER carol
expect "" CHAT.PROFILE carol
expect_has '"sender":"carol"' CHAT.HISTORY general COUNT 1
expect "OK" CHAT.UNREGISTER u5
expect "OK" CHAT.CREATE doomed "Doomed"
expect "1" DEL doomed
missing_before="$(info chat chat_missing_recipients)"
expect "1" DEL u3 # a member's key deleted by hand: a send finds it missing
expect "4" CHAT.SEND five u1 "Where is u3?"
[ "$(info chat chat_missing_recipients)" -gt "$missing_before" ] || fail "a send did not count u3 missing"
expect "1" UNLINK plain

# ---------------------------------------------------------------------------
# Moderation after the AOF rewrites, which wrote the moderated room and the
# invited user as CHAT.RESTORE-VALUE: the commands since reach the AOF as
# CHAT.AT, with the primary's time, which DEBUG LOADAOF replays below.

section "moderation in the AOF"
grep -q "staff" "$tmp"/appendonlydir/*.base.aof || fail "the rewritten AOF has no room staff"
expect "1" CHAT.UNBAN staff ann yan
expect "1" CHAT.INVITE staff ben yan
expect "chat:user:{yan}:push" CHAT.SUBSCRIBE staff yan
expect "1" CHAT.ROLE staff ann yan admin
expect "OK" CHAT.SLOWMODE staff ben 10
expect "OK" CHAT.MUTE staff ann ben SECONDS 60
expect "1" CHAT.UNMUTE staff ann ben
expect "OK" CHAT.KICK staff ann yan
expect "OK" CHAT.BAN staff ann yan SECONDS 30
expect "7" CHAT.SEND staff ann "After the rewrite"
grep -q "CHAT.ROLE" "$tmp"/appendonlydir/*.incr.aof || fail "the AOF has no CHAT.ROLE"
grep -q "CHAT.AT" "$tmp"/appendonlydir/*.incr.aof || fail "the AOF has no CHAT.AT"

# ---------------------------------------------------------------------------
# Room epochs: the replies that carry one, a promotion (REPLICAOF a port
# nobody answers, then NO ONE) that gives the next send a new epoch and a
# reset, CHAT.EPOCH and CHAT.GENERATION in the AOF, and the generation as
# the room type's auxiliary RDB data (saved and loaded by DEBUG RELOAD
# below).

section "epochs"
expect "OK" CHAT.CREATE epochs "Epochs"
expect "chat:user:{alice}:push" CHAT.SUBSCRIBE epochs alice
expect "1" CHAT.SEND epochs alice "Before"
run CHAT.SUBSCRIBE epochs bob WITHEPOCH
old_epoch="$(field epoch)"
[[ $old_epoch =~ ^[0-9a-f]{16}$ ]] || fail "CHAT.SUBSCRIBE ... WITHEPOCH: no epoch in '$reply'"
expect_has "$old_epoch" CHAT.CHANNELS bob WITHEPOCHS PRESENCE
expect_has '"type":"reset"' CHAT.HISTORY epochs AFTER 5 EPOCH "$old_epoch"
expect_has '"text":"Before"' CHAT.THREAD epochs 1 AFTER 5
expect "ERR invalid EPOCH*" CHAT.HISTORY epochs EPOCH "not-an-epoch"
expect "ERR*" CHAT.EPOCH epochs 1 1
expect "ERR*" CHAT.GENERATION 1
dead_port="$(free_port)"
expect "OK" REPLICAOF 127.0.0.1 "$dead_port"
expect "OK" REPLICAOF NO ONE
expect "2" CHAT.SEND epochs alice "After the promotion"
run CHAT.INFO epochs
[ "$(field epoch)" != "$old_epoch" ] || fail "the promotion did not change the room's epoch"
expect_has '"last_id":2' CHAT.HISTORY epochs AFTER 1 EPOCH "$old_epoch"
aof_has_epochs() { grep -q "CHAT.GENERATION" "$tmp"/appendonlydir/*.incr.aof && grep -q "CHAT.EPOCH" "$tmp"/appendonlydir/*.incr.aof; }
wait_for "CHAT.GENERATION and CHAT.EPOCH in the AOF" aof_has_epochs

# ---------------------------------------------------------------------------
# DEBUG RELOAD saves an RDB and loads it back (rdb_save and rdb_load of
# every key); DEBUG LOADAOF replays the AOF: the rewrite's
# CHAT.RESTORE-VALUE and everything written since. Both must give back the
# same data.

section "DEBUG RELOAD and DEBUG LOADAOF"
run DEBUG DIGEST
digest="$reply"
expect "OK" DEBUG RELOAD
expect "$digest" DEBUG DIGEST
grep -q "CHAT.SEND-RESOLVED" "$tmp"/appendonlydir/*.incr.aof || fail "the AOF has no CHAT.SEND-RESOLVED"
grep -q "CHAT.SET-PASSWORD" "$tmp"/appendonlydir/*.incr.aof || fail "the AOF has no CHAT.SET-PASSWORD"
grep -q "CHAT.TRIM-RESOLVED" "$tmp"/appendonlydir/*.incr.aof || fail "the AOF has no CHAT.TRIM-RESOLVED"
expect "OK" DEBUG LOADAOF
expect "$digest" DEBUG DIGEST
expect "OK" CHAT.AUTH dora "new sesame" # its hash came from CHAT.SET-PASSWORD
expect "4" CHAT.SEND aging u2 "After the reload" # the data still works

# ---------------------------------------------------------------------------
# Lazy free: UNLINK of a room whose free effort (chunks + people + 4) is
# above 64 frees it on Redis's lazy-free thread.

section "lazy free"
batch < <(
    echo 'CHAT.CREATE crowd "Crowd"'
    for ((n = 1; n <= 80; n++)); do
        echo "CHAT.REGISTER m$n \"Member $n\""
        echo "CHAT.SUBSCRIBE crowd m$n"
    done
    echo 'CHAT.SEND crowd m1 "Hello, crowd"'
)
freed_before="$(info memory lazyfreed_objects)"
expect "[1-9]*" MEMORY USAGE crowd
expect "1" UNLINK crowd
lazily_freed() { [ "$(info memory lazyfreed_objects)" -gt "$freed_before" ]; }
wait_for "the lazy free of crowd" lazily_freed
expect "" CHAT.INFO crowd
expect_has '"room":"crowd"' CHAT.FETCH m2 # its copies stay

# ---------------------------------------------------------------------------
# Every CHAT.* command the module registers has run (INFO commandstats
# counts a call or a rejected call), so that a new command is not left out.

section "coverage and FLUSHALL"
if [ -n "$(r COMMAND INFO chat.debug-panic | head -1)" ]; then # debug builds only
    expect "ERR*" CHAT.DEBUG-PANIC
fi
run INFO commandstats
stats="$reply"
run COMMAND LIST FILTERBY MODULE chat
[ "$(wc -l <<<"$reply")" -ge 28 ] || fail "the module registers only these commands: $reply"
for name in $reply; do
    grep -q "^cmdstat_$name:" <<<"$stats" || fail "scripts/memcheck does not run $name: add it"
done

# Free everything before the leak check: a value that leaks part of itself
# when freed shows as definitely lost. FLUSHALL ASYNC frees each value on
# the lazy-free thread.
expect "OK" FLUSHALL ASYNC
flushed() { info_is memory lazyfree_pending_objects 0 && [ "$(r DBSIZE)" = 0 ]; }
wait_for "FLUSHALL ASYNC" flushed

