"""The reliability campaign: a small distributed deployment of autoinfra, broken on purpose.

``autoinfra chaos-test`` starts nats-server and etcd, a proposer (approval queue and audit chain),
two executors (leased, fenced, journalled in etcd) and a learner (durable consumer of outcomes),
each a separate process; then kills them with SIGKILL one at a time at random moments, takes NATS
and etcd down and brings them back, and jumps a process's wall clock; and at the end counts what
was lost or done twice.
"""
