"""The processes scripts/bench_compare.py runs, and what they share.

`imagezmq_star` and `seed_server` are the two star-shaped baselines; `streamnest_peers`
runs StreamNest's own peers the same way (it is not a baseline). `workload` holds the
frames every source sends and the small stdin/stdout protocol every benchmark process
speaks; `probes` reads CPU time and TCP bytes sent from the kernel. Nothing here is part
of StreamNest itself.
"""
