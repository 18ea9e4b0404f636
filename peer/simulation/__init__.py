"""Local multi-peer simulations: a real tracker, a real source and many real viewers.

`orchestrator` runs the show (processes, churn, progress, report); `worker` runs many
viewers in one trio process; `processes` starts the children and talks to them in JSON
lines; `placement` says which worker runs each viewer and which viewers decode; `churn`
plans the events; `report` turns what the workers measured into the numbers of the
report; `plot` draws them.
"""
