"""Several instances, one voice (PostgreSQL): membership, the leader lease, quorum across
vantages and probes shared out. `logic` is pure; `vantage` steps this instance's own probes;
`node` runs the loops."""
