"""Where the server is and how to talk to it: the official ``kubernetes`` loader's work.

`load` fills a ``kubernetes.client.Configuration`` from ``--server`` (and a
token), from a kubeconfig (``kubernetes.config.load_kube_config``: contexts,
CA, client certificates, tokens, exec and auth-provider plugins) or from the
pod's service account (``load_incluster_config``). Every transport starts
from that Configuration: the official client uses it as it is; the green and
httpx transports take its host, `ssl_context` and `authorization` from it.

Certificates given inline in a kubeconfig (``certificate-authority-data``,
``client-certificate-data``, ``client-key-data``) are written to temporary
files by the official loader itself (it hands file paths to urllib3); this
module writes none.
"""

from __future__ import annotations

import ssl

from kubernetes import client as k8s
from kubernetes import config as k8s_config

Configuration = k8s.Configuration


def load(
    server: str | None = None,
    token: str | None = None,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool = False,
) -> Configuration:
    """The Configuration for ``server`` (with an optional bearer ``token``), else the
    pod's service account (``in_cluster``), else the ``kubeconfig`` file's
    ``context`` (default ``$KUBECONFIG``, then ``~/.kube/config``)."""
    cfg = Configuration()
    if server:
        cfg.host = server.rstrip("/")
        if token:
            cfg.api_key = {"BearerToken": token}
            cfg.api_key_prefix = {"BearerToken": "Bearer"}
    elif in_cluster:
        k8s_config.load_incluster_config(client_configuration=cfg)
    else:
        k8s_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=cfg
        )
    return cfg


def authorization(cfg: Configuration) -> str | None:
    """The ``Authorization`` header's value, if any (the loader's hook refreshes an
    expiring token: an exec plugin's, or the service account's rotated file)."""
    value: str | None = cfg.auth_settings().get("BearerToken", {}).get("value")
    return value


def ssl_context(cfg: Configuration) -> ssl.SSLContext | None:
    """An ``SSLContext`` for an ``https`` host as the Configuration says (None for
    ``http``): the CA (file or data; else the system's), verification or
    ``insecure-skip-tls-verify``, the client certificate and key."""
    if not cfg.host.startswith("https:"):
        return None
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert, cadata=_text(cfg.ca_cert_data))
    if not cfg.verify_ssl:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.assert_hostname is False:
        ctx.check_hostname = False
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    return ctx


def server_hostname(cfg: Configuration, host: str) -> str:
    """The name the server's certificate must carry: ``tls-server-name``, else ``host``."""
    name: str | None = cfg.tls_server_name or (
        cfg.assert_hostname if isinstance(cfg.assert_hostname, str) else None
    )
    return name or host


def _text(data: str | bytes | None) -> str | None:
    return data.decode() if isinstance(data, bytes) else data


__all__ = ["Configuration", "authorization", "load", "server_hostname", "ssl_context"]
