"""``opsengine demo``: the main job with a simulated fleet that fills the dashboard.

``endpoints`` runs the fleet's real network services on 127.0.0.1 (a shop HTTP endpoint
that goes down and recovers, a TLS endpoint whose self-signed certificate expires in a
few days) that the engine's probes check; ``fleet`` simulates about 20 hosts in 4 services
sending their metrics and logs through the engine's real ingest paths (the HTTP ingest
endpoints and syslog), with the scenarios an operator meets: a CPU saturation, a disk
filling up, a service outage with recovery, an SSH brute force and a certificate near
expiry; ``main`` puts them together around ``opsengine.run.run``.
"""
