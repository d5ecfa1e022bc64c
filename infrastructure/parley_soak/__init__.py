"""`python -m parley_soak`: a soak of real WebSocket users under injected faults.

N simulated users send direct and group messages at a given rate for a given time,
against the local cloud (started with a fault profile, or a running `make dev`). Each
client behaves as the protocol says (wait for the ack; on 2001, a timeout or a lost
socket, send again with the same clientMsgId; reconnect, then sync). At the end every
user syncs from zero and :func:`parley_soak.checker.check` holds the run to Parley's
guarantees: every acked message stored exactly once at its acked seq, seqs 1..N in
every conversation, nothing given up, everything delivered live or by sync to every
member, and every dead-letter item accounted for.
"""
