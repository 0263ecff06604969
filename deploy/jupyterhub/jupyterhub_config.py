"""JupyterHub configuration for a class of TPM Skills Lab on one server (deploy/jupyterhub/README.md).

Run from the hub's state folder (its database, cookie secret and the class roster live there):

    cd /srv/jupyterhub && sudo /opt/tpm-skills-lab/.venv/bin/jupyterhub -f /opt/tpm-skills-lab/deploy/jupyterhub/jupyterhub_config.py

Local Unix accounts log in with their passwords (PAM); each gets a JupyterLab started as that
account from the course's environment, with its role's tools (tpmlab.hub). Settings that differ
between machines come from the environment:

- TPMLAB_HUB_ROSTER: the class roster, a CSV `username,role` (default: roster.csv here);
- TPMLAB_EXCHANGE: nbgrader's exchange folder (default /srv/nbgrader/exchange);
- TPMLAB_HUB_BIND_URL: where learners connect (default http://:8000, all interfaces);
- TPMLAB_HUB_INTERNAL_URL, TPMLAB_HUB_PROXY_API_URL: the hub's and the proxy's own ports on
  localhost (defaults 8081 and 8001, JupyterHub's).
"""

import os

from tpmlab.hub import DEFAULT_EXCHANGE, configure

c = get_config()  # noqa: F821 - provided by traitlets when JupyterHub loads this file

configure(
    c,
    roster=os.environ.get("TPMLAB_HUB_ROSTER", "roster.csv"),
    exchange=os.environ.get("TPMLAB_EXCHANGE", DEFAULT_EXCHANGE),
)
c.JupyterHub.bind_url = os.environ.get("TPMLAB_HUB_BIND_URL", "http://:8000")
c.JupyterHub.hub_bind_url = os.environ.get("TPMLAB_HUB_INTERNAL_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = os.environ.get(
    "TPMLAB_HUB_PROXY_API_URL", "http://127.0.0.1:8001"
)
